/**
 * The local cluster's log lines, read for the live view. The cluster (local/cluster/local-cluster.ts) logs
 * text; this reads the two kinds the view says differently: KEDA's decisions, retold as arithmetic with
 * core/keda.ts's `explainScalingDecision`, and pod lines, which the view takes from the launcher instead
 * (local/start/processes.ts: every start, restart and exit). Anything else is shown as the cluster wrote it.
 * The raw lines are kept in the report's `clusterEvents` whatever this makes of them.
 */

export type ClusterLine =
  | { kind: 'keda'; from: number; to: number; metric: number; reason: string }
  | { kind: 'pod' }
  | { kind: 'other'; text: string };

const KEDA_LINE = /^KEDA: \S+ (\d+) → (\d+) replicas \(metric (\d+), ([a-z-]+)\)$/;

/** One cluster log line ("<ISO time> text", a crashed pod's output on further lines). */
export function readClusterLine(line: string): ClusterLine {
  const text = line.replace(/^\S+Z /, '').split('\n')[0] ?? '';
  const keda = KEDA_LINE.exec(text);
  if (keda) {
    return {
      kind: 'keda',
      from: Number(keda[1]),
      to: Number(keda[2]),
      metric: Number(keda[3]),
      reason: keda[4] as string,
    };
  }
  if (text.startsWith('Pod ')) return { kind: 'pod' };
  return { kind: 'other', text };
}
