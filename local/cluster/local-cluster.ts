/**
 * A Kubernetes cluster on one machine, as far as Streamfleet needs one: objects applied, read and deleted
 * (server-side apply emulated per field manager), Streamfleet consumer Deployments run as worker processes
 * (`node dist/consumer.js` with the Deployment's env, INSTANCE_NAME = pod name), and KEDA emulated with the
 * same replica arithmetic as core/keda.ts: a scaler loop per ScaledObject that reads the trigger's metric
 * (DescribeStream's shard count, or the local CloudWatch stand-in's UnfinishedShards), decides with
 * `kedaReplicas`, and starts or SIGTERMs workers.
 *
 * Like on EKS, every process signs its AWS calls as a role session (local/identities): a pod as the IRSA role
 * its ServiceAccount names, the local KEDA as its operator's role — read when the operator starts, so a rollout
 * restart is needed after annotating it — or, for a trigger whose TriggerAuthentication names a
 * `podIdentity.roleArn`, as that role, which the operator's role must be allowed to assume and whose trust
 * policy must name the operator's role (checked here, as STS would). With the strict layer in front, its
 * `iam` rule judges each call against the role's policies in the local IAM. The state lives in this object,
 * owned by the long-lived local runtime, and is registered by name so Lambda-style handlers reach it through
 * the `Cluster` port.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import {
  type Cluster,
  type ClusterInfo,
  KEDA_API_VERSION,
  type ManifestObject,
  type ObjectRef,
  type PodStatus,
  type RolloutStatus,
  type RolloutWait,
  registerLocalCluster,
  type ScaleStatus,
} from '../../core/cluster.js';
import { KubernetesApiError, PreconditionError } from '../../core/errors.js';
import type { LocalMetricsSink } from '../../core/fleet-metrics.js';
import type { LocalIam } from '../../core/iam.js';
import {
  accessDeniedMessage,
  assumedRoleArn,
  Decision,
  evaluatePolicies,
  trustAllows,
} from '../../core/iam-evaluation.js';
import { kedaReplicas, type Recommendation, scalingConfig } from '../../core/keda.js';
import { IRSA_ROLE_ANNOTATION } from '../../core/manifests.js';
import { localServices } from '../../core/ports.js';
import { freePort } from '../dynamodb-local.js';
import { LocalRoleSessions, namedPolicies } from '../identities/role-sessions.js';
import { type LocalSts, localStsAt, type SessionCredentials } from '../identities/sts.js';
import { type LaunchedWorker, ProcessLauncher, type WorkerLauncher } from './launcher.js';

export interface LocalClusterOptions {
  name: string;
  /** DynamoDB Local, which the workers and the local KEDA use. */
  dynamodbEndpoint: string;
  /** The SDK region for the local KEDA. Default us-east-1. */
  region?: string;
  /** Whether KEDA is installed (its CRDs served, its operator present). Default true. */
  keda?: boolean;
  /** Overrides every ScaledObject's pollingInterval (seconds) with this many milliseconds. */
  pollingIntervalMs?: number;
  /** How often pods are probed for readiness. Default 500 ms. */
  readinessIntervalMs?: number;
  /** Pause before a crashed worker is started again. Default 1 s. */
  restartBackoffMs?: number;
  /** Variables added to every worker after the Deployment's own (like a node's injected settings). */
  workerEnv?: Record<string, string>;
  /** Where to write a JSON snapshot of the cluster after each change, for people and tools to read. */
  stateFile?: string;
  launcher?: WorkerLauncher;
  iam?: LocalIam;
  /**
   * Hands out role-session credentials to pods and the local KEDA. Default: registered with the strict layer
   * at `dynamodbEndpoint` when one answers there, else the unchecked dummy credentials.
   */
  sts?: LocalSts;
  metrics?: LocalMetricsSink;
  /** Register under `name` for the handlers (default true). */
  register?: boolean;
  /** Where the cluster's own events go (scaling decisions, crashes). */
  log?: (line: string) => void;
}

const KEDA_SEED = {
  namespace: 'keda',
  serviceAccountName: 'keda-operator',
  deploymentName: 'keda-operator',
} as const;
const MANAGED_BY_STREAMFLEET = 'streamfleet';

interface StoredObject {
  /** What exists apart from our applies (seeded objects, or empty for objects we created). */
  base: ManifestObject | undefined;
  /** Our last server-side apply (field manager streamfleet). */
  applied: ManifestObject | undefined;
  status: Record<string, unknown>;
}

interface Pod {
  name: string;
  port: number;
  worker: LaunchedWorker;
  ready: boolean;
  restarts: number;
  stopping: boolean;
  templateHash: string;
  /** The pod's IRSA session, issued when the pod starts and kept across restarts of its container. */
  credentials: SessionCredentials | undefined;
}

interface Workload {
  namespace: string;
  name: string;
  desired: number;
  pods: Pod[];
  templateHash: string;
  failure: string | undefined;
}

interface Scaler {
  key: string;
  timer: NodeJS.Timeout | undefined;
  history: Recommendation[];
  lastActiveAtMs: number | undefined;
  ready: boolean;
  active: boolean;
  message: string | undefined;
  lastDecision: number | undefined;
  ticking: boolean;
}

function keyOf(ref: ObjectRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Our applied fields on top of the base: what server-side apply leaves when one manager owns them. */
function merge(base: unknown, applied: unknown): unknown {
  if (isObject(base) && isObject(applied)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(applied)) out[k] = merge(base[k], v);
    return out;
  }
  return applied === undefined ? base : applied;
}

function notFound(ref: ObjectRef): KubernetesApiError {
  return new KubernetesApiError('PATCH', keyOf(ref), 404, {
    kind: 'Status',
    status: 'Failure',
    reason: 'NotFound',
    message: 'the server could not find the requested resource',
    code: 404,
  });
}

export class LocalCluster implements Cluster {
  readonly name: string;
  private readonly objects = new Map<string, StoredObject>();
  private readonly workloads = new Map<string, Workload>();
  private readonly scalers = new Map<string, Scaler>();
  private readonly launcher: WorkerLauncher;
  private readonly iam: LocalIam;
  private readonly metrics: LocalMetricsSink;
  private readonly sessions: Promise<LocalRoleSessions>;
  /** The sts:AssumeRole calls the local KEDA made, by caller role, action and target role (as the layer counts). */
  private readonly assumed: Record<string, Record<string, Record<string, number>>> = {};
  /** The local KEDA's AWS clients, one pair per role session it uses. */
  private readonly kedaClients = new Map<
    string,
    { dynamodb: DynamoDBClient; streams: DynamoDBStreamsClient }
  >();
  private readonly readinessTimer: NodeJS.Timeout;
  private readonly unregister: () => void;
  /** The IRSA role the KEDA operator started with (the webhook injects it at pod start). */
  private kedaOperatorRole: string | undefined;
  private stopped = false;
  readonly events: string[] = [];

  constructor(private readonly options: LocalClusterOptions) {
    this.name = options.name;
    this.launcher = options.launcher ?? new ProcessLauncher();
    this.iam = options.iam ?? localServices.iam;
    this.metrics = options.metrics ?? localServices.metrics;
    this.sessions = (options.sts ? Promise.resolve(options.sts) : localStsAt(options.dynamodbEndpoint)).then(
      (sts) => new LocalRoleSessions(this.iam, sts),
    );
    if (options.keda ?? true) this.seedKeda();
    this.readinessTimer = setInterval(() => void this.probeAll(), options.readinessIntervalMs ?? 500);
    this.readinessTimer.unref();
    this.unregister = options.register === false ? () => {} : registerLocalCluster(this);
  }

  private event(line: string): void {
    const stamped = `${new Date().toISOString()} ${line}`;
    this.events.push(stamped);
    if (this.events.length > 500) this.events.shift();
    this.options.log?.(stamped);
  }

  private seedKeda(): void {
    const labels = {
      'app.kubernetes.io/name': 'keda-operator',
      'app.kubernetes.io/part-of': 'keda-operator',
    };
    const seed = (manifest: ManifestObject) =>
      this.objects.set(
        keyOf({ ...manifest.metadata, apiVersion: manifest.apiVersion, kind: manifest.kind }),
        {
          base: manifest,
          applied: undefined,
          status: {},
        },
      );
    seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: KEDA_SEED.namespace } });
    seed({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: KEDA_SEED.serviceAccountName, namespace: KEDA_SEED.namespace, labels },
    });
    seed({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: KEDA_SEED.deploymentName, namespace: KEDA_SEED.namespace, labels },
      spec: {
        replicas: 1,
        template: { metadata: { labels }, spec: { serviceAccountName: KEDA_SEED.serviceAccountName } },
      },
    });
  }

  private kedaInstalled(): boolean {
    return this.options.keda ?? true;
  }

  async info(): Promise<ClusterInfo> {
    return {
      name: this.name,
      kind: 'local',
      oidcIssuerUrl: `https://oidc.streamfleet.local/id/${this.name}`,
      version: 'local',
    };
  }

  async servesApi(apiVersion: string): Promise<boolean> {
    if (apiVersion === KEDA_API_VERSION) return this.kedaInstalled();
    // policy/v1: PodDisruptionBudgets are stored and read back; nothing is evicted here, so they change nothing.
    return ['v1', 'apps/v1', 'autoscaling/v2', 'policy/v1'].includes(apiVersion);
  }

  private read(ref: ObjectRef): ManifestObject | undefined {
    const stored = this.objects.get(keyOf(ref));
    if (!stored) return undefined;
    const merged = merge(stored.base ?? {}, stored.applied ?? {}) as ManifestObject;
    return Object.keys(stored.status).length > 0
      ? { ...merged, status: structuredClone(stored.status) }
      : merged;
  }

  async apply(manifest: ManifestObject): Promise<ManifestObject> {
    if (this.stopped)
      throw new PreconditionError(`Local cluster ${this.name} has stopped.`, 'start it again.');
    const ref: ObjectRef = {
      apiVersion: manifest.apiVersion,
      kind: manifest.kind,
      name: manifest.metadata.name,
      ...(manifest.metadata.namespace === undefined ? {} : { namespace: manifest.metadata.namespace }),
    };
    if (manifest.apiVersion === KEDA_API_VERSION && !this.kedaInstalled()) throw notFound(ref);
    const key = keyOf(ref);
    const stored = this.objects.get(key) ?? { base: undefined, applied: undefined, status: {} };
    stored.applied = structuredClone(manifest);
    this.objects.set(key, stored);
    const result = this.read(ref) as ManifestObject;
    if (manifest.kind === 'Deployment' && manifest.apiVersion === 'apps/v1') this.onDeployment(result);
    if (manifest.kind === 'ScaledObject') this.onScaledObject(key, result);
    this.saveState();
    return result;
  }

  async get(ref: ObjectRef): Promise<ManifestObject | undefined> {
    if (ref.apiVersion === KEDA_API_VERSION && !this.kedaInstalled()) return undefined;
    const object = this.read(ref);
    if (object && ref.kind === 'Deployment') {
      const workload = this.workloads.get(keyOf(ref));
      if (workload) {
        const spec = (object.spec ?? {}) as Record<string, unknown>;
        return {
          ...object,
          spec: { ...spec, replicas: workload.desired },
          status: {
            replicas: workload.pods.length,
            readyReplicas: workload.pods.filter((p) => p.ready).length,
          },
        };
      }
    }
    return object;
  }

  /** The configuration Streamfleet's field manager last applied to an object, as it was sent. */
  appliedConfiguration(ref: ObjectRef): ManifestObject | undefined {
    const applied = this.objects.get(keyOf(ref))?.applied;
    return applied === undefined ? undefined : structuredClone(applied);
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    const key = keyOf(ref);
    if (!this.objects.has(key)) return false;
    this.objects.delete(key);
    const scaler = this.scalers.get(key);
    if (scaler) {
      clearInterval(scaler.timer);
      this.scalers.delete(key);
      this.event(`ScaledObject ${ref.namespace}/${ref.name} deleted: scaling stops`);
    }
    const workload = this.workloads.get(key);
    if (workload) {
      this.workloads.delete(key);
      await Promise.all(workload.pods.map((pod) => this.stopPod(workload, pod)));
      this.event(`Deployment ${ref.namespace}/${ref.name} deleted`);
    }
    this.saveState();
    return true;
  }

  async restartDeployment(namespace: string, name: string): Promise<void> {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name };
    const stored = this.objects.get(keyOf(ref));
    if (!stored)
      throw new KubernetesApiError('PATCH', keyOf(ref), 404, {
        reason: 'NotFound',
        message: `deployments.apps "${name}" not found`,
      });
    const annotation = { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() };
    stored.base = merge(stored.base ?? {}, {
      spec: { template: { metadata: { annotations: annotation } } },
    }) as ManifestObject;
    if (namespace === KEDA_SEED.namespace && name === KEDA_SEED.deploymentName) {
      const account = this.read({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        namespace,
        name: KEDA_SEED.serviceAccountName,
      });
      this.kedaOperatorRole = account?.metadata.annotations?.[IRSA_ROLE_ANNOTATION];
      this.event(`KEDA operator restarted with role ${this.kedaOperatorRole ?? '(none)'}`);
      for (const scaler of this.scalers.values()) void this.tick(scaler);
      return;
    }
    const merged = this.read(ref);
    if (merged) this.onDeployment(merged);
  }

  /**
   * The local counterpart of watching a rollout: this cluster's own state is in this process, so it is looked
   * at every readiness interval until every pod runs the current template and is ready. A Deployment that
   * runs nothing here (the seeded KEDA operator) is rolled out at once.
   */
  async waitForRollout(input: RolloutWait): Promise<RolloutStatus | undefined> {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: input.namespace, name: input.name };
    const deadline = Date.now() + input.timeoutMs;
    for (;;) {
      if (!this.objects.has(keyOf(ref))) return undefined;
      const status = this.rollout(this.workloads.get(keyOf(ref)));
      if (status.complete || Date.now() >= deadline || this.stopped) return status;
      await new Promise((resolve) => setTimeout(resolve, this.options.readinessIntervalMs ?? 500));
    }
  }

  private rollout(workload: Workload | undefined): RolloutStatus {
    const pods = (workload?.pods ?? []).filter((p) => !p.stopping);
    const desired = workload?.desired ?? 0;
    const updated = pods.filter((p) => p.templateHash === workload?.templateHash);
    const ready = updated.filter((p) => p.ready).length;
    const old = (workload?.pods.length ?? 0) - updated.length;
    const message =
      workload?.failure ??
      (updated.length < desired
        ? `${updated.length} of ${desired} replicas run the new template`
        : old > 0
          ? `${old} old replicas are still terminating`
          : ready < desired
            ? `${ready} of ${desired} updated replicas are available`
            : undefined);
    return {
      complete: message === undefined,
      stalled: false,
      desiredReplicas: desired,
      updatedReplicas: updated.length,
      readyReplicas: pods.filter((p) => p.ready).length,
      availableReplicas: ready,
      message: message ?? 'rolled out',
    };
  }

  async scaleStatus(input: {
    namespace: string;
    deploymentName: string;
    scaledObjectName: string;
  }): Promise<ScaleStatus> {
    const deploymentKey = keyOf({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: input.namespace,
      name: input.deploymentName,
    });
    const scalerKey = keyOf({
      apiVersion: KEDA_API_VERSION,
      kind: 'ScaledObject',
      namespace: input.namespace,
      name: input.scaledObjectName,
    });
    const workload = this.workloads.get(deploymentKey);
    const exists = this.objects.has(deploymentKey);
    const scaler = this.scalers.get(scalerKey);
    const pods: PodStatus[] = (workload?.pods ?? [])
      .filter((p) => !p.stopping)
      .map((p) => ({ name: p.name, ready: p.ready, restarts: p.restarts }));
    return {
      deployment: exists
        ? { desiredReplicas: workload?.desired ?? 0, readyReplicas: pods.filter((p) => p.ready).length }
        : undefined,
      scaledObject:
        scaler && this.objects.has(scalerKey)
          ? {
              ready: scaler.ready,
              active: scaler.active,
              ...(scaler.message ? { message: scaler.message } : {}),
              ...(scaler.lastDecision === undefined ? {} : { hpaDesiredReplicas: scaler.lastDecision }),
            }
          : undefined,
      pods,
    };
  }

  // --- Workloads ---------------------------------------------------------------------------------------

  private onDeployment(deployment: ManifestObject): void {
    if (deployment.metadata.labels?.['app.kubernetes.io/name'] !== MANAGED_BY_STREAMFLEET) return;
    const namespace = deployment.metadata.namespace ?? 'default';
    const key = keyOf({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace,
      name: deployment.metadata.name,
    });
    const spec = (deployment.spec ?? {}) as { replicas?: number; template?: unknown };
    const templateHash = JSON.stringify(spec.template ?? {});
    let workload = this.workloads.get(key);
    if (!workload) {
      workload = {
        namespace,
        name: deployment.metadata.name,
        desired: spec.replicas ?? 1,
        pods: [],
        templateHash,
        failure: undefined,
      };
      this.workloads.set(key, workload);
      this.event(`Deployment ${namespace}/${workload.name} created with ${workload.desired} replicas`);
    } else {
      // An apply without spec.replicas leaves the count to whoever owns it (KEDA): as on Kubernetes.
      if (spec.replicas !== undefined) workload.desired = spec.replicas;
      workload.templateHash = templateHash;
    }
    this.reconcile(workload);
  }

  private template(
    workload: Workload,
  ): { env: Record<string, string>; port: number; serviceAccount: string; grace: number } | undefined {
    const deployment = this.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: workload.namespace,
      name: workload.name,
    });
    const podSpec = (deployment?.spec as { template?: { spec?: Record<string, unknown> } } | undefined)
      ?.template?.spec;
    const container = (
      podSpec?.containers as { env?: { name: string; value?: string; valueFrom?: unknown }[] }[] | undefined
    )?.[0];
    if (!podSpec || !container) return undefined;
    const env: Record<string, string> = {};
    for (const variable of container.env ?? []) {
      if (variable.value !== undefined) env[variable.name] = variable.value;
    }
    const port = Number(env.PORT ?? 8080);
    return {
      env,
      port,
      serviceAccount: String(podSpec.serviceAccountName ?? 'default'),
      grace: Number(podSpec.terminationGracePeriodSeconds ?? 30),
    };
  }

  private reconcile(workload: Workload): void {
    if (this.stopped) return;
    // Pods of an older template are replaced (a rollout), newest first when scaling down.
    for (const pod of workload.pods) {
      if (pod.templateHash !== workload.templateHash && !pod.stopping) void this.stopPod(workload, pod);
    }
    const running = workload.pods.filter((p) => !p.stopping);
    if (running.length > workload.desired) {
      const surplus = running.slice(workload.desired).reverse();
      for (const pod of surplus) void this.stopPod(workload, pod);
    }
    const template = this.template(workload);
    if (!template) return;
    const account = this.read({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      namespace: workload.namespace,
      name: template.serviceAccount,
    });
    if (!account) {
      const failure = `serviceaccount "${template.serviceAccount}" not found`;
      if (workload.failure !== failure)
        this.event(`Deployment ${workload.namespace}/${workload.name}: ${failure}`);
      workload.failure = failure;
      return;
    }
    workload.failure = undefined;
    const missing = workload.desired - workload.pods.filter((p) => !p.stopping).length;
    for (let i = 0; i < missing; i++) void this.startPod(workload);
  }

  private async startPod(workload: Workload): Promise<void> {
    const template = this.template(workload);
    if (!template) return;
    const hash = workload.templateHash;
    const podName = `${workload.name}-${randomBytes(3).toString('hex')}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    // Reserve the slot before the await so concurrent reconciles do not over-start.
    const placeholder: Pod = {
      name: podName,
      port: 0,
      worker: {
        pid: undefined,
        exited: Promise.resolve({ code: 0, signal: null }),
        hasExited: () => false,
        kill: () => {},
        output: () => '',
        probeReady: async () => false,
      },
      ready: false,
      restarts: 0,
      stopping: false,
      templateHash: hash,
      credentials: undefined,
    };
    workload.pods.push(placeholder);
    placeholder.port = await freePort();
    placeholder.credentials = await this.podCredentials(workload.namespace, template.serviceAccount, podName);
    if (placeholder.stopping || this.stopped) {
      workload.pods = workload.pods.filter((p) => p !== placeholder);
      return;
    }
    this.launch(workload, placeholder, template.env);
    this.event(`Pod ${podName} started (port ${placeholder.port})`);
    this.saveState();
  }

  private podEnv(pod: Pod, templateEnv: Record<string, string>): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...templateEnv,
      INSTANCE_NAME: pod.name,
      PORT: String(pod.port),
      ...this.options.workerEnv,
      // What the pod identity webhook injects on EKS (credentials for the ServiceAccount's role); here a
      // session of that role the strict layer knows, and DynamoDB Local (through the layer) as the endpoint.
      AWS_ENDPOINT_URL: this.options.dynamodbEndpoint,
      AWS_ACCESS_KEY_ID: pod.credentials?.accessKeyId ?? 'local',
      AWS_SECRET_ACCESS_KEY: pod.credentials?.secretAccessKey ?? 'local',
    };
  }

  /** The session a pod of `serviceAccount` gets: its IRSA role's, or the node's when it names none. */
  private async podCredentials(
    namespace: string,
    serviceAccount: string,
    podName: string,
  ): Promise<SessionCredentials> {
    const account = this.read({ apiVersion: 'v1', kind: 'ServiceAccount', namespace, name: serviceAccount });
    const roleArn = account?.metadata.annotations?.[IRSA_ROLE_ANNOTATION];
    return (await this.sessions).session(roleArn, podName);
  }

  private launch(workload: Workload, pod: Pod, templateEnv: Record<string, string>): void {
    pod.worker = this.launcher.launch({
      podName: pod.name,
      env: this.podEnv(pod, templateEnv),
      port: pod.port,
    });
    pod.ready = false;
    void pod.worker.exited.then(({ code, signal }) => {
      pod.ready = false;
      if (pod.stopping || this.stopped) return;
      // restartPolicy Always: the container starts again in the same pod.
      pod.restarts++;
      this.event(
        `Pod ${pod.name} exited (code ${code}, signal ${signal}); restart ${pod.restarts}\n${pod.worker.output().slice(-600)}`,
      );
      const backoff = Math.min(
        (this.options.restartBackoffMs ?? 1_000) * 2 ** Math.min(pod.restarts - 1, 4),
        10_000,
      );
      setTimeout(() => {
        if (!pod.stopping && !this.stopped && workload.pods.includes(pod)) {
          const template = this.template(workload);
          if (template) this.launch(workload, pod, template.env);
        }
      }, backoff).unref();
    });
  }

  private async stopPod(workload: Workload, pod: Pod): Promise<void> {
    if (pod.stopping) return;
    pod.stopping = true;
    pod.ready = false;
    const grace = (this.template(workload)?.grace ?? 30) * 1000;
    pod.worker.kill('SIGTERM');
    const killer = setTimeout(() => pod.worker.kill('SIGKILL'), grace);
    killer.unref();
    await pod.worker.exited;
    clearTimeout(killer);
    workload.pods = workload.pods.filter((p) => p !== pod);
    this.event(`Pod ${pod.name} stopped`);
    this.saveState();
  }

  private async probeAll(): Promise<void> {
    for (const workload of this.workloads.values()) {
      for (const pod of workload.pods) {
        if (pod.stopping || pod.port === 0) continue;
        pod.ready = await pod.worker.probeReady();
      }
    }
  }

  // --- KEDA --------------------------------------------------------------------------------------------

  private onScaledObject(key: string, scaledObject: ManifestObject): void {
    let scaler = this.scalers.get(key);
    if (!scaler) {
      scaler = {
        key,
        timer: undefined,
        history: [],
        lastActiveAtMs: undefined,
        ready: false,
        active: false,
        message: 'waiting for the first poll',
        lastDecision: undefined,
        ticking: false,
      };
      this.scalers.set(key, scaler);
    }
    const spec = scaledObject.spec as { pollingInterval?: number };
    const interval = this.options.pollingIntervalMs ?? (spec.pollingInterval ?? 30) * 1000;
    clearInterval(scaler.timer);
    const s = scaler;
    s.timer = setInterval(() => void this.tick(s), interval);
    s.timer.unref();
    void this.tick(s);
  }

  private fail(scaler: Scaler, message: string): void {
    if (scaler.message !== message) this.event(`ScaledObject ${scaler.key}: ${message}`);
    scaler.ready = false;
    scaler.message = message;
  }

  private async tick(scaler: Scaler): Promise<void> {
    if (scaler.ticking || this.stopped) return;
    scaler.ticking = true;
    try {
      await this.scale(scaler);
    } catch (error) {
      this.fail(
        scaler,
        `error polling the trigger: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      );
    } finally {
      scaler.ticking = false;
    }
  }

  private async scale(scaler: Scaler): Promise<void> {
    const stored = this.objects.get(scaler.key);
    if (!stored) return;
    const so = merge(stored.base ?? {}, stored.applied ?? {}) as ManifestObject;
    const spec = so.spec as {
      scaleTargetRef: { name: string };
      minReplicaCount?: number;
      maxReplicaCount?: number;
      cooldownPeriod?: number;
      advanced?: {
        horizontalPodAutoscalerConfig?: {
          behavior?: {
            scaleDown?: { stabilizationWindowSeconds?: number };
            scaleUp?: { stabilizationWindowSeconds?: number };
          };
        };
      };
      triggers: { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[];
    };
    const namespace = so.metadata.namespace ?? 'default';
    const trigger = spec.triggers[0];
    if (!trigger) return this.fail(scaler, 'no trigger');
    const workload = this.workloads.get(
      keyOf({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: spec.scaleTargetRef.name }),
    );
    if (!workload)
      return this.fail(scaler, `scale target Deployment ${namespace}/${spec.scaleTargetRef.name} not found`);
    const auth = trigger.authenticationRef
      ? this.read({
          apiVersion: KEDA_API_VERSION,
          kind: 'TriggerAuthentication',
          namespace,
          name: trigger.authenticationRef.name,
        })
      : undefined;
    if (
      (auth?.spec as { podIdentity?: { provider?: string } } | undefined)?.podIdentity?.provider !== 'aws'
    ) {
      return this.fail(
        scaler,
        `TriggerAuthentication ${trigger.authenticationRef?.name ?? '(none)'} with podIdentity aws not found`,
      );
    }
    const identity = await this.kedaIdentity(
      auth?.spec as { podIdentity?: { roleArn?: string } } | undefined,
    );
    if ('failure' in identity) return this.fail(scaler, identity.failure);
    let metric: number;
    let target: number;
    let activation: number;
    if (trigger.type === 'aws-dynamodb-streams') {
      const tableName = trigger.metadata.tableName ?? '';
      const { dynamodb, streams } = this.kedaClientsFor(identity.credentials);
      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      const streamArn = Table?.LatestStreamArn;
      if (!streamArn) return this.fail(scaler, `table ${tableName} has no stream`);
      metric = await this.shardCount(streams, streamArn);
      target = Number(trigger.metadata.shardCount ?? 2);
      activation = Number(trigger.metadata.activationShardCount ?? 0);
    } else if (trigger.type === 'aws-cloudwatch') {
      // The local CloudWatch stand-in is not behind the strict layer: its one action is judged here.
      const request = { action: 'cloudwatch:GetMetricData', resource: '*' };
      const evaluation = evaluatePolicies(identity.policies, request);
      if (evaluation.decision !== Decision.Allow) {
        return this.fail(
          scaler,
          `AccessDeniedException: ${accessDeniedMessage(identity.principalArn, request, evaluation.decision)}`,
        );
      }
      const m = trigger.metadata;
      const value = this.metrics.latest(
        m.namespace ?? '',
        m.metricName ?? '',
        { [m.dimensionName ?? '']: m.dimensionValue ?? '' },
        { withinMs: Number(m.metricCollectionTime ?? 300) * 1000 },
      );
      metric = value ?? Number(m.minMetricValue ?? 0);
      target = Number(m.targetMetricValue ?? 1);
      activation = Number(m.activationTargetMetricValue ?? 0);
    } else {
      return this.fail(scaler, `trigger type ${trigger.type} is not emulated locally`);
    }
    const behavior = spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
    const config = scalingConfig({
      shardCount: target,
      activationShardCount: activation,
      minReplicaCount: spec.minReplicaCount,
      maxReplicaCount: spec.maxReplicaCount,
      cooldownPeriodSeconds: spec.cooldownPeriod,
      scaleDownStabilizationSeconds: behavior?.scaleDown?.stabilizationWindowSeconds,
      scaleUpStabilizationSeconds: behavior?.scaleUp?.stabilizationWindowSeconds,
    });
    const now = Date.now();
    const decision = kedaReplicas({
      nowMs: now,
      currentReplicas: workload.desired,
      metric,
      config,
      history: scaler.history,
      ...(scaler.lastActiveAtMs === undefined ? {} : { lastActiveAtMs: scaler.lastActiveAtMs }),
    });
    scaler.history = decision.history;
    if (decision.active) scaler.lastActiveAtMs = now;
    scaler.ready = true;
    scaler.active = decision.active;
    scaler.message = undefined;
    scaler.lastDecision = decision.replicas;
    if (decision.replicas !== workload.desired) {
      this.event(
        `KEDA: ${workload.namespace}/${workload.name} ${workload.desired} → ${decision.replicas} replicas (metric ${metric}, ${decision.reason})`,
      );
      workload.desired = decision.replicas;
      this.reconcile(workload);
      this.saveState();
    }
  }

  /**
   * Who the local KEDA is for a trigger, as KEDA's `podIdentity: aws` works out: the operator's own IRSA role,
   * or the TriggerAuthentication's `roleArn`, assumed with it (sts:AssumeRole: the operator role's policies
   * must allow it on that role, and that role's trust policy must name the operator role).
   */
  private async kedaIdentity(
    auth: { podIdentity?: { roleArn?: string } } | undefined,
  ): Promise<
    | { credentials: SessionCredentials; principalArn: string; policies: ReturnType<typeof namedPolicies> }
    | { failure: string }
  > {
    const operatorArn = this.kedaOperatorRole;
    const operator = operatorArn ? this.iam.roleByArn(operatorArn) : undefined;
    if (!operatorArn || !operator) {
      return {
        failure: `the KEDA operator has no AWS credentials (role ${operatorArn ?? 'none'}): annotate its ServiceAccount with an IRSA role and restart it`,
      };
    }
    const sessions = await this.sessions;
    const wanted = auth?.podIdentity?.roleArn;
    if (wanted === undefined || wanted === operatorArn) {
      return {
        credentials: await sessions.session(operatorArn, KEDA_SEED.deploymentName),
        principalArn: assumedRoleArn(operatorArn, KEDA_SEED.deploymentName),
        policies: namedPolicies(operator),
      };
    }
    const caller = assumedRoleArn(operatorArn, KEDA_SEED.deploymentName);
    const request = { action: 'sts:AssumeRole', resource: wanted };
    const allowed = evaluatePolicies(namedPolicies(operator), request);
    if (allowed.decision !== Decision.Allow) {
      return { failure: `AccessDenied: ${accessDeniedMessage(caller, request, allowed.decision)}` };
    }
    const role = this.iam.roleByArn(wanted);
    if (!role || !trustAllows(role.trustPolicy, operatorArn)) {
      return {
        failure: `AccessDenied: User: ${caller} is not authorized to perform: sts:AssumeRole on resource: ${wanted}${
          role ? " (the role's trust policy does not name the operator's role)" : ' (no such role)'
        }`,
      };
    }
    const session = `keda-${wanted.split('/').pop() ?? 'scaler'}`;
    const byAction = this.assumed[operatorArn] ?? {};
    this.assumed[operatorArn] = byAction;
    const byRole = byAction[request.action] ?? {};
    byAction[request.action] = byRole;
    byRole[wanted] = (byRole[wanted] ?? 0) + 1;
    return {
      credentials: await sessions.session(wanted, session),
      principalArn: assumedRoleArn(wanted, session),
      policies: namedPolicies(role),
    };
  }

  private kedaClientsFor(credentials: SessionCredentials): {
    dynamodb: DynamoDBClient;
    streams: DynamoDBStreamsClient;
  } {
    let clients = this.kedaClients.get(credentials.accessKeyId);
    if (!clients) {
      const config = {
        endpoint: this.options.dynamodbEndpoint,
        region: this.options.region ?? 'us-east-1',
        credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
      };
      clients = { dynamodb: new DynamoDBClient(config), streams: new DynamoDBStreamsClient(config) };
      this.kedaClients.set(credentials.accessKeyId, clients);
    }
    return clients;
  }

  private async shardCount(streams: DynamoDBStreamsClient, streamArn: string): Promise<number> {
    let count = 0;
    let start: string | undefined;
    do {
      const { StreamDescription } = await streams.send(
        new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: start }),
      );
      count += StreamDescription?.Shards?.length ?? 0;
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return count;
  }

  /**
   * What the local KEDA did as STS allowed it (STS is played here, not behind the strict layer): AssumeRole
   * calls by caller role, action and target role, in the shape of the layer's `iam.allowed`.
   */
  stsUsage(): Record<string, Record<string, Record<string, number>>> {
    return structuredClone(this.assumed);
  }

  // --- State ---------------------------------------------------------------------------------------------

  /** What runs, for people and tools: objects, workloads with their pods, scalers. */
  snapshot() {
    return {
      name: this.name,
      kedaInstalled: this.kedaInstalled(),
      kedaOperatorRole: this.kedaOperatorRole ?? null,
      objects: [...this.objects.keys()].sort(),
      workloads: [...this.workloads.values()].map((w) => ({
        namespace: w.namespace,
        name: w.name,
        desired: w.desired,
        failure: w.failure ?? null,
        pods: w.pods.map((p) => ({
          name: p.name,
          pid: p.worker.pid ?? null,
          port: p.port,
          ready: p.ready,
          restarts: p.restarts,
          stopping: p.stopping,
        })),
      })),
      scalers: [...this.scalers.values()].map((s) => ({
        key: s.key,
        ready: s.ready,
        active: s.active,
        message: s.message ?? null,
        lastDecision: s.lastDecision ?? null,
      })),
    };
  }

  /** The output of a pod's current process, for debugging. */
  podOutput(podName: string): string | undefined {
    for (const workload of this.workloads.values()) {
      const pod = workload.pods.find((p) => p.name === podName);
      if (pod) return pod.worker.output();
    }
    return undefined;
  }

  private saveState(): void {
    if (!this.options.stateFile) return;
    try {
      writeFileSync(this.options.stateFile, `${JSON.stringify(this.snapshot(), null, 2)}\n`);
    } catch {
      // A state file is for reading only; failing to write it changes nothing.
    }
  }

  /** Stops scaling, SIGTERMs every worker (SIGKILL after its grace period) and unregisters. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unregister();
    clearInterval(this.readinessTimer);
    for (const scaler of this.scalers.values()) clearInterval(scaler.timer);
    await Promise.all(
      [...this.workloads.values()].flatMap((workload) =>
        workload.pods.map((pod) => this.stopPod(workload, pod)),
      ),
    );
    for (const clients of this.kedaClients.values()) {
      clients.dynamodb.destroy();
      clients.streams.destroy();
    }
    this.kedaClients.clear();
    (await this.sessions).close();
    this.saveState();
  }
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  return new LocalCluster(options);
}
