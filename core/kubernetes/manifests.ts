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
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseRoleArn } from '../vocabulary/arns.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import { describeValue, requireDns1123Label, requireDns1123Subdomain } from '../vocabulary/validation.js';

/** The annotation the EKS pod identity webhook reads to inject IRSA credentials. */
export const IRSA_ROLE_ANNOTATION = 'eks.amazonaws.com/role-arn';

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

export const RESERVED_ENV = [
  'SOURCE_TABLE_STREAM_ARN',
  'TARGET_TABLE_NAME',
  'APPLICATION_NAME',
  'AWS_REGION',
  'INSTANCE_NAME',
  'PORT',
  'PEER_POD_SELECTOR',
  'POD_NAMESPACE',
] as const;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
export const IMAGE = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/;

/** Anything `renderManifestsYaml` can print: a kubernetes-models object or a plain manifest. */
export type Manifest = { toJSON(): unknown } | Record<string, unknown>;

export interface ResourceSpec {
  requests: { cpu: string; memory: string };
  limits: { cpu?: string; memory: string };
}

export function standardLabels(instance: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'streamfleet',
    'app.kubernetes.io/instance': instance,
    'app.kubernetes.io/component': 'consumer',
    'app.kubernetes.io/part-of': 'streamfleet',
  };
}

export function selectorLabels(instance: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'streamfleet', 'app.kubernetes.io/instance': instance };
}

/** The label selector of a fleet's pods, as the workers watch them (PEER_POD_SELECTOR). */
export function podSelector(instance: string): string {
  return Object.entries(selectorLabels(instance))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

export function validated<T extends { validate(): void }>(model: T, kind: string): T {
  try {
    model.validate();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new InvalidInputError(kind, `the ${kind} does not match its schema: ${detail}`, { cause: error });
  }
  return model;
}

export function requireQuantity(field: string, value: unknown): string {
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
