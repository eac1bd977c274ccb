/**
 * The local cluster's events as the live view tells them (local/cluster/events.ts): KEDA's decisions retold as
 * arithmetic with core/kubernetes/keda-explain.ts's `explainScalingDecision`, from the numbers the decision was made with (the
 * drill's lowered maxReplicaCount included); pod events left to the launcher, whose events say every start,
 * restart and exit (local/start/processes.ts); anything else as the cluster's log line says it. The log lines
 * themselves are kept in the report's `clusterEvents`.
 */
import { explainScalingDecision } from '../../core/kubernetes/keda-explain.js';
import { type ClusterEvent, ClusterEventKind, describeClusterEvent } from '../cluster/index.js';
import { RunEventKind } from './timeline.js';

const POD_EVENTS: ReadonlySet<ClusterEvent['kind']> = new Set([
  ClusterEventKind.PodStarted,
  ClusterEventKind.PodExited,
  ClusterEventKind.PodStopped,
]);

/** The line the run's timeline shows for a cluster event, or undefined when another source says it. */
export function clusterRunEvent(event: ClusterEvent): { kind: RunEventKind; text: string } | undefined {
  if (event.kind === ClusterEventKind.KedaScaled) {
    return { kind: RunEventKind.Keda, text: `KEDA ${explainScalingDecision(event, event.config)}` };
  }
  if (POD_EVENTS.has(event.kind)) return undefined;
  return { kind: RunEventKind.Cluster, text: describeClusterEvent(event).split('\n')[0] ?? '' };
}
