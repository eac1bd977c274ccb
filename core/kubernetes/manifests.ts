/**
 * Kubernetes manifests for one consumer fleet on EKS: the IRSA ServiceAccount, its Role and RoleBinding (list
 * and watch the namespace's pods, nothing else), the worker Deployment (and its PodDisruptionBudget), and KEDA's
 * TriggerAuthentication and ScaledObject. Every builder checks its input
 * first (InvalidInputError naming the field), then builds a typed `kubernetes-models` object and runs its
 * schema `.validate()`. `renderManifestsYaml` prints them for `kubectl apply -f`.
 *
 * What keeps a fleet up through a cluster's day (node drains, EKS Auto Mode consolidation, zone loss):
 * - a PodDisruptionBudget with `maxUnavailable: 1`: voluntary evictions take one worker at a time (its leases
 *   are handed to peers on SIGTERM before the next goes), yet a one-pod fleet can still be drained;
 *   `unhealthyPodEvictionPolicy: AlwaysAllow`, so a crash-looping pod never blocks a node drain;
 * - soft topology spread (`ScheduleAnyway`) across zones and nodes: one node or zone going away takes at most
 *   its share of the workers, and scaling out is never held up by the spread;
 * - `terminationGracePeriodSeconds` = the worker's SHUTDOWN_TIMEOUT_MS + a margin, so the kubelet never
 *   SIGKILLs a worker that is still handing its leases over;
 * - `/metrics` scrapeable by Prometheus: the container port is named `http` (a PodMonitor's
 *   `podMetricsEndpoints[].port`), and the pod template carries the `prometheus.io/*` annotations that the
 *   common `kubernetes-pods` scrape job reads. No PodMonitor is applied: it would need the Prometheus
 *   Operator's CRD, which most clusters do not have; the annotations work with or without it;
 * - requests and limits sized from the bench (BENCHMARKS.md): see `CONSUMER_DEFAULTS.resources`.
 */
import {
  type IScaledObject,
  ScaledObject,
  TriggerAuthentication,
} from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { stringify } from 'yaml';
import { parseRoleArn, parseStreamArn } from '../vocabulary/arns.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import {
  describeValue,
  requireAwsRegion,
  requireDns1123Label,
  requireDns1123Subdomain,
  requireInteger,
  requireTableName,
} from '../vocabulary/validation.js';
import { KEDA_DEFAULTS, ScalingMode, scalingConfig, UNFINISHED_SHARDS_METRIC } from './keda.js';

/** The annotation the EKS pod identity webhook reads to inject IRSA credentials. */
export const IRSA_ROLE_ANNOTATION = 'eks.amazonaws.com/role-arn';

/**
 * The worker's SHUTDOWN_TIMEOUT_MS (consumer/config.ts: default 20000, 1000-300000): the longest it drains
 * after SIGTERM before exiting anyway. The pod's grace period is that plus `graceMarginSeconds`, for the
 * process to exit and the kubelet to see it.
 */
export const SHUTDOWN_TIMEOUT = {
  variable: 'SHUTDOWN_TIMEOUT_MS',
  defaultMs: 20_000,
  minMs: 1_000,
  maxMs: 300_000,
  graceMarginSeconds: 10,
} as const;

/** The smallest grace period that lets a worker with this shutdown timeout drain: ceil(ms / 1000) + margin. */
export function gracePeriodFor(shutdownTimeoutMs: number): number {
  return Math.ceil(shutdownTimeoutMs / 1000) + SHUTDOWN_TIMEOUT.graceMarginSeconds;
}

export const CONSUMER_DEFAULTS = {
  port: 8080,
  runAsUser: 1000,
  containerName: 'consumer',
  /**
   * From `npm run bench` (BENCHMARKS.md): peak RSS after a 20,000-record drain is 140 MiB fenced and 180 MiB
   * in conditional mode; CPU is ~105 ms per 1,000 records fenced (~9,500 records/s per core) and ~0.65 ms per
   * item conditional (~1,500/s per core). The request covers the fenced peak with a third to spare (the
   * scheduler packs on requests); the memory limit is twice the conditional peak, so a burst is not
   * OOM-killed; one core is all a single Node.js event loop can use, and 250m is ~2,400 records/s fenced.
   */
  resources: {
    requests: { cpu: '250m', memory: '192Mi' },
    limits: { cpu: '1', memory: '384Mi' },
  },
  /** Topology keys the pods spread over, most important first. */
  spreadTopologyKeys: ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'],
} as const;

/** Annotations the common Prometheus `kubernetes-pods` scrape configuration reads. */
export function prometheusAnnotations(port: number): Record<string, string> {
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(port),
    'prometheus.io/path': '/metrics',
  };
}

/** KEDA's trigger types. */
export const TriggerType = {
  DynamoDbStreams: 'aws-dynamodb-streams',
  CloudWatch: 'aws-cloudwatch',
} as const;
export type TriggerType = (typeof TriggerType)[keyof typeof TriggerType];

/** How KEDA reads the unfinished-shards metric: one datapoint a minute, newest within five minutes. */
const CLOUDWATCH_QUERY = {
  metricStat: 'Maximum',
  metricStatPeriod: '60',
  metricCollectionTime: '300',
} as const;

const RESERVED_ENV = [
  'SOURCE_TABLE_STREAM_ARN',
  'TARGET_TABLE_NAME',
  'APPLICATION_NAME',
  'AWS_REGION',
  'INSTANCE_NAME',
  'PORT',
  'PEER_POD_SELECTOR',
  'POD_NAMESPACE',
] as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const IMAGE = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/;

type ScaledObjectTrigger = IScaledObject['spec']['triggers'][number];

/** Anything `renderManifestsYaml` can print: a kubernetes-models object or a plain manifest. */
export type Manifest = { toJSON(): unknown } | Record<string, unknown>;

export interface ResourceSpec {
  requests: { cpu: string; memory: string };
  limits: { cpu?: string; memory: string };
}

function standardLabels(instance: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'streamfleet',
    'app.kubernetes.io/instance': instance,
    'app.kubernetes.io/component': 'consumer',
    'app.kubernetes.io/part-of': 'streamfleet',
  };
}

function selectorLabels(instance: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'streamfleet', 'app.kubernetes.io/instance': instance };
}

/** The label selector of a fleet's pods, as the workers watch them (PEER_POD_SELECTOR). */
export function podSelector(instance: string): string {
  return Object.entries(selectorLabels(instance))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

function validated<T extends { validate(): void }>(model: T, kind: string): T {
  try {
    model.validate();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new InvalidInputError(kind, `the ${kind} does not match its schema: ${detail}`, { cause: error });
  }
  return model;
}

function requireQuantity(field: string, value: unknown): string {
  if (typeof value !== 'string' || !QUANTITY.test(value)) {
    throw new InvalidInputError(
      field,
      `expected a Kubernetes quantity such as 250m, 1, 512Mi or 1Gi, got ${describeValue(value)}`,
    );
  }
  return value;
}

// --- ServiceAccount -------------------------------------------------------------------------------------

export interface ServiceAccountInput {
  namespace: string;
  name: string;
  /** The IAM role the pods assume through IRSA. */
  roleArn: string;
  /** The fleet's `app.kubernetes.io/instance` label. Default: `name`. */
  instance?: string;
}

/** The consumer's ServiceAccount, annotated with the IRSA role. */
export function consumerServiceAccount(input: ServiceAccountInput): ServiceAccount {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Subdomain('serviceAccountName', input.name);
  const { roleArn } = parseRoleArn(input.roleArn, 'roleArn');
  const instance = requireDns1123Label('instance', input.instance ?? name);
  return validated(
    new ServiceAccount({
      metadata: {
        name,
        namespace,
        labels: standardLabels(instance),
        annotations: { [IRSA_ROLE_ANNOTATION]: roleArn },
      },
    }),
    'ServiceAccount',
  );
}

// --- Role and RoleBinding: what the workers may ask the Kubernetes API -----------------------------------

/**
 * The only Kubernetes calls a worker makes (consumer/peers/kubernetes-pods.ts): list and watch the pods of its
 * Deployment. A Role, not a ClusterRole: its own namespace only.
 */
export const CONSUMER_POD_RULES = [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }];

export interface ConsumerRoleInput {
  namespace: string;
  /** The Role's and RoleBinding's name (the fleet's), also its `app.kubernetes.io/instance` label. */
  name: string;
  serviceAccountName: string;
}

/** Read the pods of the namespace: how a worker learns at once that a peer's pod is gone. */
export function consumerRole(input: ConsumerRoleInput): Role {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Label('name', input.name);
  return validated(
    new Role({
      metadata: { name, namespace, labels: standardLabels(name) },
      rules: CONSUMER_POD_RULES.map((rule) => ({ ...rule, resources: [...rule.resources] })),
    }),
    'Role',
  );
}

/** Grants the Role to the consumer's ServiceAccount, in the same namespace. */
export function consumerRoleBinding(input: ConsumerRoleInput): RoleBinding {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Label('name', input.name);
  const serviceAccountName = requireDns1123Subdomain('serviceAccountName', input.serviceAccountName);
  return validated(
    new RoleBinding({
      metadata: { name, namespace, labels: standardLabels(name) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccountName, namespace }],
    }),
    'RoleBinding',
  );
}

// --- Deployment -----------------------------------------------------------------------------------------

export interface DeploymentInput {
  namespace: string;
  /** The Deployment's name, also its `app.kubernetes.io/instance` label (so a DNS-1123 label). */
  name: string;
  serviceAccountName: string;
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** SOURCE_TABLE_STREAM_ARN. */
  sourceTableStreamArn: string;
  /** TARGET_TABLE_NAME: replication's table. Exactly one of it and `processorModule`. */
  targetTableName?: string | undefined;
  /** PROCESSOR_MODULE: the fleet's own record processor, in its image. */
  processorModule?: string | undefined;
  /** APPLICATION_NAME: the fleet's name and its lease table's name. */
  applicationName: string;
  /** AWS_REGION; must be the stream's region. */
  awsRegion: string;
  /** PORT, serving /healthz, /readyz and /metrics. Default 8080. */
  port?: number;
  /** Leave unset when KEDA scales the Deployment, so `kubectl apply` never resets the count. */
  replicas?: number;
  resources?: ResourceSpec;
  /**
   * Default: `gracePeriodFor(SHUTDOWN_TIMEOUT_MS)` (the variable from `env`, or the worker's default); a
   * smaller value is refused, since Kubernetes would SIGKILL a worker mid-drain.
   */
  terminationGracePeriodSeconds?: number;
  /** Further variables (tuning knobs). Must not redefine the six the builder sets. */
  env?: Record<string, string>;
}

/** SHUTDOWN_TIMEOUT_MS from a worker environment, checked as the worker checks it; `field` names it. */
export function shutdownTimeoutMs(env: Record<string, string> | undefined, field: string): number {
  const raw = env?.[SHUTDOWN_TIMEOUT.variable];
  if (raw === undefined) return SHUTDOWN_TIMEOUT.defaultMs;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < SHUTDOWN_TIMEOUT.minMs || value > SHUTDOWN_TIMEOUT.maxMs) {
    throw new InvalidInputError(
      field,
      `expected milliseconds from ${SHUTDOWN_TIMEOUT.minMs} to ${SHUTDOWN_TIMEOUT.maxMs} (the worker refuses anything else), got ${describeValue(raw)}`,
    );
  }
  return value;
}

/**
 * The pod's grace period: `requested`, or the smallest that fits the shutdown timeout. A requested period
 * the shutdown timeout would exceed is an InvalidInputError naming `shutdownField`.
 */
export function terminationGracePeriod(input: {
  shutdownTimeoutMs: number;
  requested: number | undefined;
  shutdownField: string;
  graceField: string;
}): number {
  const needed = gracePeriodFor(input.shutdownTimeoutMs);
  if (input.requested === undefined) return needed;
  const grace = requireInteger(input.graceField, input.requested, { min: 1 });
  if (grace < needed) {
    throw new InvalidInputError(
      input.shutdownField,
      `${input.shutdownTimeoutMs} ms plus the ${SHUTDOWN_TIMEOUT.graceMarginSeconds} s margin exceeds ${input.graceField} (${grace} s): Kubernetes would SIGKILL a worker in the middle of handing its leases over. Lower ${SHUTDOWN_TIMEOUT.variable} to at most ${(grace - SHUTDOWN_TIMEOUT.graceMarginSeconds) * 1000}, or raise ${input.graceField} to at least ${needed}.`,
    );
  }
  return grace;
}

/**
 * The worker Deployment. The image's default command (`node dist/consumer.js`) starts one worker; the pod
 * name becomes INSTANCE_NAME through the downward API, so `processed_by` names the pod. Runs as uid 1000
 * with a read-only root filesystem (plus a writable /tmp), no privilege escalation, no capabilities and
 * the runtime's default seccomp profile.
 */
export function consumerDeployment(input: DeploymentInput): Deployment {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Label('name', input.name);
  const serviceAccountName = requireDns1123Subdomain('serviceAccountName', input.serviceAccountName);
  if (typeof input.image !== 'string' || !IMAGE.test(input.image)) {
    throw new InvalidInputError(
      'image',
      `expected a container image reference such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/streamfleet:1.0.0, got ${describeValue(input.image)}`,
    );
  }
  const stream = parseStreamArn(input.sourceTableStreamArn, 'sourceTableStreamArn');
  if ((input.targetTableName === undefined) === (input.processorModule === undefined)) {
    throw new InvalidInputError(
      'targetTableName',
      'give exactly one of targetTableName (replication) and processorModule (your own processor)',
    );
  }
  const processing =
    input.processorModule === undefined
      ? { name: 'TARGET_TABLE_NAME', value: requireTableName('targetTableName', input.targetTableName) }
      : { name: 'PROCESSOR_MODULE', value: input.processorModule };
  const applicationName = requireTableName('applicationName', input.applicationName);
  const awsRegion = requireStreamRegion(input.awsRegion, stream.region);
  const port = requireInteger('port', input.port ?? CONSUMER_DEFAULTS.port, { min: 1, max: 65535 });
  const grace = terminationGracePeriod({
    shutdownTimeoutMs: shutdownTimeoutMs(input.env, `env.${SHUTDOWN_TIMEOUT.variable}`),
    requested: input.terminationGracePeriodSeconds,
    shutdownField: `env.${SHUTDOWN_TIMEOUT.variable}`,
    graceField: 'terminationGracePeriodSeconds',
  });
  const replicas =
    input.replicas === undefined ? undefined : requireInteger('replicas', input.replicas, { min: 0 });
  const resources = input.resources ?? CONSUMER_DEFAULTS.resources;
  requireQuantity('resources.requests.cpu', resources.requests.cpu);
  requireQuantity('resources.requests.memory', resources.requests.memory);
  if (resources.limits.cpu !== undefined) requireQuantity('resources.limits.cpu', resources.limits.cpu);
  requireQuantity('resources.limits.memory', resources.limits.memory);
  const extraEnv = Object.entries(input.env ?? {}).map(([key, value]) => {
    if (!ENV_NAME.test(key)) {
      throw new InvalidInputError(
        `env.${key}`,
        'expected an environment variable name matching [A-Za-z_][A-Za-z0-9_]*',
      );
    }
    if ((RESERVED_ENV as readonly string[]).includes(key)) {
      throw new InvalidInputError(
        `env.${key}`,
        `is set by the builder from its own input; pass it there instead`,
      );
    }
    if (typeof value !== 'string') {
      throw new InvalidInputError(`env.${key}`, `expected a string value, got ${describeValue(value)}`);
    }
    return { name: key, value };
  });
  const labels = standardLabels(name);

  return validated(
    new Deployment({
      metadata: { name, namespace, labels },
      spec: {
        ...(replicas === undefined ? {} : { replicas }),
        selector: { matchLabels: selectorLabels(name) },
        template: {
          metadata: { labels, annotations: prometheusAnnotations(port) },
          spec: {
            serviceAccountName,
            terminationGracePeriodSeconds: grace,
            topologySpreadConstraints: CONSUMER_DEFAULTS.spreadTopologyKeys.map((topologyKey) => ({
              maxSkew: 1,
              topologyKey,
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selectorLabels(name) },
              // Only the current ReplicaSet's pods count, so a rollout does not skew the spread.
              matchLabelKeys: ['pod-template-hash'],
            })),
            securityContext: {
              runAsNonRoot: true,
              runAsUser: CONSUMER_DEFAULTS.runAsUser,
              runAsGroup: CONSUMER_DEFAULTS.runAsUser,
              fsGroup: CONSUMER_DEFAULTS.runAsUser,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: CONSUMER_DEFAULTS.containerName,
                image: input.image,
                ...(input.imagePullPolicy === undefined ? {} : { imagePullPolicy: input.imagePullPolicy }),
                ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
                env: [
                  { name: 'SOURCE_TABLE_STREAM_ARN', value: stream.streamArn },
                  processing,
                  { name: 'APPLICATION_NAME', value: applicationName },
                  { name: 'AWS_REGION', value: awsRegion },
                  {
                    name: 'INSTANCE_NAME',
                    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
                  },
                  { name: 'PORT', value: String(port) },
                  // Peer evidence: watch this Deployment's pods (the Role below lets it).
                  { name: 'PEER_POD_SELECTOR', value: podSelector(name) },
                  {
                    name: 'POD_NAMESPACE',
                    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                  },
                  ...extraEnv,
                ],
                readinessProbe: {
                  httpGet: { path: '/readyz', port },
                  periodSeconds: 5,
                  failureThreshold: 3,
                },
                livenessProbe: {
                  httpGet: { path: '/healthz', port },
                  initialDelaySeconds: 10,
                  periodSeconds: 10,
                  failureThreshold: 3,
                },
                resources: {
                  requests: { ...resources.requests },
                  limits: { ...resources.limits },
                },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: CONSUMER_DEFAULTS.runAsUser,
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              },
            ],
            volumes: [{ name: 'tmp', emptyDir: {} }],
          },
        },
      },
    }),
    'Deployment',
  );
}

/** The region DynamoDB Local writes into its stream ARNs; it accepts requests signed for any region. */
export const DYNAMODB_LOCAL_REGION = 'ddblocal';

function requireStreamRegion(value: unknown, streamRegion: string): string {
  const region = requireAwsRegion('awsRegion', value);
  if (streamRegion === DYNAMODB_LOCAL_REGION) return region;
  if (region !== streamRegion) {
    throw new InvalidInputError(
      'awsRegion',
      `expected the source stream's region ${streamRegion} (the workers read the stream in AWS_REGION), got ${describeValue(value)}`,
    );
  }
  return region;
}

export interface DisruptionBudgetInput {
  namespace: string;
  /** The Deployment's name (its `app.kubernetes.io/instance` label); also the budget's name. */
  name: string;
}

/**
 * At most one worker evicted at a time (node drains, consolidation). `maxUnavailable` rather than
 * `minAvailable`, so a fleet KEDA scaled to one pod can still be drained; unhealthy pods may always be
 * evicted, so a crash loop never blocks a drain.
 */
export function consumerDisruptionBudget(input: DisruptionBudgetInput): PodDisruptionBudget {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Label('name', input.name);
  return validated(
    new PodDisruptionBudget({
      metadata: { name, namespace, labels: standardLabels(name) },
      spec: {
        maxUnavailable: 1,
        selector: { matchLabels: selectorLabels(name) },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    }),
    'PodDisruptionBudget',
  );
}

// --- KEDA -----------------------------------------------------------------------------------------------

export interface TriggerAuthenticationInput {
  namespace: string;
  name: string;
  /** The fleet's `app.kubernetes.io/instance` label. Default: `name`. */
  instance?: string;
  /** The fleet's scaler role, which the KEDA operator assumes with its own IRSA identity for this trigger. */
  roleArn: string;
}

/**
 * KEDA authenticates to AWS through its operator's IRSA identity (`podIdentity.provider: aws`) and, for
 * this fleet, assumes the fleet's own scaler role (`podIdentity.roleArn`, KEDA 2.13+), so fleets sharing a
 * cluster never share or overwrite each other's permissions. (The recipe's `identityOwner: operator`
 * trigger metadata is deprecated since KEDA 2.13; this is its successor.)
 */
export function kedaTriggerAuthentication(input: TriggerAuthenticationInput): TriggerAuthentication {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Subdomain('triggerAuthenticationName', input.name);
  const instance = requireDns1123Label('instance', input.instance ?? name);
  const { roleArn } = parseRoleArn(input.roleArn, 'roleArn');
  // The package's schema predates `roleArn` (it accepts it; its type does not name it).
  const podIdentity = { provider: 'aws', roleArn } as { provider: string };
  return validated(
    new TriggerAuthentication({
      metadata: { name, namespace, labels: standardLabels(instance) },
      spec: { podIdentity },
    }),
    'TriggerAuthentication',
  );
}

export interface ScaledObjectInput {
  namespace: string;
  name: string;
  /** The Deployment to scale. */
  deploymentName: string;
  triggerAuthenticationName: string;
  /** The source stream: the classic trigger names its table. */
  sourceTableStreamArn: string;
  /** The fleet's APPLICATION_NAME: the unfinished-shards metric's dimension value. */
  applicationName: string;
  awsRegion: string;
  /** Default `classic`. */
  mode?: ScalingMode;
  /** Shards per pod. Default 2. */
  shardCount?: number;
  /** Default 0. */
  activationShardCount?: number;
  /** Default 0 (classic) or 1 (unfinished-shards). */
  minReplicaCount?: number;
  /** Default 100. */
  maxReplicaCount?: number;
  /** Seconds between KEDA's polls. Default 30. */
  pollingIntervalSeconds?: number;
  /** Default 300. */
  cooldownPeriodSeconds?: number;
  /** Sets the HPA's scale-down stabilisation window when given (the HPA's default is 300 s). */
  scaleDownStabilizationSeconds?: number;
}

/**
 * The ScaledObject. `classic`: KEDA's `aws-dynamodb-streams` trigger, one pod per `shardCount` shards that
 * DescribeStream lists, closed ones included. `unfinished-shards`: an `aws-cloudwatch` trigger on the
 * fleet's own `Streamfleet/UnfinishedShards` metric (dimension ApplicationName), one pod per `shardCount`
 * shards that still have work. The metric is published by the control plane's verify workflow (the
 * publish-metrics step, core/verification/fleet-metrics.ts); that mode keeps at least one pod.
 */
export function consumerScaledObject(input: ScaledObjectInput): ScaledObject {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Subdomain('name', input.name);
  const deploymentName = requireDns1123Label('deploymentName', input.deploymentName);
  const triggerAuthenticationName = requireDns1123Subdomain(
    'triggerAuthenticationName',
    input.triggerAuthenticationName,
  );
  const stream = parseStreamArn(input.sourceTableStreamArn, 'sourceTableStreamArn');
  const applicationName = requireTableName('applicationName', input.applicationName);
  const awsRegion = requireStreamRegion(input.awsRegion, stream.region);
  const mode = input.mode ?? ScalingMode.Classic;
  if (mode !== ScalingMode.Classic && mode !== ScalingMode.UnfinishedShards) {
    throw new InvalidInputError(
      'mode',
      `expected ${ScalingMode.Classic} or ${ScalingMode.UnfinishedShards}, got ${describeValue(mode)}`,
    );
  }
  const defaultMin = mode === ScalingMode.Classic ? KEDA_DEFAULTS.minReplicaCount : 1;
  const config = scalingConfig({
    shardCount: input.shardCount,
    activationShardCount: input.activationShardCount,
    minReplicaCount: input.minReplicaCount ?? defaultMin,
    maxReplicaCount: input.maxReplicaCount,
    cooldownPeriodSeconds: input.cooldownPeriodSeconds,
    scaleDownStabilizationSeconds: input.scaleDownStabilizationSeconds,
  });
  if (mode === ScalingMode.UnfinishedShards && config.minReplicaCount < 1) {
    throw new InvalidInputError(
      'minReplicaCount',
      'expected at least 1 in unfinished-shards mode: the workers publish UnfinishedShards, so a fleet at zero pods would publish nothing and never scale up',
    );
  }
  const pollingInterval = requireInteger(
    'pollingIntervalSeconds',
    input.pollingIntervalSeconds ?? KEDA_DEFAULTS.pollingIntervalSeconds,
    { min: 1 },
  );
  const authenticationRef = { name: triggerAuthenticationName };
  const trigger: ScaledObjectTrigger =
    mode === ScalingMode.Classic
      ? {
          type: TriggerType.DynamoDbStreams,
          metadata: {
            tableName: stream.tableName,
            awsRegion,
            shardCount: String(config.shardCount),
            activationShardCount: String(config.activationShardCount),
          },
          authenticationRef,
        }
      : {
          type: TriggerType.CloudWatch,
          metadata: {
            namespace: UNFINISHED_SHARDS_METRIC.namespace,
            metricName: UNFINISHED_SHARDS_METRIC.metricName,
            dimensionName: UNFINISHED_SHARDS_METRIC.dimensionName,
            dimensionValue: applicationName,
            targetMetricValue: String(config.shardCount),
            activationTargetMetricValue: String(config.activationShardCount),
            minMetricValue: '0',
            awsRegion,
            ...CLOUDWATCH_QUERY,
          },
          authenticationRef,
        };

  return validated(
    new ScaledObject({
      metadata: { name, namespace, labels: standardLabels(deploymentName) },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deploymentName },
        pollingInterval,
        cooldownPeriod: config.cooldownPeriodSeconds,
        minReplicaCount: config.minReplicaCount,
        maxReplicaCount: config.maxReplicaCount,
        ...(input.scaleDownStabilizationSeconds === undefined
          ? {}
          : {
              advanced: {
                horizontalPodAutoscalerConfig: {
                  behavior: {
                    scaleDown: { stabilizationWindowSeconds: config.scaleDownStabilizationSeconds },
                  },
                },
              },
            }),
        triggers: [trigger],
      },
    }),
    'ScaledObject',
  );
}

// --- The whole fleet ------------------------------------------------------------------------------------

export interface ConsumerFleetInput
  extends Omit<DeploymentInput, 'serviceAccountName'>,
    Pick<
      ScaledObjectInput,
      | 'mode'
      | 'shardCount'
      | 'activationShardCount'
      | 'minReplicaCount'
      | 'maxReplicaCount'
      | 'pollingIntervalSeconds'
      | 'cooldownPeriodSeconds'
      | 'scaleDownStabilizationSeconds'
    > {
  /** The consumer's IRSA role. */
  roleArn: string;
  /** The fleet's scaler role, which KEDA assumes for the trigger. */
  scalerRoleArn: string;
  /** Default: the Deployment's name. */
  serviceAccountName?: string;
}

/**
 * Everything `kubectl apply -f` needs for one fleet, in apply order: ServiceAccount, Role, RoleBinding,
 * Deployment, PodDisruptionBudget, TriggerAuthentication (`NAME-aws`), ScaledObject (`NAME`).
 */
export function consumerFleetManifests(
  input: ConsumerFleetInput,
): [ServiceAccount, Role, RoleBinding, Deployment, PodDisruptionBudget, TriggerAuthentication, ScaledObject] {
  const name = requireDns1123Label('name', input.name);
  const serviceAccountName = input.serviceAccountName ?? name;
  const triggerAuthenticationName = `${name}-aws`;
  return [
    consumerServiceAccount({
      namespace: input.namespace,
      name: serviceAccountName,
      roleArn: input.roleArn,
      instance: name,
    }),
    consumerRole({ namespace: input.namespace, name, serviceAccountName }),
    consumerRoleBinding({ namespace: input.namespace, name, serviceAccountName }),
    consumerDeployment({ ...input, serviceAccountName }),
    consumerDisruptionBudget({ namespace: input.namespace, name }),
    kedaTriggerAuthentication({
      namespace: input.namespace,
      name: triggerAuthenticationName,
      instance: name,
      roleArn: input.scalerRoleArn,
    }),
    consumerScaledObject({
      ...pickDefined({
        mode: input.mode,
        shardCount: input.shardCount,
        activationShardCount: input.activationShardCount,
        minReplicaCount: input.minReplicaCount,
        maxReplicaCount: input.maxReplicaCount,
        pollingIntervalSeconds: input.pollingIntervalSeconds,
        cooldownPeriodSeconds: input.cooldownPeriodSeconds,
        scaleDownStabilizationSeconds: input.scaleDownStabilizationSeconds,
      }),
      namespace: input.namespace,
      name,
      deploymentName: name,
      triggerAuthenticationName,
      sourceTableStreamArn: input.sourceTableStreamArn,
      applicationName: input.applicationName,
      awsRegion: input.awsRegion,
    }),
  ];
}

function pickDefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// --- YAML -----------------------------------------------------------------------------------------------

/** Multi-document YAML (`---` between documents), no line folding, for `kubectl apply -f`. */
export function renderManifestsYaml(manifests: readonly Manifest[]): string {
  return manifests
    .map((manifest) => {
      const data = typeof manifest.toJSON === 'function' ? (manifest.toJSON as () => unknown)() : manifest;
      return stringify(data, { lineWidth: 0 });
    })
    .join('---\n');
}
