/**
 * What a Streamfleet Deployment runs on the local cluster, as plain data: its pods (one worker process each)
 * and the replica count it wants, read from the Deployment's pod template; and its rollout as
 * `kubectl rollout status` would say it. Pure: the controller (deployment-controller.ts) changes these.
 */
import type { ManifestObject, PodStatus, RolloutStatus } from '../../core/kubernetes/cluster.js';
import type { SessionCredentials } from '../identities/sts.js';
import type { LaunchedWorker } from './launcher.js';

/** A container's state as the kubelet reports it in `status.containerStatuses[].state`. */
export interface ContainerState {
  /** waiting: not started yet, or waiting to be started again; running; terminated: exited. */
  phase: 'waiting' | 'running' | 'terminated';
  /** ContainerCreating, CrashLoopBackOff (waiting); Error, Completed (terminated). */
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  signal?: number;
}

export interface Pod {
  name: string;
  uid: string;
  /** ISO time the pod was created (metadata.creationTimestamp). */
  createdAt: string;
  port: number;
  worker: LaunchedWorker;
  ready: boolean;
  restarts: number;
  stopping: boolean;
  /** ISO time its deletion began (metadata.deletionTimestamp): it is being stopped (SIGTERM, then SIGKILL). */
  deletingAt?: string;
  /** The worker container's state now, and how it last ended (`lastState.terminated`). */
  container: ContainerState;
  lastTerminated?: ContainerState;
  /** The API's resourceVersion of this pod's latest state (set by the pod feed). */
  resourceVersion: string;
  templateHash: string;
  /** The template it was created from (its labels and container, as its API object shows them). */
  template: PodTemplate | undefined;
  /** The pod's IRSA session, issued when the pod starts and kept across restarts of its container. */
  credentials: SessionCredentials | undefined;
}

export interface Workload {
  namespace: string;
  name: string;
  desired: number;
  pods: Pod[];
  templateHash: string;
  failure: string | undefined;
}

/** What a pod of the Deployment is started with. */
export interface PodTemplate {
  /** The first container's variables that have a plain value. */
  env: Record<string, string>;
  /** Its variables the downward API fills (`valueFrom.fieldRef`): name → metadata.name / metadata.namespace. */
  fieldEnv: Record<string, string>;
  port: number;
  serviceAccount: string;
  /** terminationGracePeriodSeconds. */
  grace: number;
  /** The pod template's labels (its pods carry them). */
  labels: Record<string, string>;
  /** The first container as the template declares it (the pod object's spec shows it). */
  container: Record<string, unknown>;
}

/** The Deployment's pod template, or undefined when it has no container. */
export function podTemplate(deployment: ManifestObject | undefined): PodTemplate | undefined {
  const podSpec = (deployment?.spec as { template?: { spec?: Record<string, unknown> } } | undefined)
    ?.template?.spec;
  const container = (
    podSpec?.containers as
      | {
          env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }[];
        }[]
      | undefined
  )?.[0];
  if (!podSpec || !container) return undefined;
  const env: Record<string, string> = {};
  const fieldEnv: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    if (fieldPath !== undefined) fieldEnv[variable.name] = fieldPath;
  }
  const metadata = (deployment?.spec as { template?: { metadata?: { labels?: Record<string, string> } } })
    ?.template?.metadata;
  return {
    env,
    fieldEnv,
    port: Number(env.PORT ?? 8080),
    serviceAccount: String(podSpec.serviceAccountName ?? 'default'),
    grace: Number(podSpec.terminationGracePeriodSeconds ?? 30),
    labels: { ...(metadata?.labels ?? {}) },
    container: structuredClone(container) as Record<string, unknown>,
  };
}

/** The downward API: a pod's own name and namespace for the variables that ask for them. */
export function downwardEnv(
  template: PodTemplate,
  pod: { name: string; namespace: string },
): Record<string, string> {
  const fields: Record<string, string> = { 'metadata.name': pod.name, 'metadata.namespace': pod.namespace };
  const env: Record<string, string> = {};
  for (const [name, fieldPath] of Object.entries(template.fieldEnv)) {
    const value = fields[fieldPath];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** A Deployment's template as one comparable text: pods of another text belong to an older rollout. */
export function templateHash(deployment: ManifestObject): string {
  return JSON.stringify((deployment.spec as { template?: unknown } | undefined)?.template ?? {});
}

/** The pods that are not being stopped, as the `Cluster` port reports them. */
export function podStatuses(workload: Workload | undefined): PodStatus[] {
  return (workload?.pods ?? [])
    .filter((p) => !p.stopping)
    .map((p) => ({ name: p.name, ready: p.ready, restarts: p.restarts }));
}

/** Where the workload's rollout stands: every pod on the current template and ready, or what it waits for. */
export function workloadRollout(workload: Workload | undefined): RolloutStatus {
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
