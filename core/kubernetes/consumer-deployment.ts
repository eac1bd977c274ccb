/** The worker's Deployment: its pods, their environment, probes, resources, and the grace period a drain needs. */
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { parseStreamArn } from '../vocabulary/arns.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import {
  describeValue,
  requireAwsRegion,
  requireDns1123Label,
  requireDns1123Subdomain,
  requireInteger,
  requireTableName,
} from '../vocabulary/validation.js';
import {
  CONSUMER_DEFAULTS,
  ENV_NAME,
  IMAGE,
  podSelector,
  RESERVED_ENV,
  type ResourceSpec,
  requireQuantity,
  selectorLabels,
  standardLabels,
  validated,
} from './manifests.js';

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

/** Annotations the common Prometheus `kubernetes-pods` scrape configuration reads. */
export function prometheusAnnotations(port: number): Record<string, string> {
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(port),
    'prometheus.io/path': '/metrics',
  };
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

export function requireStreamRegion(value: unknown, streamRegion: string): string {
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
