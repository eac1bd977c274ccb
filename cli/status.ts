/**
 * `streamfleet status`: the two checks the verify workflow runs (core/verification/checks.ts: verifyScaling and
 * verifyReplication), made from here — the cluster through the user's kubeconfig and the Kubernetes adapter,
 * DynamoDB with the user's credentials — and shown as a few lines, or as the verdicts in JSON.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { FleetSpec } from '../core/fleet/fleet.js';
import { describeLag } from '../core/fleet/lag.js';
import { userKubeConfig } from '../core/kubernetes/kubeconfig.js';
import { KubernetesCluster } from '../core/kubernetes/kubernetes.js';
import {
  type ReplicationVerdict,
  type ScalingVerdict,
  verifyReplication,
  verifyScaling,
} from '../core/verification/checks.js';
import type { Env } from './args.js';

export interface FleetStatus {
  fleet: { name: string; namespace: string; clusterName: string; kubeContext: string };
  /** The lease table was read twice (--sample-leases), so expired leases were looked for. */
  sampledLeases: boolean;
  healthy: boolean;
  scaling: ScalingVerdict;
  replication: ReplicationVerdict;
}

export async function fleetStatus(input: {
  fleet: FleetSpec;
  region: string;
  context: string | undefined;
  sampleLeases: boolean;
  env: Env;
}): Promise<FleetStatus> {
  const { fleet } = input;
  const { kubeConfig, clusterName, context } = userKubeConfig({
    env: input.env,
    ...(input.context === undefined ? {} : { context: input.context }),
  });
  const cluster = new KubernetesCluster(
    { name: clusterName, kind: 'kubeconfig', oidcIssuerUrl: '' },
    kubeConfig,
  );
  const dynamodb = new DynamoDBClient({ region: input.region });
  const streams = new DynamoDBStreamsClient({ region: input.region });
  try {
    const [scaling, replication] = await Promise.all([
      verifyScaling(
        { dynamodb, streams, cluster },
        { fleet, sampleLeases: input.sampleLeases, graceRead: true },
      ),
      verifyReplication({ dynamodb, streams }, { fleet }),
    ]);
    return {
      fleet: { name: fleet.name, namespace: fleet.namespace, clusterName, kubeContext: context },
      sampledLeases: input.sampleLeases,
      healthy: scaling.healthy && replication.healthy,
      scaling,
      replication,
    };
  } finally {
    dynamodb.destroy();
    streams.destroy();
  }
}

/** The lag bound from the lease table, with what it covers (core/fleet/lag.ts). */
function lagText(replication: ReplicationVerdict): string {
  return `${describeLag(replication.figures.lag).replace(/^lag /, '')}; a bound from the lease table: now − each shard's last recorded progress`;
}

export function renderStatus(status: FleetStatus): string[] {
  const { scaling, replication } = status;
  const f = scaling.figures;
  const c = f.cluster;
  const pods = [
    ...f.workers.live.map((p) => `${p} ready`),
    ...f.workers.notReady.map((p) => `${p} not ready`),
  ];
  const byOwner = Object.entries(f.leases.byOwner)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([owner, n]) => `${owner}: ${n}`);
  const lines = [
    `Fleet        ${status.fleet.namespace}/${status.fleet.name} on ${status.fleet.clusterName} (context ${status.fleet.kubeContext})`,
    `Deployment   ${c.desiredReplicas} desired · ${c.readyReplicas} ready${pods.length ? ` · ${pods.join(', ')}` : ''}`,
    `KEDA         ScaledObject ${c.scalerReady === null ? 'absent' : c.scalerReady ? 'ready' : 'NOT ready'} · HPA desired ${c.hpaDesiredReplicas ?? '-'} · KEDA's trigger ${f.keda.arithmetic ?? f.keda.steadyStateReplicas} · needed ${f.needed.arithmetic ?? f.needed.replicas}`,
    `Shards       ${f.shards.total} listed · ${f.shards.open} open · ${f.shards.closed} closed · ${f.shards.unfinished} unfinished`,
    `Leases       ${byOwner.length ? byOwner.join(' · ') : 'none held'} (unfinished, per worker) · ${f.leases.unowned} unowned${f.leases.awaitingOwner > 0 ? ` (${f.leases.awaitingOwner} new, for a lease taker's next pass)` : ''} · ${status.sampledLeases ? `${f.leases.expired} expired` : 'expired: not sampled (--sample-leases)'}`,
    `Lag          ${lagText(replication)}`,
    `Replication  ${replication.summary}`,
    `Verdict      ${status.healthy ? 'healthy' : 'UNHEALTHY'}`,
  ];
  for (const reason of [
    ...scaling.reasons.map((r) => `scaling: ${r}`),
    ...replication.reasons.map((r) => `replication: ${r}`),
  ])
    lines.push(`             ${reason}`);
  return lines;
}
