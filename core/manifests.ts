/**
 * Kubernetes manifests for one consumer fleet on EKS: the IRSA ServiceAccount, the worker Deployment, and
 * KEDA's TriggerAuthentication and ScaledObject. Every builder checks its input first (InvalidInputError
 * naming the field), then builds a typed `kubernetes-models` object and runs its schema `.validate()`.
 * `renderManifestsYaml` prints them for `kubectl apply -f`.
 */
import {
  type IScaledObject,
  ScaledObject,
  TriggerAuthentication,
} from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { stringify } from 'yaml';
import { parseRoleArn, parseStreamArn } from './arns.js';
import { InvalidInputError } from './errors.js';
import { KEDA_DEFAULTS, ScalingMode, scalingConfig, UNFINISHED_SHARDS_METRIC } from './keda.js';
import {
  describeValue,
  requireAwsRegion,
  requireDns1123Label,
  requireDns1123Subdomain,
  requireInteger,
  requireTableName,
} from './validation.js';

/** The annotation the EKS pod identity webhook reads to inject IRSA credentials. */
export const IRSA_ROLE_ANNOTATION = 'eks.amazonaws.com/role-arn';

export const CONSUMER_DEFAULTS = {
  port: 8080,
  /** ≥ the worker's drain time (it exits well inside 30 s after SIGTERM), with room to spare. */
  terminationGracePeriodSeconds: 45,
  /** How long the worker takes to drain after SIGTERM: finish the batch, checkpoint, release leases. */
  drainSeconds: 30,
  runAsUser: 1000,
  containerName: 'consumer',
  resources: {
    requests: { cpu: '250m', memory: '256Mi' },
    limits: { cpu: '1', memory: '512Mi' },
  },
} as const;

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
  /** TARGET_TABLE_NAME. */
  targetTableName: string;
  /** APPLICATION_NAME: the fleet's name and its lease table's name. */
  applicationName: string;
  /** AWS_REGION; must be the stream's region. */
  awsRegion: string;
  /** PORT, serving /healthz, /readyz and /metrics. Default 8080. */
  port?: number;
  /** Leave unset when KEDA scales the Deployment, so `kubectl apply` never resets the count. */
  replicas?: number;
  resources?: ResourceSpec;
  /** Default 45; must be at least `drainSeconds`. */
  terminationGracePeriodSeconds?: number;
  /** How long the worker needs after SIGTERM. Default 30. */
  drainSeconds?: number;
  /** Further variables (tuning knobs). Must not redefine the six the builder sets. */
  env?: Record<string, string>;
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
  const targetTableName = requireTableName('targetTableName', input.targetTableName);
  const applicationName = requireTableName('applicationName', input.applicationName);
  const awsRegion = requireStreamRegion(input.awsRegion, stream.region);
  const port = requireInteger('port', input.port ?? CONSUMER_DEFAULTS.port, { min: 1, max: 65535 });
  const drainSeconds = requireInteger('drainSeconds', input.drainSeconds ?? CONSUMER_DEFAULTS.drainSeconds, {
    min: 0,
  });
  const grace = requireInteger(
    'terminationGracePeriodSeconds',
    input.terminationGracePeriodSeconds ?? CONSUMER_DEFAULTS.terminationGracePeriodSeconds,
    { min: 0 },
  );
  if (grace < drainSeconds) {
    throw new InvalidInputError(
      'terminationGracePeriodSeconds',
      `expected at least drainSeconds (${drainSeconds}) so Kubernetes does not kill a worker mid-drain, got ${grace}`,
    );
  }
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
          metadata: { labels },
          spec: {
            serviceAccountName,
            terminationGracePeriodSeconds: grace,
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
                  { name: 'TARGET_TABLE_NAME', value: targetTableName },
                  { name: 'APPLICATION_NAME', value: applicationName },
                  { name: 'AWS_REGION', value: awsRegion },
                  {
                    name: 'INSTANCE_NAME',
                    valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
                  },
                  { name: 'PORT', value: String(port) },
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

// --- KEDA -----------------------------------------------------------------------------------------------

export interface TriggerAuthenticationInput {
  namespace: string;
  name: string;
  /** The fleet's `app.kubernetes.io/instance` label. Default: `name`. */
  instance?: string;
}

/**
 * KEDA authenticates to AWS with the operator's own IRSA identity (`podIdentity.provider: aws`). The
 * recipe's `identityOwner: operator` trigger metadata is deprecated since KEDA 2.13; this is its successor.
 */
export function kedaTriggerAuthentication(input: TriggerAuthenticationInput): TriggerAuthentication {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Subdomain('triggerAuthenticationName', input.name);
  const instance = requireDns1123Label('instance', input.instance ?? name);
  return validated(
    new TriggerAuthentication({
      metadata: { name, namespace, labels: standardLabels(instance) },
      spec: { podIdentity: { provider: 'aws' } },
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
 * publish-metrics step, core/fleet-metrics.ts); that mode keeps at least one pod.
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
  /** Default: the Deployment's name. */
  serviceAccountName?: string;
}

/**
 * Everything `kubectl apply -f` needs for one fleet, in apply order: ServiceAccount, Deployment,
 * TriggerAuthentication (`NAME-aws`), ScaledObject (`NAME`).
 */
export function consumerFleetManifests(
  input: ConsumerFleetInput,
): [ServiceAccount, Deployment, TriggerAuthentication, ScaledObject] {
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
    consumerDeployment({ ...input, serviceAccountName }),
    kedaTriggerAuthentication({
      namespace: input.namespace,
      name: triggerAuthenticationName,
      instance: name,
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
