/**
 * The local cluster's pods as the Kubernetes API serves them: each pod's state as a `v1 Pod` object (labels of
 * its template, the worker container as declared, `status.containerStatuses[].state` running / terminated /
 * waiting with `lastState`, `restartCount`, a `deletionTimestamp` while it is being stopped), and every change
 * as a watch event with a cluster-wide increasing `resourceVersion`. A watch from a resourceVersion gets the
 * events after it from a bounded history, or a 410 Gone when that is too old, as from a real API server.
 */
import type { Pod, Workload } from './workload.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodWatchEvent {
  type: WatchEventType;
  resourceVersion: number;
  namespace: string;
  object: PodJson;
}

export type PodJson = {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    ownerReferences: unknown[];
  };
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
};

const HISTORY = 1_000;

function stateJson(state: Pod['container']): Record<string, unknown> {
  if (state.phase === 'running') return { running: { startedAt: state.startedAt } };
  if (state.phase === 'waiting') return { waiting: { reason: state.reason } };
  return {
    terminated: {
      exitCode: state.exitCode,
      ...(state.signal !== undefined ? { signal: state.signal } : {}),
      reason: state.reason,
      startedAt: state.startedAt,
      finishedAt: state.finishedAt,
    },
  };
}

/** The pod as `GET /api/v1/namespaces/NS/pods/NAME` answers it. */
export function podJson(workload: Workload, pod: Pod): PodJson {
  const template = pod.template;
  const container = template?.container ?? { name: 'consumer' };
  const containerName = String(container.name ?? 'consumer');
  const running = pod.container.phase === 'running';
  const condition = (type: string, value: boolean) => ({ type, status: value ? 'True' : 'False' });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: workload.namespace,
      uid: pod.uid,
      resourceVersion: pod.resourceVersion,
      creationTimestamp: pod.createdAt,
      labels: { ...(template?.labels ?? {}) },
      ...(pod.deletingAt
        ? { deletionTimestamp: pod.deletingAt, deletionGracePeriodSeconds: template?.grace ?? 30 }
        : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: workload.name, controller: true }],
    },
    spec: {
      serviceAccountName: template?.serviceAccount ?? 'default',
      terminationGracePeriodSeconds: template?.grace ?? 30,
      nodeName: 'local',
      restartPolicy: 'Always',
      containers: [container],
    },
    status: {
      phase: pod.container.phase === 'waiting' && pod.restarts === 0 ? 'Pending' : 'Running',
      hostIP: '127.0.0.1',
      podIP: '127.0.0.1',
      startTime: pod.createdAt,
      conditions: [condition('Ready', pod.ready), condition('ContainersReady', pod.ready)],
      containerStatuses: [
        {
          name: containerName,
          ready: pod.ready,
          started: running,
          restartCount: pod.restarts,
          image: String(container.image ?? 'streamfleet:local'),
          state: stateJson(pod.container),
          lastState: pod.lastTerminated ? stateJson(pod.lastTerminated) : {},
        },
      ],
    },
  };
}

/** Every change of every pod, numbered; listeners hear each as it happens. */
export class PodFeed {
  private version = 1;
  private readonly history: PodWatchEvent[] = [];
  private readonly listeners = new Set<(event: PodWatchEvent) => void>();

  /** The newest resourceVersion (a list's `metadata.resourceVersion`). */
  resourceVersion(): number {
    return this.version;
  }

  /** Numbers the pod's new state and tells the watchers. */
  record(type: WatchEventType, workload: Workload, pod: Pod): void {
    this.version++;
    pod.resourceVersion = String(this.version);
    const event: PodWatchEvent = {
      type,
      resourceVersion: this.version,
      namespace: workload.namespace,
      object: podJson(workload, pod),
    };
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.shift();
    for (const listener of this.listeners) listener(event);
  }

  /** The events after `resourceVersion`, or 'gone' when some of them are no longer kept. */
  since(resourceVersion: number): PodWatchEvent[] | 'gone' {
    const oldest = this.history[0]?.resourceVersion ?? this.version + 1;
    if (resourceVersion + 1 < oldest && resourceVersion < this.version) return 'gone';
    return this.history.filter((event) => event.resourceVersion > resourceVersion);
  }

  subscribe(listener: (event: PodWatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
