/**
 * The replication check the verify workflow runs on a schedule (and setup and alarm-reaction run too): a
 * sampled comparison of source and replica held to `fleet.checks.readBudget` read units, and the lag bound
 * from the lease table (core/fleet/lag.ts) — no stream read at all, so a check never takes one of a shard's two
 * reader slots or any of its ~5 reads a second from the workers. Its only Streams call is DescribeStream, a
 * listing of which shards exist. A full comparison is the compare workflow's (core/verification/full-compare.ts).
 */

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { FleetSpec, ReplicationCheckMode } from '../fleet/fleet.js';
import { describeShards, scanLeases } from '../fleet/fleet-state.js';
import { describeLag, type LagFigures, lagFromLeases } from '../fleet/lag.js';
import { ReadMeter, type ReadUnitsFigures, sumReadUnits } from '../tables/read-units.js';
import { describeTable, existingTable, keyFromDescription, streamArnOf } from '../tables/tables.js';
import { systemClock } from '../vocabulary/clock.js';
import type { MismatchCounts } from './item-compare.js';
import { type SampledComparison, type SideSample, sampledComparison } from './sampled-check.js';
import { CheckName, type Verdict, verdict } from './verdict.js';

/** The counts are the sample's: the whole table's when `sample.source.census`. */
export interface ReplicationFigures extends MismatchCounts {
  mode: ReplicationCheckMode;
  /** Up to five keys of each kind, as JSON, to start looking from. */
  examples: { missing: string[]; differing: string[]; extra: string[] };
  /** Matching replica items per `processed_by` worker. */
  processedBy: Record<string, number>;
  sample: {
    readBudget: number;
    source: SideSample;
    replica: SideSample;
    recheck: SampledComparison['recheck'];
    durationMs: number;
  };
  /** Source, replica and lease-table reads of this check. */
  readUnits: ReadUnitsFigures;
  lag: LagFigures;
}

export type ReplicationVerdict = Verdict<ReplicationFigures>;

export interface ReplicationCheckDeps {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  /** Defaults: Math.random, setTimeout, Date.now. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Pure: the verdict from the comparison and the lag. Exported for unit tests. */
export function judgeReplication(input: {
  fleet: FleetSpec;
  sample: SampledComparison;
  lag: LagFigures;
  leaseReadUnits: ReadUnitsFigures;
}): ReplicationVerdict {
  const { fleet, sample, lag } = input;
  const { tally } = sample;
  const reasons: string[] = [];
  const compared = sample.source.compared;
  const sampled = sample.source.census ? '' : 'sampled ';
  if (tally.missing > 0) {
    reasons.push(
      `${tally.missing} of ${compared} ${sampled}source items are missing from ${fleet.replicaTableName} (e.g. ${tally.examples.missing[0]}).`,
    );
  }
  if (tally.differing > 0) {
    reasons.push(
      `${tally.differing} of ${compared} ${sampled}replica items differ from their source (e.g. ${tally.examples.differing[0]}).`,
    );
  }
  if (tally.extra > 0) {
    reasons.push(
      `${tally.extra} of ${sample.replica.compared} ${sample.replica.census ? '' : 'sampled '}replica items have no source item (e.g. ${tally.examples.extra[0]}): deletes not replicated, or writes to the replica from elsewhere.`,
    );
  }
  if (lag.boundMs !== null && lag.boundMs > fleet.checks.maxLagMs) {
    reasons.push(
      `Replication may lag up to ${lag.boundMs} ms on shard ${lag.worstShardId} (limit ${fleet.checks.maxLagMs} ms): its lease shows no progress recorded since then — the fleet is too small or stuck.`,
    );
  }
  if (
    reasons.length > 0 &&
    tally.missing + tally.differing > 0 &&
    (lag.boundMs ?? 0) > sample.recheck.waitedMs
  ) {
    reasons.push(
      'Records may still be waiting on the stream longer than the re-check waited, so the replica may yet catch up: check again in a minute.',
    );
  }
  const readUnits = sumReadUnits([sample.readUnits, input.leaseReadUnits]);
  const figures: ReplicationFigures = {
    mode: fleet.checks.replicationMode,
    sourceItems: compared,
    replicaItems: sample.replica.compared,
    compared,
    missing: tally.missing,
    differing: tally.differing,
    extra: tally.extra,
    inFlight: tally.inFlight,
    settled: tally.settled,
    examples: tally.examples,
    processedBy: sample.processedBy,
    sample: {
      readBudget: fleet.checks.readBudget,
      source: sample.source,
      replica: sample.replica,
      recheck: sample.recheck,
      durationMs: sample.durationMs,
    },
    readUnits,
    lag,
  };
  if (fleet.processor) {
    return verdict(
      CheckName.Replication,
      reasons,
      figures,
      `processing healthy: the fleet runs its own processor (${fleet.processor.module}), so there is no replica to compare; ${describeLag(lag)}; ${readUnits.total} read units (${readUnits.basis}).`,
    );
  }
  return verdict(
    CheckName.Replication,
    reasons,
    figures,
    `replication healthy: ${compared} items compared, none missing, differing or extra (${sample.source.statement.text}; ${sample.replica.statement.text}); ${describeLag(lag)}; ${readUnits.total} read units (${readUnits.basis}); written by ${Object.keys(sample.processedBy).length} workers.`,
  );
}

/** What nothing compared looks like: a fleet that runs its own processor has no replica. */
function nothingCompared(): SampledComparison {
  const side = (): SampledComparison['source'] => ({
    compared: 0,
    census: false,
    segments: { total: 0, read: 0, oversized: 0 },
    stoppedBy: 'budget',
    mismatches: 0,
    statement: {
      compared: 0,
      mismatches: 0,
      census: false,
      confidence: 0,
      upperBound: 0,
      text: 'nothing compared',
    },
  });
  return {
    source: side(),
    replica: side(),
    tally: {
      suspects: 0,
      settled: 0,
      inFlight: 0,
      missing: 0,
      differing: 0,
      extra: 0,
      examples: { missing: [], differing: [], extra: [] },
    },
    processedBy: {},
    recheck: { suspects: 0, waitedMs: 0 },
    readUnits: new ReadMeter().figures(),
    durationMs: 0,
  };
}

export async function verifyReplication(
  deps: ReplicationCheckDeps,
  input: { fleet: FleetSpec },
): Promise<ReplicationVerdict> {
  const { fleet } = input;
  const now = deps.now ?? Date.now;
  const replicaTableName = fleet.replicaTableName;
  const [sourceTable, replicaTable] = await Promise.all([
    describeTable(deps.dynamodb, fleet.sourceTableName),
    replicaTableName === undefined ? undefined : describeTable(deps.dynamodb, replicaTableName),
  ]);
  const streamArn = streamArnOf(sourceTable, fleet.sourceTableName);
  const source = existingTable(sourceTable, fleet.sourceTableName);

  // Lag first: the re-check of suspects waits at least as long as the fleet may lag.
  const leaseMeter = new ReadMeter();
  const [shards, leases] = await Promise.all([
    describeShards(deps.streams, streamArn),
    scanLeases(deps.dynamodb, fleet.applicationName, leaseMeter),
  ]);
  const lag = lagFromLeases({ shards, leases: leases ?? [], nowMs: now() });
  if (replicaTableName === undefined) {
    // Its own processor: no replica to compare, but how far behind it is still shows in the lease table.
    return judgeReplication({ fleet, sample: nothingCompared(), lag, leaseReadUnits: leaseMeter.figures() });
  }
  const replica = existingTable(replicaTable, replicaTableName);

  const stats = (table: typeof source) => ({
    itemCount: table.ItemCount ?? 0,
    sizeBytes: table.TableSizeBytes ?? 0,
  });
  const sample = await sampledComparison(
    deps.dynamodb,
    { random: deps.random ?? Math.random, sleep: deps.sleep ?? ((ms: number) => systemClock.sleep(ms)), now },
    {
      key: keyFromDescription(source),
      sourceTable: fleet.sourceTableName,
      replicaTable: replicaTableName,
    },
    { source: stats(source), replica: stats(replica) },
    {
      readBudget: Math.max(0, fleet.checks.readBudget - leaseMeter.total),
      recheckAfterMs: fleet.checks.recheckAfterMs,
      lagBoundMs: lag.boundMs,
      maxDurationMs: fleet.checks.maxSampleSeconds * 1_000,
    },
  );
  return judgeReplication({ fleet, sample, lag, leaseReadUnits: leaseMeter.figures() });
}
