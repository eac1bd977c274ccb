/**
 * The fleet's health as CloudWatch metrics (namespace `Streamfleet`, one dimension `ApplicationName`), from
 * the checks' verdicts. Among them `UnfinishedShards`, which the `unfinished-shards` scaling mode's
 * aws-cloudwatch trigger reads, and `ScalingHealthy` / `ReplicationHealthy`, which the alarms watch.
 * Two sinks: CloudWatch (PutMetricData) and an in-memory one for the local mode, which the local KEDA reads.
 */
import { type CloudWatchClient, PutMetricDataCommand, type StandardUnit } from '@aws-sdk/client-cloudwatch';
import { UNFINISHED_SHARDS_METRIC } from '../kubernetes/keda.js';
import { asTransientWhenRetriable } from '../tables/tables.js';
import type { ComparisonVerdict, ReplicationVerdict, ScalingVerdict } from './checks.js';

export const MetricUnit = {
  Count: 'Count',
  Milliseconds: 'Milliseconds',
  Percent: 'Percent',
  None: 'None',
} as const;
export type MetricUnit = (typeof MetricUnit)[keyof typeof MetricUnit];

export interface MetricDatum {
  name: string;
  value: number;
  unit: MetricUnit;
}

export interface MetricsSink {
  put(
    namespace: string,
    dimensions: Record<string, string>,
    data: readonly MetricDatum[],
    at: Date,
  ): Promise<void>;
}

/** The data points for whichever verdicts are given. */
export function fleetMetricData(verdicts: {
  scaling?: ScalingVerdict;
  replication?: ReplicationVerdict;
  comparison?: ComparisonVerdict;
}): MetricDatum[] {
  const data: MetricDatum[] = [];
  const { scaling, replication, comparison } = verdicts;
  if (scaling) {
    const f = scaling.figures;
    data.push(
      { name: 'ScalingHealthy', value: scaling.healthy ? 1 : 0, unit: MetricUnit.None },
      { name: 'Shards', value: f.shards.total, unit: MetricUnit.Count },
      { name: UNFINISHED_SHARDS_METRIC.metricName, value: f.shards.unfinished, unit: MetricUnit.Count },
      { name: 'KedaSteadyStateReplicas', value: f.keda.steadyStateReplicas, unit: MetricUnit.Count },
      { name: 'NeededReplicas', value: f.needed.replicas, unit: MetricUnit.Count },
      { name: 'IdleReplicas', value: f.idleReplicas, unit: MetricUnit.Count },
      { name: 'DesiredReplicas', value: f.cluster.desiredReplicas, unit: MetricUnit.Count },
      { name: 'ReadyReplicas', value: f.cluster.readyReplicas, unit: MetricUnit.Count },
      { name: 'ExpiredLeases', value: f.leases.expired, unit: MetricUnit.Count },
      { name: 'UnownedLeases', value: f.leases.unowned, unit: MetricUnit.Count },
    );
  }
  if (replication) {
    const f = replication.figures;
    data.push(
      { name: 'ReplicationHealthy', value: replication.healthy ? 1 : 0, unit: MetricUnit.None },
      { name: 'MissingItems', value: f.missing, unit: MetricUnit.Count },
      { name: 'DifferingItems', value: f.differing, unit: MetricUnit.Count },
      { name: 'ExtraItems', value: f.extra, unit: MetricUnit.Count },
      { name: 'SampledItems', value: f.compared, unit: MetricUnit.Count },
      {
        name: 'MismatchRateUpperBound',
        value: f.sample.source.statement.upperBound * 100,
        unit: MetricUnit.Percent,
      },
      { name: 'ReplicationReadUnits', value: f.readUnits.total, unit: MetricUnit.Count },
      { name: 'LagUnknownShards', value: f.lag.unknownShards, unit: MetricUnit.Count },
      // No bound at all is no data point: 0 would say "caught up".
      ...(f.lag.boundMs === null
        ? []
        : [{ name: 'ReplicationLag', value: f.lag.boundMs, unit: MetricUnit.Milliseconds }]),
    );
  }
  if (comparison) {
    const f = comparison.figures;
    data.push(
      { name: 'ComparisonHealthy', value: comparison.healthy ? 1 : 0, unit: MetricUnit.None },
      { name: 'ComparedItems', value: f.compared, unit: MetricUnit.Count },
      { name: 'ComparisonMissingItems', value: f.missing, unit: MetricUnit.Count },
      { name: 'ComparisonDifferingItems', value: f.differing, unit: MetricUnit.Count },
      { name: 'ComparisonExtraItems', value: f.extra, unit: MetricUnit.Count },
      { name: 'ComparisonReadUnits', value: f.readUnits.total, unit: MetricUnit.Count },
    );
  }
  return data;
}

export class CloudWatchMetricsSink implements MetricsSink {
  constructor(private readonly cloudwatch: CloudWatchClient) {}

  async put(
    namespace: string,
    dimensions: Record<string, string>,
    data: readonly MetricDatum[],
    at: Date,
  ): Promise<void> {
    const Dimensions = Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value }));
    for (let i = 0; i < data.length; i += 500) {
      try {
        await this.cloudwatch.send(
          new PutMetricDataCommand({
            Namespace: namespace,
            MetricData: data.slice(i, i + 500).map((d) => ({
              MetricName: d.name,
              Value: d.value,
              Unit: d.unit as StandardUnit,
              Timestamp: at,
              Dimensions,
            })),
          }),
        );
      } catch (error) {
        throw asTransientWhenRetriable(error);
      }
    }
  }
}

export interface StoredDatapoint extends MetricDatum {
  namespace: string;
  dimensions: Record<string, string>;
  at: number;
}

/** The local mode's CloudWatch: data points in memory, newest last, capped. */
export class LocalMetricsSink implements MetricsSink {
  readonly points: StoredDatapoint[] = [];

  constructor(private readonly cap = 10_000) {}

  async put(
    namespace: string,
    dimensions: Record<string, string>,
    data: readonly MetricDatum[],
    at: Date,
  ): Promise<void> {
    for (const d of data)
      this.points.push({ ...d, namespace, dimensions: { ...dimensions }, at: at.getTime() });
    if (this.points.length > this.cap) this.points.splice(0, this.points.length - this.cap);
  }

  /** The newest value of a metric with exactly these dimensions, no older than `withinMs`. */
  latest(
    namespace: string,
    name: string,
    dimensions: Record<string, string>,
    options: { withinMs?: number; nowMs?: number } = {},
  ): number | undefined {
    const now = options.nowMs ?? Date.now();
    const want = JSON.stringify(Object.entries(dimensions).sort());
    for (let i = this.points.length - 1; i >= 0; i--) {
      const p = this.points[i];
      if (!p || p.namespace !== namespace || p.name !== name) continue;
      if (JSON.stringify(Object.entries(p.dimensions).sort()) !== want) continue;
      if (options.withinMs !== undefined && now - p.at > options.withinMs) return undefined;
      return p.value;
    }
    return undefined;
  }
}
