/**
 * The pure parts of verification at scale: the confidence bound, read units as DynamoDB bills them, the lag
 * bound from lease items, the random segments of the sample, and the full comparison's plan and verdict.
 */
import { describe, expect, it } from 'vitest';
import { parseFleet } from '../../core/fleet/fleet.js';
import type { LeaseView, ShardView } from '../../core/fleet/fleet-state.js';
import { lagFromLeases, ShardLagStatus } from '../../core/fleet/lag.js';
import {
  batchGetUnits,
  itemReadUnits,
  itemSize,
  ReadConsistency,
  ReadMeter,
  scanPageUnits,
  sumReadUnits,
  UnitsBasis,
} from '../../core/tables/read-units.js';
import {
  initialProgress,
  judgeComparison,
  planComparison,
  type SegmentProgress,
} from '../../core/verification/compare-plan.js';
import {
  confidenceStatement,
  detectionProbability,
  formatPercent,
  mismatchRateUpperBound,
} from '../../core/verification/confidence.js';
import { fleetMetricData } from '../../core/verification/fleet-metrics.js';
import { decodeKey, emptyTally, encodeKey } from '../../core/verification/item-compare.js';
import { judgeReplication } from '../../core/verification/replication-check.js';
import type { SampledComparison } from '../../core/verification/sampled-check.js';
import { pickUniformly, SegmentPicker, segmentsFor } from '../../core/verification/sampling.js';
import { PreconditionError } from '../../core/vocabulary/errors.js';
import { leaseFromItem } from '../../core/vocabulary/lease.js';
import { seededRandom } from '../support/fault-proxy.js';

/** A sampled comparison that compared 140 items and found nothing. */
function emptySample(): SampledComparison {
  const side = {
    compared: 140,
    census: false,
    segments: { total: 800, read: 6, oversized: 0 },
    stoppedBy: 'budget' as const,
    mismatches: 0,
    statement: confidenceStatement({ compared: 140, mismatches: 0, census: false }),
  };
  return {
    source: side,
    replica: side,
    tally: emptyTally(),
    processedBy: { w1: 140 },
    recheck: { suspects: 0, waitedMs: 0 },
    readUnits: new ReadMeter().figures(),
    durationMs: 5,
  };
}

/** P(X ≤ k) for X ~ Binomial(n, p), summed directly (small n only). */
function binomialCdf(n: number, k: number, p: number): number {
  let sum = 0;
  let term = (1 - p) ** n;
  for (let i = 0; i <= k; i++) {
    sum += term;
    term *= ((n - i) / (i + 1)) * (p / (1 - p));
  }
  return sum;
}

describe('confidence bound', () => {
  it('with no mismatch is 1 − 0.05^(1/n), close to the rule of three', () => {
    for (const n of [10, 100, 370, 10_000]) {
      const bound = mismatchRateUpperBound(n, 0);
      expect(bound).toBeCloseTo(1 - 0.05 ** (1 / n), 12);
      expect(bound).toBeLessThan(3 / n);
      if (n >= 100) expect(bound * n).toBeGreaterThan(2.95);
    }
  });

  it('with mismatches is the exact Clopper–Pearson bound: P(X ≤ k) at the bound is 5 %', () => {
    for (const [n, k] of [
      [100, 1],
      [200, 3],
      [50, 10],
    ] as const) {
      const bound = mismatchRateUpperBound(n, k);
      expect(binomialCdf(n, k, bound)).toBeCloseTo(0.05, 6);
      expect(bound).toBeGreaterThan(k / n);
    }
    expect(mismatchRateUpperBound(100, 1)).toBeCloseTo(0.0466, 4);
    expect(mismatchRateUpperBound(0, 0)).toBe(1);
    expect(mismatchRateUpperBound(5, 5)).toBe(1);
  });

  it('holds for large samples (no underflow) and grows with the confidence asked for', () => {
    const bound = mismatchRateUpperBound(1_000_000, 1_000);
    expect(bound).toBeGreaterThan(0.001);
    expect(bound).toBeLessThan(0.0011);
    expect(mismatchRateUpperBound(300, 2, 0.99)).toBeGreaterThan(mismatchRateUpperBound(300, 2, 0.95));
  });

  it('at its own bound, a sample of n misses every mismatch 5 % of the time', () => {
    expect(detectionProbability(140, mismatchRateUpperBound(140, 0))).toBeCloseTo(0.95, 12);
  });

  it('is printed rounded up, never down', () => {
    expect(formatPercent(0.021174)).toBe('2.12');
    expect(formatPercent(0.95)).toBe('95');
    expect(formatPercent(0)).toBe('0');
    const statement = confidenceStatement({ compared: 140, mismatches: 0, census: false });
    expect(statement).toMatchObject({ compared: 140, mismatches: 0, census: false, confidence: 0.95 });
    expect(Number(statement.text.match(/below ([\d.]+) %/)?.[1]) / 100).toBeGreaterThanOrEqual(
      statement.upperBound,
    );
  });

  it('a census states the observed rate, not a bound', () => {
    expect(confidenceStatement({ compared: 200, mismatches: 2, census: true }).upperBound).toBe(0.01);
    expect(confidenceStatement({ compared: 0, mismatches: 0, census: true }).upperBound).toBe(0);
    expect(confidenceStatement({ compared: 0, mismatches: 0, census: false }).upperBound).toBe(1);
  });
});

describe('read units', () => {
  const item = { email: { S: 'user-1@example.com' }, visits: { N: '123.4500' }, ok: { BOOL: true } };

  it('sizes items by DynamoDB rules: names and UTF-8 strings, numbers by significant digits', () => {
    // email(5) + 18, visits(6) + ceil(5/2)+1 = 4, ok(2) + 1
    expect(itemSize(item)).toBe(5 + 18 + 6 + 4 + 2 + 1);
    expect(itemSize({ m: { M: { a: { S: 'é' } } }, l: { L: [{ NULL: true }] } })).toBe(
      1 + 3 + 1 + 2 + 1 + 1 + 3 + 1 + 1,
    );
  });

  it('rounds a scan page once and each BatchGetItem item on its own; a miss still costs a read', () => {
    const big = { k: { S: 'x'.repeat(5_000) } };
    expect(scanPageUnits([item, item], ReadConsistency.Eventual)).toBe(0.5);
    expect(scanPageUnits([], ReadConsistency.Strong)).toBe(1);
    expect(scanPageUnits([big, big], ReadConsistency.Strong)).toBe(3);
    expect(itemReadUnits(big, ReadConsistency.Strong)).toBe(2);
    expect(batchGetUnits([big, item], 3, ReadConsistency.Eventual)).toBe(1 + 0.5 + 0.5);
  });

  it('says whether its figure came from DynamoDB or from the sizes', () => {
    const meter = new ReadMeter();
    expect(meter.figures().basis).toBe(UnitsBasis.None);
    meter.add('a', { reported: 2, computed: 1.5 });
    expect(meter.figures()).toMatchObject({
      total: 2,
      computed: 1.5,
      basis: UnitsBasis.Reported,
      requests: 1,
    });
    meter.add('b', { reported: undefined, computed: 1 });
    expect(meter.figures()).toMatchObject({ total: 3, byTable: { a: 2, b: 1 }, basis: UnitsBasis.Mixed });
    const computedOnly = new ReadMeter();
    computedOnly.add('a', { reported: undefined, computed: 4 });
    expect(sumReadUnits([computedOnly.figures(), computedOnly.figures()])).toMatchObject({
      total: 8,
      basis: UnitsBasis.Computed,
      requests: 2,
    });
  });
});

describe('lag from the lease table', () => {
  const NOW = 1_700_000_000_000;
  const shard = (shardId: string, parentShardId?: string, closed = false): ShardView => ({
    shardId,
    parentShardId,
    closed,
  });
  const lease = (leaseKey: string, extra: Partial<LeaseView> = {}): LeaseView => ({
    leaseKey,
    leaseOwner: 'w1',
    leaseCounter: 1,
    checkpoint: '100',
    ...extra,
  });

  it('bounds each shard by now − max(caughtUpAt, lastRecordCreatedAt) and the stream by the worst', () => {
    const lag = lagFromLeases({
      shards: [shard('a'), shard('b'), shard('c')],
      leases: [
        lease('a', { caughtUpAt: NOW - 300, lastRecordCreatedAt: NOW - 2_000 }),
        lease('b', { lastRecordCreatedAt: NOW - 4_000 }),
        lease('c', { caughtUpAt: NOW - 9_000, lastRecordCreatedAt: NOW - 7_000 }),
      ],
      nowMs: NOW,
    });
    expect(lag).toMatchObject({ boundMs: 7_000, worstShardId: 'c', complete: true, unknownShards: 0 });
    expect(lag.shards.map((s) => [s.shardId, s.boundMs, s.from])).toEqual([
      ['c', 7_000, 'lastRecordCreatedAt'],
      ['b', 4_000, 'lastRecordCreatedAt'],
      ['a', 300, 'caughtUpAt'],
    ]);
  });

  it('reports shards without a lease, an owner or progress as such, never as 0 lag', () => {
    const lag = lagFromLeases({
      shards: [shard('a'), shard('b'), shard('c'), shard('d')],
      leases: [
        lease('b', { leaseOwner: undefined }),
        lease('c'),
        lease('d', { leaseOwner: undefined, caughtUpAt: NOW - 90_000 }),
      ],
      nowMs: NOW,
    });
    expect(lag.boundMs).toBe(90_000);
    expect(lag.complete).toBe(false);
    expect(lag.unknownShards).toBe(3);
    expect(lag.unknownByStatus).toMatchObject({
      [ShardLagStatus.NoLease]: 1,
      [ShardLagStatus.Unowned]: 1,
      [ShardLagStatus.NotReported]: 1,
    });
    const status = Object.fromEntries(lag.shards.map((s) => [s.shardId, s.status]));
    expect(status).toEqual({ a: 'no-lease', b: 'unowned', c: 'not-reported', d: 'unowned' });
    expect(lag.shards.find((s) => s.shardId === 'a')?.boundMs).toBeUndefined();
  });

  it('is unknown, not 0, when no shard has a bound', () => {
    const lag = lagFromLeases({ shards: [shard('a')], leases: [lease('a')], nowMs: NOW });
    expect(lag).toMatchObject({ boundMs: null, worstShardId: null, complete: false });
    const metrics = (l: typeof lag) =>
      fleetMetricData({
        replication: judgeReplication({
          fleet: parseFleet({
            name: 'fleet',
            clusterName: 'c',
            sourceTableName: 'users',
            replicaTableName: 'users_r',
          }),
          sample: emptySample(),
          lag: l,
          leaseReadUnits: new ReadMeter().figures(),
        }),
      });
    expect(metrics(lag).map((d) => d.name)).not.toContain('ReplicationLag');
    expect(metrics(lag).find((d) => d.name === 'LagUnknownShards')?.value).toBe(1);
    const known = lagFromLeases({
      shards: [shard('a')],
      leases: [lease('a', { caughtUpAt: NOW - 42 })],
      nowMs: NOW,
    });
    expect(metrics(known).find((d) => d.name === 'ReplicationLag')).toMatchObject({
      value: 42,
      unit: 'Milliseconds',
    });
  });

  it('leaves finished shards out and counts a child blocked on its parent as covered by the parent', () => {
    const lag = lagFromLeases({
      shards: [
        shard('old', undefined, true),
        shard('p', undefined, true),
        shard('c', 'p'),
        shard('gone', undefined, true),
      ],
      leases: [
        lease('old', { checkpoint: 'SHARD_END' }),
        lease('p', { caughtUpAt: NOW - 1_500 }),
        lease('c'),
      ],
      nowMs: NOW,
    });
    expect(lag).toMatchObject({ boundMs: 1_500, unfinishedShards: 2, complete: true });
    expect(lag.byStatus[ShardLagStatus.WaitingOnParent]).toBe(1);
  });

  it("clamps at 0 and flags an owner's clock running ahead", () => {
    const lag = lagFromLeases({
      shards: [shard('a')],
      leases: [lease('a', { caughtUpAt: NOW + 5_000 })],
      nowMs: NOW,
    });
    expect(lag.shards[0]).toMatchObject({ boundMs: 0, clockAheadMs: 5_000 });
  });

  it('reads the attributes from lease items, tolerating absent and malformed values', () => {
    const base = {
      leaseKey: { S: 'a' },
      leaseOwner: { S: 'w1' },
      leaseCounter: { N: '3' },
      checkpoint: { S: '9' },
    };
    expect(leaseFromItem({ ...base, caughtUpAt: { N: '1700000000123' } })).toMatchObject({
      leaseKey: 'a',
      leaseOwner: 'w1',
      leaseCounter: 3,
      checkpoint: '9',
      caughtUpAt: 1_700_000_000_123,
    });
    const odd = leaseFromItem({
      ...base,
      caughtUpAt: { S: 'yesterday' },
      lastRecordCreatedAt: { N: '-5' },
    });
    expect(odd.caughtUpAt).toBeUndefined();
    expect(odd.lastRecordCreatedAt).toBeUndefined();
    expect([...(odd.malformed ?? [])].sort()).toEqual(['caughtUpAt', 'lastRecordCreatedAt']);
    const lag = lagFromLeases({ shards: [shard('a')], leases: [odd], nowMs: NOW });
    expect(lag.shards[0]).toMatchObject({
      status: 'not-reported',
    });
    expect([...((lag.shards[0] as { malformed?: string[] }).malformed ?? [])].sort()).toEqual([
      'caughtUpAt',
      'lastRecordCreatedAt',
    ]);
  });
});

describe('sample segments', () => {
  it('plans segments of about 25 items, within DynamoDB limits', () => {
    expect(segmentsFor(0)).toBe(1);
    expect(segmentsFor(20_000)).toBe(800);
    expect(segmentsFor(50_000_000_000)).toBe(1_000_000);
  });

  it('hands out every segment once, in a seeded random order', () => {
    const picker = new SegmentPicker(1_000, seededRandom(3));
    const seen = new Set<number>();
    for (let s = picker.next(); s !== undefined; s = picker.next()) seen.add(s);
    expect(seen.size).toBe(1_000);
    expect(picker.exhausted).toBe(true);
    const again = new SegmentPicker(1_000, seededRandom(3));
    const first = new SegmentPicker(1_000, seededRandom(3));
    expect([again.next(), again.next()]).toEqual([first.next(), first.next()]);
  });

  it('picks each of 10 segments about equally often as the first', () => {
    const counts = new Array<number>(10).fill(0);
    const random = seededRandom(11);
    for (let i = 0; i < 10_000; i++) {
      const first = new SegmentPicker(10, random).next() as number;
      counts[first] = (counts[first] ?? 0) + 1;
    }
    for (const c of counts) expect(Math.abs(c - 1_000)).toBeLessThan(150);
    expect(pickUniformly([1, 2, 3, 4, 5], 2, seededRandom(1))).toHaveLength(2);
  });
});

describe('full comparison plan and verdict', () => {
  const options = {
    segments: undefined,
    maxConcurrency: 8,
    itemsPerInvocation: 100_000,
    secondsPerInvocation: 120,
    recheckAfterMs: 5_000,
    maxExamples: 5,
  };

  it('plans at least one segment per concurrent invocation, more for large tables, at most 64', () => {
    expect(planComparison({ itemCounts: { source: 1_000, replica: 1_000 }, options }).totalSegments).toBe(8);
    expect(planComparison({ itemCounts: { source: 20e6, replica: 20e6 }, options }).totalSegments).toBe(20);
    const huge = planComparison({
      itemCounts: { source: 50e6, replica: 50e6 },
      options: { ...options, itemsPerInvocation: 1_000_000 },
    });
    expect(huge.totalSegments).toBe(50);
    expect(huge.segments[49]).toEqual(initialProgress(49, 50));
  });

  it('refuses a plan whose invocations would not fit one execution, saying what to raise', () => {
    expect(() => planComparison({ itemCounts: { source: 1e9, replica: 1e9 }, options })).toThrow(
      PreconditionError,
    );
    expect(() => planComparison({ itemCounts: { source: 1e9, replica: 1e9 }, options })).toThrow(
      /compare\.itemsPerInvocation/,
    );
  });

  it('sums every segment, and is unhealthy while a segment is unfinished', () => {
    const segment = (i: number, missing: number, done = true): SegmentProgress => {
      const s = initialProgress(i, 2);
      return {
        ...s,
        done,
        phase: done ? 'done' : 'replica',
        invocations: 3,
        scanned: { source: 100, replica: 99 },
        tally: {
          ...s.tally,
          missing,
          examples: { missing: missing ? [`k${i}`] : [], differing: [], extra: [] },
        },
        readUnits: { total: 10, byTable: { users: 10 }, basis: 'reported', computed: 9, requests: 4 },
        maxInvocation: { durationMs: 100 * (i + 1), items: 100, peakRssMiB: 80 + i },
      };
    };
    const verdict = judgeComparison({
      sourceTableName: 'users',
      replicaTableName: 'users_replica',
      segments: [segment(0, 1), segment(1, 2)],
    });
    expect(verdict.figures).toMatchObject({
      sourceItems: 200,
      replicaItems: 198,
      missing: 3,
      invocations: 6,
      segmentsDone: 2,
      maxInvocation: { durationMs: 200, peakRssMiB: 81 },
      readUnits: { total: 20, basis: 'reported' },
      examples: { missing: ['k0', 'k1'] },
    });
    expect(verdict.healthy).toBe(false);
    const unfinished = judgeComparison({
      sourceTableName: 'users',
      replicaTableName: 'users_replica',
      segments: [segment(0, 0), segment(1, 0, false)],
    });
    expect(unfinished.healthy).toBe(false);
    expect(unfinished.figures.segmentsDone).toBe(1);
  });

  it('carries keys through JSON, binaries included', () => {
    const key = { id: { B: new Uint8Array([0, 255, 7]) }, n: { N: '5' }, s: { S: 'x' } };
    expect(decodeKey(JSON.parse(JSON.stringify(encodeKey(key))))).toEqual(key);
  });
});
