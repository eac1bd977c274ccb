/**
 * What happens in the local cluster, as typed events: Deployments created, held or deleted, pods started,
 * crashed and stopped, and the local KEDA's decisions and failures. The rest of local mode subscribes to
 * them (npm start retells KEDA's decisions as core/kubernetes/keda.ts's arithmetic from the event's own numbers), and
 * each is also written as one log line, `describeClusterEvent`, kept for people and the report.
 */
import type { ScalingConfig, ScalingReason } from '../../core/kubernetes/keda.js';

export const ClusterEventKind = {
  DeploymentCreated: 'deployment.created',
  /** Its pods cannot start (a missing ServiceAccount). */
  DeploymentHeld: 'deployment.held',
  DeploymentDeleted: 'deployment.deleted',
  PodStarted: 'pod.started',
  /** The pod's process exited on its own; it is restarted after a backoff (restartPolicy Always). */
  PodExited: 'pod.exited',
  PodStopped: 'pod.stopped',
  KedaOperatorRestarted: 'keda.operator-restarted',
  /** A KEDA tick changed the scale target's replica count. */
  KedaScaled: 'keda.scaled',
  /** A ScaledObject cannot be served (no credentials, a refusal, a missing target); said once per message. */
  KedaFailing: 'keda.failing',
  KedaDeleted: 'keda.deleted',
} as const;
export type ClusterEventKind = (typeof ClusterEventKind)[keyof typeof ClusterEventKind];

export type ClusterEvent =
  | { kind: typeof ClusterEventKind.DeploymentCreated; namespace: string; name: string; replicas: number }
  | { kind: typeof ClusterEventKind.DeploymentHeld; namespace: string; name: string; failure: string }
  | { kind: typeof ClusterEventKind.DeploymentDeleted; namespace: string; name: string }
  | { kind: typeof ClusterEventKind.PodStarted; pod: string; port: number }
  | {
      kind: typeof ClusterEventKind.PodExited;
      pod: string;
      code: number | null;
      signal: NodeJS.Signals | null;
      restart: number;
      /** The end of what the process wrote. */
      output: string;
    }
  | { kind: typeof ClusterEventKind.PodStopped; pod: string }
  | { kind: typeof ClusterEventKind.KedaOperatorRestarted; roleArn: string | undefined }
  | {
      kind: typeof ClusterEventKind.KedaScaled;
      /** The scale target (the Deployment). */
      namespace: string;
      name: string;
      from: number;
      to: number;
      metric: number;
      reason: ScalingReason;
      /** The ScaledObject's numbers in force at this tick. */
      config: ScalingConfig;
    }
  | { kind: typeof ClusterEventKind.KedaFailing; scaledObject: string; message: string }
  | { kind: typeof ClusterEventKind.KedaDeleted; namespace: string; name: string };

/** The event's log line (a crashed pod's output follows on further lines). */
export function describeClusterEvent(event: ClusterEvent): string {
  switch (event.kind) {
    case ClusterEventKind.DeploymentCreated:
      return `Deployment ${event.namespace}/${event.name} created with ${event.replicas} replicas`;
    case ClusterEventKind.DeploymentHeld:
      return `Deployment ${event.namespace}/${event.name}: ${event.failure}`;
    case ClusterEventKind.DeploymentDeleted:
      return `Deployment ${event.namespace}/${event.name} deleted`;
    case ClusterEventKind.PodStarted:
      return `Pod ${event.pod} started (port ${event.port})`;
    case ClusterEventKind.PodExited:
      return `Pod ${event.pod} exited (code ${event.code}, signal ${event.signal}); restart ${event.restart}\n${event.output}`;
    case ClusterEventKind.PodStopped:
      return `Pod ${event.pod} stopped`;
    case ClusterEventKind.KedaOperatorRestarted:
      return `KEDA operator restarted with role ${event.roleArn ?? '(none)'}`;
    case ClusterEventKind.KedaScaled:
      return `KEDA: ${event.namespace}/${event.name} ${event.from} → ${event.to} replicas (metric ${event.metric}, ${event.reason})`;
    case ClusterEventKind.KedaFailing:
      return `ScaledObject ${event.scaledObject}: ${event.message}`;
    case ClusterEventKind.KedaDeleted:
      return `ScaledObject ${event.namespace}/${event.name} deleted: scaling stops`;
  }
}

export type ClusterEventListener = (event: ClusterEvent) => void;

/** Where the cluster's events go: its subscribers, and a log of the newest lines, time-stamped. */
export class ClusterEvents {
  /** The newest 500 lines, `<ISO time> text`. */
  readonly lines: string[] = [];
  private readonly listeners = new Set<ClusterEventListener>();

  constructor(private readonly log?: (line: string) => void) {}

  subscribe(listener: ClusterEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ClusterEvent): void {
    const stamped = `${new Date().toISOString()} ${describeClusterEvent(event)}`;
    this.lines.push(stamped);
    if (this.lines.length > 500) this.lines.shift();
    this.log?.(stamped);
    for (const listener of this.listeners) listener(event);
  }
}
