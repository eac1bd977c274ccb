/**
 * The `Cluster` port: what the control plane needs from a Kubernetes cluster, in Kubernetes terms (objects
 * applied by server-side apply, read, deleted; a rollout restart; the scale of a Deployment). Two adapters:
 * `KubernetesCluster` (core/kubernetes/kubernetes.ts) talks to a real API server such as EKS; `LocalCluster`
 * (local/cluster) runs the same Deployment as worker processes on this machine and emulates KEDA with the
 * same replica arithmetic. Handlers never know which one they drive.
 */
import { PreconditionError } from '../vocabulary/errors.js';

/** The API group/version KEDA's custom resources live in. */
export const KEDA_API_VERSION = 'keda.sh/v1alpha1';

/** The HorizontalPodAutoscaler KEDA creates for a ScaledObject is named `keda-hpa-<ScaledObject name>`. */
export function kedaHpaName(scaledObjectName: string): string {
  return `keda-hpa-${scaledObjectName}`;
}

/** The field manager Streamfleet's server-side applies use. */
export const FIELD_MANAGER = 'streamfleet';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  /** Absent for cluster-scoped kinds (Namespace). */
  namespace?: string;
  name: string;
}

/** A manifest as plain JSON: apiVersion, kind, metadata.name (and namespace), the rest as the kind wants. */
export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface ClusterInfo {
  name: string;
  /** `eks` or `local`. */
  kind: string;
  /** The OIDC issuer service-account tokens are signed by (IRSA trusts it). */
  oidcIssuerUrl: string;
  /** Kubernetes version, when known. */
  version?: string;
}

export interface PodStatus {
  name: string;
  ready: boolean;
  /** Container restarts so far. */
  restarts: number;
}

export interface ScaleStatus {
  deployment:
    | {
        /** spec.replicas: what KEDA and the HPA last set (or the Deployment's own count). */
        desiredReplicas: number;
        readyReplicas: number;
      }
    | undefined;
  /** The ScaledObject and what KEDA reports about it. */
  scaledObject:
    | {
        ready: boolean;
        active: boolean;
        /** KEDA's or the HPA's message when not ready. */
        message?: string;
        /** The HPA's desired count (`keda-hpa-NAME` status), when it has one. */
        hpaDesiredReplicas?: number;
        /**
         * maxReplicaCount as the live ScaledObject's spec sets it (it may have been patched since the fleet's
         * input was written); absent when the spec leaves it to KEDA's default.
         */
        maxReplicaCount?: number;
      }
    | undefined;
  pods: PodStatus[];
}

/** Which Deployment's rollout to wait for, and for how long at most. */
export interface RolloutWait {
  namespace: string;
  name: string;
  timeoutMs: number;
}

/** Where a Deployment's rollout stands: what `kubectl rollout status` waits for. */
export interface RolloutStatus {
  /** Every replica runs the current pod template and is available. */
  complete: boolean;
  /** The Deployment controller gave up (progress deadline exceeded): waiting longer will not help. */
  stalled: boolean;
  desiredReplicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** What it waits for, in words (or that it is complete). */
  message: string;
}

/** The rollout of a Deployment as the API server reports it (spec, status, conditions). */
export function rolloutOf(deployment: ManifestObject): RolloutStatus {
  const spec = (deployment.spec ?? {}) as { replicas?: number };
  const status = (deployment.status ?? {}) as {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type?: string; reason?: string; message?: string }[];
  };
  const generation = (deployment.metadata as { generation?: number }).generation;
  const desired = spec.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const figures = {
    desiredReplicas: desired,
    updatedReplicas: updated,
    readyReplicas: status.readyReplicas ?? 0,
    availableReplicas: status.availableReplicas ?? 0,
  };
  const stalled = status.conditions?.find(
    (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded',
  );
  let message: string | undefined;
  if (generation !== undefined && (status.observedGeneration ?? 0) < generation)
    message = 'waiting for the Deployment controller to see the new spec';
  else if (stalled) message = `the rollout stalled: ${stalled.message ?? 'progress deadline exceeded'}`;
  else if (updated < desired) message = `${updated} of ${desired} replicas run the new template`;
  else if ((status.replicas ?? 0) > updated)
    message = `${(status.replicas ?? 0) - updated} old replicas are still terminating`;
  else if (figures.availableReplicas < updated)
    message = `${figures.availableReplicas} of ${updated} updated replicas are available`;
  return {
    complete: message === undefined,
    stalled: stalled !== undefined,
    ...figures,
    message: message ?? 'rolled out',
  };
}

export interface Cluster {
  readonly name: string;
  info(): Promise<ClusterInfo>;
  /** Whether the API server serves `apiVersion` (e.g. keda.sh/v1alpha1: KEDA's CRDs are installed). */
  servesApi(apiVersion: string): Promise<boolean>;
  /** Server-side apply (field manager `streamfleet`, conflicts forced); returns the object as stored. */
  apply(manifest: ManifestObject): Promise<ManifestObject>;
  get(ref: ObjectRef): Promise<ManifestObject | undefined>;
  /** True when something was deleted, false when it was not there. */
  delete(ref: ObjectRef): Promise<boolean>;
  /** `kubectl rollout restart`: a new pod-template annotation, so every pod is replaced. */
  restartDeployment(namespace: string, name: string): Promise<void>;
  /**
   * Waits (watching, not polling, where the cluster can be watched) until the Deployment's rollout is complete
   * or `timeoutMs` has passed, and says where it stands; undefined when there is no such Deployment.
   */
  waitForRollout(input: RolloutWait): Promise<RolloutStatus | undefined>;
  /** The Deployment's scale, the ScaledObject's state and the pods (selected by `app.kubernetes.io/instance`). */
  scaleStatus(input: {
    namespace: string;
    deploymentName: string;
    scaledObjectName: string;
  }): Promise<ScaleStatus>;
}

/**
 * A Kubernetes API server's `Status` for a failed request (apimachinery metav1.Status): what the local
 * Kubernetes API and the tests' fake one answer with, and what core/vocabulary/errors.ts reads back.
 */
export function failureStatus(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** A plain JSON copy of a kubernetes-models object (or of a plain manifest). */
export function toManifestObject(model: { toJSON(): unknown } | Record<string, unknown>): ManifestObject {
  const json = typeof model.toJSON === 'function' ? (model.toJSON as () => unknown)() : model;
  return JSON.parse(JSON.stringify(json)) as ManifestObject;
}

/** A ScaledObject's spec.maxReplicaCount; undefined when the spec leaves it to KEDA's default. */
export function scaledObjectMaxReplicas(scaledObject: ManifestObject | undefined): number | undefined {
  const max = (scaledObject?.spec as { maxReplicaCount?: unknown } | undefined)?.maxReplicaCount;
  return typeof max === 'number' && Number.isInteger(max) ? max : undefined;
}

export function refOf(manifest: ManifestObject): ObjectRef {
  return {
    apiVersion: manifest.apiVersion,
    kind: manifest.kind,
    name: manifest.metadata.name,
    ...(manifest.metadata.namespace === undefined ? {} : { namespace: manifest.metadata.namespace }),
  };
}

// --- Local clusters: a registry the local runtime fills and the handlers reach through the port ----------

const localClusters = new Map<string, Cluster>();

/** Called by the local runtime (local/cluster) when a local cluster starts; returns an unregister function. */
export function registerLocalCluster(cluster: Cluster): () => void {
  localClusters.set(cluster.name, cluster);
  return () => {
    if (localClusters.get(cluster.name) === cluster) localClusters.delete(cluster.name);
  };
}

/** The running local cluster with this name, or a PreconditionError naming the ones that run. */
export function findLocalCluster(name: string): Cluster {
  const cluster = localClusters.get(name);
  if (cluster) return cluster;
  const running = [...localClusters.keys()];
  throw new PreconditionError(
    `No local cluster named "${name}" is running${running.length ? ` (running: ${running.join(', ')})` : ''}.`,
    running.length
      ? `set fleet.clusterName to one of ${running.join(', ')}.`
      : 'start one first (startLocalCluster({ name }) from local/cluster, which npm start does), or check fleet.clusterName.',
  );
}

/** The error for a cluster without KEDA's CRDs, with the commands that install it. */
export function kedaMissing(clusterName: string): PreconditionError {
  return new PreconditionError(
    `KEDA is not installed on cluster ${clusterName} (the API server does not serve ${KEDA_API_VERSION}).`,
    'install it (helm repo add kedacore https://kedacore.github.io/charts && helm install keda kedacore/keda --namespace keda --create-namespace), then start the execution again.',
  );
}
