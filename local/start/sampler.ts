/**
 * One look at the whole fleet, taken about once a second for the live view and the report: the load's
 * progress (the source table's item count), the stream's shards (DescribeStream), the lease table (a
 * consistent scan), what the local cluster runs (its snapshot and KEDA's last decision), and each worker's
 * own /metrics (records processed, replication lag, leases held). Read-only: it never writes anything.
 *
 * Two lags: the workers' own gauge (`streamfleet_replication_lag_ms`, 0 once a shard is caught up, so a
 * once-a-second look mostly sees 0), and the end-to-end delay measured from item counts: how long ago the
 * source table held as many items as the replica holds now (see `endToEndDelayMs`).
 */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import {
  describeShards,
  type LeaseView,
  SHARD_END,
  scanLeases,
  shardStates,
} from '../../core/fleet/fleet-state.js';
import type { ScalingConfig } from '../../core/kubernetes/keda.js';
import { compareReplicas } from '../../core/kubernetes/keda-explain.js';
import { scalingInForce } from '../../core/verification/checks.js';
import { metricValue, parsePrometheusText } from '../../core/vocabulary/prometheus.js';
import type { LocalCluster, PodSnapshot } from '../cluster/index.js';

/** A pod as the cluster's snapshot has it, with what its worker's /metrics said. */
export interface PodSample extends PodSnapshot {
  /** From the worker's /metrics; null when it did not answer. */
  leasesHeld: number | null;
  processed: number | null;
  lagMs: number | null;
}

export interface Sample {
  /** Milliseconds since the run started. */
  t: number;
  phase: string;
  /** batchesStarted: GenerateLoad invocations begun (the Map state writes two at a time). */
  load: { written: number; target: number; batchesDone: number; batchesStarted?: number; batches: number };
  /** Null until the stream exists. */
  shards: { total: number; open: number; closed: number; closedFinished: number; unfinished: number } | null;
  /** KEDA's metric (every shard DescribeStream lists), what its formula asks for, and its last decision. */
  keda: { metric: number; asks: number; desired: number | null };
  /** The ScaledObject's numbers in force when the sample was taken (the drill lowers maxReplicaCount). */
  scaling: Pick<ScalingConfig, 'shardCount' | 'minReplicaCount' | 'maxReplicaCount' | 'activationShardCount'>;
  /** What the unfinished shards need: ceil(unfinished / shardCount), within min and max. */
  needed: number;
  workers: { desired: number; running: number; ready: number; pods: PodSample[] };
  leases: { total: number; unfinished: number; byOwner: Record<string, number>; unowned: number };
  /** records: the sum of every worker process's streamfleet_records_processed_total. */
  records: { processed: number; perSecond: number };
  /** Source writes per second (from the source table's item count). */
  writes: { perSecond: number };
  /** Items in the source and replica tables (DescribeTable's ItemCount, exact on DynamoDB Local). */
  items: { source: number | null; replica: number | null };
  /**
   * endToEndMs: how long ago the source held one item more than the replica holds now (0 when the replica
   * has them all). maxMs: the highest streamfleet_replication_lag_ms over the workers; byWorker: each one's.
   */
  lag: { endToEndMs: number | null; maxMs: number | null; byWorker: Record<string, number> };
  rollovers: number;
}

export interface SamplerDeps {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  cluster: LocalCluster;
  fleet: {
    name: string;
    namespace: string;
    sourceTableName: string;
    /** Absent when an example processor runs instead of replication: no replica to count. */
    replicaTableName: string | undefined;
    applicationName: string;
  };
  /** The fleet's scaling configuration; the live ScaledObject's maxReplicaCount wins (`scalingInForce`). */
  config: () => ScalingConfig;
  startedAtMs: number;
  phase: () => string;
  load: () => {
    target: number;
    batchesDone: number;
    batchesStarted: number;
    batches: number;
    itemsDone: number;
  };
  rollovers: () => number;
  /** Items already in the source table before this run's load (a persisted data folder). */
  baselineItems?: number;
}

const NO_LIMIT = 1_000_000;

export class Sampler {
  private streamArn: string | undefined;
  private readonly processedByPid = new Map<number, number>();
  private last: { t: number; processed: number; sourceItems: number } | undefined;
  private baseline: number | undefined;
  /** (t, source items) at every sample, for the end-to-end delay. */
  private readonly sourceHistory: { t: number; items: number }[] = [];
  /** The most recent lease table read (for the drill, which needs owners per shard). */
  leases: LeaseView[] = [];

  constructor(private readonly deps: SamplerDeps) {}

  /** Items in the source table when the load started; later counts are measured from it. */
  setBaseline(items: number): void {
    this.baseline = items;
  }

  async sourceItems(): Promise<number | undefined> {
    return this.itemCount(this.deps.fleet.sourceTableName);
  }

  private async itemCount(table: string): Promise<number | undefined> {
    try {
      const { Table } = await this.deps.dynamodb.send(new DescribeTableCommand({ TableName: table }));
      if (table === this.deps.fleet.sourceTableName && Table?.LatestStreamArn) {
        this.streamArn = Table.LatestStreamArn;
      }
      return Table?.ItemCount ?? 0;
    } catch {
      return undefined;
    }
  }

  async sample(): Promise<Sample> {
    const { deps } = this;
    const now = Date.now();
    const t = now - deps.startedAtMs;
    const [sourceItems, replicaItems, leases, scale] = await Promise.all([
      this.sourceItems(),
      deps.fleet.replicaTableName === undefined ? undefined : this.itemCount(deps.fleet.replicaTableName),
      scanLeases(deps.dynamodb, deps.fleet.applicationName).catch(() => undefined),
      deps.cluster.scaleStatus({
        namespace: deps.fleet.namespace,
        deploymentName: deps.fleet.name,
        scaledObjectName: deps.fleet.name,
      }),
    ]);
    // The numbers KEDA scales by now, as the scaling check reads them (core/verification/checks.ts).
    const config = scalingInForce(deps.config(), scale);
    if (leases) this.leases = leases;
    const shardViews = this.streamArn
      ? await describeShards(deps.streams, this.streamArn).catch(() => undefined)
      : undefined;

    const snapshot = deps.cluster.snapshot();
    const workload = snapshot.workloads.find((w) => w.name === deps.fleet.name);
    const scaler = snapshot.scalers[0];
    const pods = await Promise.all(
      (workload?.pods ?? []).map(async (pod): Promise<PodSample> => {
        const metrics = pod.port > 0 && !pod.stopping ? await readMetrics(pod.port) : undefined;
        const processed = metrics?.processed ?? null;
        if (pod.pid !== null && processed !== null) {
          this.processedByPid.set(pod.pid, Math.max(processed, this.processedByPid.get(pod.pid) ?? 0));
        }
        return {
          name: pod.name,
          pid: pod.pid,
          port: pod.port,
          ready: pod.ready,
          restarts: pod.restarts,
          stopping: pod.stopping,
          leasesHeld: metrics?.leasesHeld ?? null,
          processed,
          lagMs: metrics?.lagMs ?? null,
        };
      }),
    );

    const current = this.leases;
    const unfinished = current.filter((l) => l.checkpoint !== SHARD_END);
    const byOwner: Record<string, number> = {};
    for (const pod of pods) if (!pod.stopping) byOwner[pod.name] = 0;
    for (const lease of unfinished) {
      if (lease.leaseOwner !== undefined) byOwner[lease.leaseOwner] = (byOwner[lease.leaseOwner] ?? 0) + 1;
    }
    let shards: Sample['shards'] = null;
    let keda = { metric: 0, asks: 0, desired: scaler?.lastDecision ?? null };
    let needed = 0;
    if (shardViews) {
      const states = shardStates(shardViews, current);
      const unclamped = compareReplicas(states, { ...config, maxReplicaCount: NO_LIMIT });
      const clamped = compareReplicas(states, config);
      shards = unclamped.shards;
      keda = { metric: unclamped.classic.metric, asks: unclamped.classic.replicas, desired: keda.desired };
      needed = clamped.needed.replicas;
    }

    const processed = [...this.processedByPid.values()].reduce((a, b) => a + b, 0);
    const load = deps.load();
    const counted = sourceItems === undefined ? 0 : Math.max(0, sourceItems - (this.baseline ?? 0));
    const written = Math.min(load.target, Math.max(load.itemsDone, counted));
    const writesDelta = sourceItems !== undefined && this.last ? sourceItems - this.last.sourceItems : 0;
    const seconds = this.last ? (t - this.last.t) / 1000 : 0;
    const perSecond = (delta: number) => (seconds > 0 ? Math.max(0, delta) / seconds : 0);
    const sample: Sample = {
      t,
      phase: deps.phase(),
      load: {
        written,
        target: load.target,
        batchesDone: load.batchesDone,
        batchesStarted: load.batchesStarted,
        batches: load.batches,
      },
      shards,
      keda,
      scaling: {
        shardCount: config.shardCount,
        minReplicaCount: config.minReplicaCount,
        maxReplicaCount: config.maxReplicaCount,
        activationShardCount: config.activationShardCount,
      },
      needed,
      workers: {
        desired: workload?.desired ?? 0,
        running: pods.filter((p) => !p.stopping).length,
        ready: pods.filter((p) => p.ready && !p.stopping).length,
        pods,
      },
      leases: {
        total: current.length,
        unfinished: unfinished.length,
        byOwner,
        unowned: unfinished.filter((l) => l.leaseOwner === undefined).length,
      },
      records: { processed, perSecond: Math.round(perSecond(processed - (this.last?.processed ?? 0))) },
      writes: { perSecond: Math.round(perSecond(writesDelta)) },
      items: { source: sourceItems ?? null, replica: replicaItems ?? null },
      lag: {
        endToEndMs:
          sourceItems === undefined || replicaItems === undefined
            ? null
            : endToEndDelayMs(
                [...this.sourceHistory, { t, items: sourceItems }],
                t,
                sourceItems,
                replicaItems,
              ),
        ...lagOf(pods),
      },
      rollovers: deps.rollovers(),
    };
    this.last = { t, processed, sourceItems: sourceItems ?? this.last?.sourceItems ?? 0 };
    if (sourceItems !== undefined) this.sourceHistory.push({ t, items: sourceItems });
    return sample;
  }
}

/**
 * How long ago the source held one item more than the replica holds now: the age of the oldest item not yet
 * replicated, for a load of inserts (items reach the replica in about the order they were written). Linear
 * between two samples of the source's count; 0 when the replica has every item.
 */
export function endToEndDelayMs(
  history: readonly { t: number; items: number }[],
  now: number,
  sourceItems: number,
  replicaItems: number,
): number {
  if (replicaItems >= sourceItems) return 0;
  const wanted = replicaItems + 1;
  let previous: { t: number; items: number } | undefined;
  for (const point of history) {
    if (point.items >= wanted) {
      if (!previous || point.items === previous.items) return Math.max(0, now - point.t);
      const fraction = (wanted - previous.items) / (point.items - previous.items);
      return Math.max(0, now - (previous.t + fraction * (point.t - previous.t)));
    }
    previous = point;
  }
  // Written since the last sample: younger than one sample interval.
  return previous ? Math.max(0, now - previous.t) : 0;
}

function lagOf(pods: readonly PodSample[]): Omit<Sample['lag'], 'endToEndMs'> {
  const byWorker: Record<string, number> = {};
  let maxMs: number | null = null;
  for (const pod of pods) {
    if (pod.lagMs === null || pod.stopping) continue;
    byWorker[pod.name] = pod.lagMs;
    maxMs = Math.max(maxMs ?? 0, pod.lagMs);
  }
  return { maxMs, byWorker };
}

async function readMetrics(
  port: number,
): Promise<{ processed: number; lagMs: number; leasesHeld: number } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(800) });
    if (response.status !== 200) {
      await response.arrayBuffer();
      return undefined;
    }
    const samples = parsePrometheusText(await response.text());
    return {
      processed: metricValue(samples, 'streamfleet_records_processed_total') ?? 0,
      lagMs: metricValue(samples, 'streamfleet_replication_lag_ms') ?? 0,
      leasesHeld: metricValue(samples, 'streamfleet_leases_held') ?? 0,
    };
  } catch {
    return undefined;
  }
}
