/**
 * A Kubernetes cluster on one machine, as far as Streamfleet needs one: the `Cluster` port's second adapter
 * (core/kubernetes/kubernetes.ts is the first). This file only wires its units together:
 * - object-store.ts: objects applied, read and deleted (server-side apply emulated for our field manager);
 * - deployment-controller.ts, pods.ts, workload.ts: Streamfleet's consumer Deployments run as worker
 *   processes (`node dist/consumer.js` with the Deployment's env, INSTANCE_NAME = pod name), restarted when
 *   they crash, replaced on a rollout, probed for readiness;
 * - local-keda.ts, keda-triggers.ts, keda-identity.ts, scaled-object.ts, keda-install.ts: KEDA emulated with
 *   the same replica arithmetic as core/kubernetes/keda.ts, a scaler loop per ScaledObject that reads the trigger's
 *   metric (DescribeStream's shard count, or the local CloudWatch stand-in's UnfinishedShards);
 * - events.ts: what happens, as typed events the rest of local mode subscribes to, and as log lines;
 * - state-file.ts: a JSON snapshot after each change;
 * - kubernetes-api.ts (with pod-feed.ts, api-credentials.ts, tls.ts): its Kubernetes API over HTTPS, which
 *   the pods watch with their ServiceAccount's token under the RBAC the manifests grant, and kubectl reads
 *   with the operator's kubeconfig.
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

import {
  type Cluster,
  type ClusterInfo,
  KEDA_API_VERSION,
  type ManifestObject,
  type ObjectRef,
  type RolloutStatus,
  type RolloutWait,
  refOf,
  registerLocalCluster,
  type ScaleStatus,
} from '../../core/kubernetes/cluster.js';
import { IRSA_ROLE_ANNOTATION } from '../../core/kubernetes/manifests.js';
import type { PolicyRule, RoleBindingLike, RoleSource } from '../../core/kubernetes/rbac.js';
import { localServices } from '../../core/ports.js';
import { KubernetesApiError, PreconditionError } from '../../core/vocabulary/errors.js';
import { LocalRoleSessions } from '../identities/role-sessions.js';
import { localStsAt } from '../identities/sts.js';
import { DeploymentController } from './deployment-controller.js';
import { type ClusterEventListener, ClusterEvents } from './events.js';
import { KedaIdentity, type StsUsage } from './keda-identity.js';
import { isKedaOperator, kedaInstallManifests } from './keda-install.js';
import { KedaTriggers } from './keda-triggers.js';
import { LocalKubernetesApi } from './kubernetes-api.js';
import type { LocalApiBackend } from './kubernetes-api-objects.js';
import { ProcessLauncher } from './launcher.js';
import type { LocalClusterOptions } from './local-cluster-options.js';
import { LocalKeda } from './local-keda.js';
import { keyOf, notFound, ObjectStore } from './object-store.js';
import { PodFeed, type PodJson, podJson } from './pod-feed.js';
import { PodRunner } from './pods.js';
import { type ClusterSnapshot, workloadSnapshot, writeStateFile } from './state-file.js';
import { podStatuses, type Workload, workloadRollout } from './workload.js';

const RBAC = 'rbac.authorization.k8s.io/v1';

export class LocalCluster implements Cluster, LocalApiBackend {
  readonly name: string;
  readonly podFeed = new PodFeed();
  /** Its Kubernetes API (started by startLocalCluster; a cluster made with `new` starts it with startApi). */
  readonly kubernetesApi: LocalKubernetesApi;
  private readonly store = new ObjectStore();
  private readonly pods_: PodRunner;
  private readonly clusterEvents: ClusterEvents;
  private readonly sessions: Promise<LocalRoleSessions>;
  private readonly deployments: DeploymentController;
  private readonly identity: KedaIdentity;
  private readonly keda: LocalKeda;
  private readonly unregister: () => void;
  private stopped = false;

  constructor(private readonly options: LocalClusterOptions) {
    this.name = options.name;
    this.clusterEvents = new ClusterEvents(options.log);
    const iam = options.iam ?? localServices.iam;
    this.sessions = (options.sts ? Promise.resolve(options.sts) : localStsAt(options.dynamodbEndpoint)).then(
      (sts) => new LocalRoleSessions(iam, sts),
    );
    const stopped = () => this.stopped;
    const changed = () => this.saveState();
    const pods = new PodRunner({
      launcher: options.launcher ?? new ProcessLauncher(),
      events: this.clusterEvents,
      endpoint: options.dynamodbEndpoint,
      workerEnv: options.workerEnv,
      restartBackoffMs: options.restartBackoffMs ?? 1_000,
      template: (workload) => this.deployments.template(workload),
      credentials: async (namespace, serviceAccount, podName) => {
        // Its IRSA role's session, or the node's when its ServiceAccount names none.
        const account = this.store.read({
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          namespace,
          name: serviceAccount,
        });
        return (await this.sessions).session(account?.metadata.annotations?.[IRSA_ROLE_ANNOTATION], podName);
      },
      stopped,
      changed,
      podChanged: (workload, pod, change) => this.podFeed.record(change, workload, pod),
      kubeconfig: (namespace, serviceAccount) =>
        this.kubernetesApi.serviceAccountKubeconfig(namespace, serviceAccount),
    });
    this.pods_ = pods;
    this.kubernetesApi = new LocalKubernetesApi(this);
    this.deployments = new DeploymentController(this.store, pods, this.clusterEvents, {
      readinessIntervalMs: options.readinessIntervalMs ?? 500,
      stopped,
    });
    this.identity = new KedaIdentity(iam, this.sessions);
    this.keda = new LocalKeda({
      store: this.store,
      deployments: this.deployments,
      identity: this.identity,
      triggers: new KedaTriggers({
        endpoint: options.dynamodbEndpoint,
        region: options.region ?? 'us-east-1',
        metrics: options.metrics ?? localServices.metrics,
      }),
      events: this.clusterEvents,
      pollingIntervalMs: options.pollingIntervalMs,
      stopped,
      changed,
    });
    if (this.kedaInstalled()) for (const manifest of kedaInstallManifests()) this.store.seed(manifest);
    this.unregister = options.register === false ? () => {} : registerLocalCluster(this);
  }

  /** The cluster's log: its newest 500 events as lines, `<ISO time> text`. */
  get events(): string[] {
    return this.clusterEvents.lines;
  }

  /** Calls `listener` with every event from now on (KEDA's decisions, pods, Deployments); returns an unsubscribe. */
  subscribe(listener: ClusterEventListener): () => void {
    return this.clusterEvents.subscribe(listener);
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
    // RBAC's objects are what the Kubernetes API authorizes its callers by (kubernetes-api.ts).
    return ['v1', 'apps/v1', 'autoscaling/v2', 'policy/v1', RBAC, 'authorization.k8s.io/v1'].includes(
      apiVersion,
    );
  }

  /** Starts its Kubernetes API (pods started from now on get a kubeconfig for it); returns its endpoint. */
  startApi(): Promise<string> {
    return this.kubernetesApi.start();
  }

  createdAt(ref: ObjectRef): string | undefined {
    return this.store.createdAt(ref);
  }

  list(apiVersion: string, kind: string, namespace?: string): ManifestObject[] {
    return this.store.list(apiVersion, kind, namespace);
  }

  pods(namespace?: string): PodJson[] {
    return this.deployments
      .all()
      .filter((w) => namespace === undefined || w.namespace === namespace)
      .flatMap((workload) => workload.pods.map((pod) => podJson(workload, pod)));
  }

  rbac(): { bindings: RoleBindingLike[]; roles: RoleSource } {
    const rules = (object: ManifestObject | undefined) =>
      object ? ((object as { rules?: PolicyRule[] }).rules ?? []) : undefined;
    const binding = (object: ManifestObject): RoleBindingLike => {
      const fields = object as {
        roleRef?: { kind: string; name: string };
        subjects?: RoleBindingLike['subjects'];
      };
      return {
        ...(object.kind === 'RoleBinding' ? { namespace: object.metadata.namespace ?? 'default' } : {}),
        roleRef: fields.roleRef ?? { kind: '', name: '' },
        ...(fields.subjects ? { subjects: fields.subjects } : {}),
      };
    };
    return {
      bindings: [
        ...this.store.list(RBAC, 'RoleBinding').map(binding),
        ...this.store.list(RBAC, 'ClusterRoleBinding').map(binding),
      ],
      roles: {
        role: (namespace, name) =>
          rules(this.store.read({ apiVersion: RBAC, kind: 'Role', namespace, name })),
        clusterRole: (name) => rules(this.store.read({ apiVersion: RBAC, kind: 'ClusterRole', name })),
      },
    };
  }

  /** The workload and pod of a pod name, or a NotFound error as the API server says it. */
  private podNamed(name: string): { workload: Workload; pod: Workload['pods'][number] } {
    for (const workload of this.deployments.all()) {
      const pod = workload.pods.find((p) => p.name === name);
      if (pod) return { workload, pod };
    }
    throw new KubernetesApiError('GET', `pods/${name}`, 404, {
      reason: 'NotFound',
      message: `pods "${name}" not found`,
    });
  }

  /** Sends a signal to a pod's container process (SIGKILL: as an OOM kill or `kill -9` in the container). */
  signalPod(name: string, signal: NodeJS.Signals): void {
    this.podNamed(name).pod.worker.kill(signal);
  }

  /**
   * Deletes a pod as `kubectl delete pod` does: gracefully (its deletionTimestamp is set, SIGTERM, SIGKILL after
   * its grace period; the object goes once the process has exited), or with `force` at once — and with
   * `nodeLost`, its process runs on, as on a node cut off from the control plane. Its Deployment starts a
   * replacement.
   */
  async deletePod(name: string, options: { force?: boolean; nodeLost?: boolean } = {}): Promise<void> {
    const { workload, pod } = this.podNamed(name);
    if (options.force) this.pods_.forceDelete(workload, pod, { nodeLost: options.nodeLost ?? false });
    else await this.pods_.stop(workload, pod);
    this.deployments.reconcileAgain(workload);
  }

  async apply(manifest: ManifestObject): Promise<ManifestObject> {
    if (this.stopped)
      throw new PreconditionError(`Local cluster ${this.name} has stopped.`, 'start it again.');
    if (manifest.apiVersion === KEDA_API_VERSION && !this.kedaInstalled()) throw notFound(refOf(manifest));
    const result = this.store.apply(manifest);
    if (manifest.kind === 'Deployment' && manifest.apiVersion === 'apps/v1')
      this.deployments.onDeployment(result);
    if (manifest.kind === 'ScaledObject') this.keda.onScaledObject(result);
    this.saveState();
    return result;
  }

  async get(ref: ObjectRef): Promise<ManifestObject | undefined> {
    if (ref.apiVersion === KEDA_API_VERSION && !this.kedaInstalled()) return undefined;
    const object = this.store.read(ref);
    if (object && ref.kind === 'Deployment') {
      const workload = this.deployments.at(ref);
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
    return this.store.applied(ref);
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    if (!this.store.delete(ref)) return false;
    this.keda.delete(ref);
    await this.deployments.delete(ref);
    this.saveState();
    return true;
  }

  async restartDeployment(namespace: string, name: string): Promise<void> {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name };
    const annotation = { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() };
    if (!this.store.patchBase(ref, { spec: { template: { metadata: { annotations: annotation } } } })) {
      throw new KubernetesApiError('PATCH', keyOf(ref), 404, {
        reason: 'NotFound',
        message: `deployments.apps "${name}" not found`,
      });
    }
    if (isKedaOperator(namespace, name)) return this.keda.operatorRestarted();
    const merged = this.store.read(ref);
    if (merged) this.deployments.onDeployment(merged);
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
      if (!this.store.has(ref)) return undefined;
      const status = workloadRollout(this.deployments.find(input.namespace, input.name));
      if (status.complete || Date.now() >= deadline || this.stopped) return status;
      await new Promise((resolve) => setTimeout(resolve, this.options.readinessIntervalMs ?? 500));
    }
  }

  async scaleStatus(input: {
    namespace: string;
    deploymentName: string;
    scaledObjectName: string;
  }): Promise<ScaleStatus> {
    const exists = this.store.has({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: input.namespace,
      name: input.deploymentName,
    });
    const workload = this.deployments.find(input.namespace, input.deploymentName);
    const pods = podStatuses(workload);
    return {
      deployment: exists
        ? { desiredReplicas: workload?.desired ?? 0, readyReplicas: pods.filter((p) => p.ready).length }
        : undefined,
      scaledObject: this.keda.status(input.namespace, input.scaledObjectName),
      pods,
    };
  }

  /**
   * What the local KEDA did as STS allowed it (STS is played here, not behind the strict layer): AssumeRole
   * calls by caller role, action and target role, in the shape of the layer's `iam.allowed`.
   */
  stsUsage(): StsUsage {
    return this.identity.usage();
  }

  /** What runs, for people and tools: objects, workloads with their pods, scalers. */
  snapshot(): ClusterSnapshot {
    return {
      name: this.name,
      kedaInstalled: this.kedaInstalled(),
      kedaOperatorRole: this.identity.operatorRoleArn ?? null,
      objects: this.store.keys(),
      workloads: this.deployments.all().map(workloadSnapshot),
      scalers: this.keda.snapshot(),
    };
  }

  /** The output of a pod's current process, for debugging. */
  podOutput(podName: string): string | undefined {
    return this.deployments.podOutput(podName);
  }

  private saveState(): void {
    writeStateFile(this.options.stateFile, this.snapshot());
  }

  /** Stops scaling, SIGTERMs every worker (SIGKILL after its grace period) and unregisters. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unregister();
    this.keda.stop();
    await this.deployments.stop();
    this.keda.close();
    (await this.sessions).close();
    await this.kubernetesApi.stop();
    this.saveState();
  }
}

/** A local cluster with its Kubernetes API running. */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const cluster = new LocalCluster(options);
  await cluster.startApi();
  return cluster;
}
