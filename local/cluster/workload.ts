/**
 * What a Streamfleet Deployment runs on the local cluster, as plain data: its pods (one worker process each)
 * and the replica count it wants, read from the Deployment's pod template; and its rollout as
 * `kubectl rollout status` would say it. Pure: the controller (deployment-controller.ts) changes these.
 */
import type { ManifestObject, PodStatus, RolloutStatus } from '../../core/cluster.js';
import type { SessionCredentials } from '../identities/sts.js';
import type { LaunchedWorker } from './launcher.js';

export interface Pod {
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
  /** The first container's variables that have a plain value (valueFrom is the cluster's to fill). */
  env: Record<string, string>;
  port: number;
  serviceAccount: string;
  /** terminationGracePeriodSeconds. */
  grace: number;
}

/** The Deployment's pod template, or undefined when it has no container. */
export function podTemplate(deployment: ManifestObject | undefined): PodTemplate | undefined {
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
  return {
    env,
    port: Number(env.PORT ?? 8080),
    serviceAccount: String(podSpec.serviceAccountName ?? 'default'),
    grace: Number(podSpec.terminationGracePeriodSeconds ?? 30),
  };
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
