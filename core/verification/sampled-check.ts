/**
 * The scheduled replication check: a sample of the source compared by key against the replica, and a smaller
 * sample of the replica looked up in the source (for items whose delete was not replicated), together held
 * to a read-unit budget and a time limit whatever the table's size. Sampling is in core/verification/sampling.ts, the
 * comparison and the re-check in core/verification/replica-compare.ts, the bound in core/verification/confidence.ts.
 *
 * Budget: the source side may spend (1 − replicaShare) of it, the replica side the rest of what is left;
 * every suspect reserves the cost of its strongly consistent re-read of both tables, so a run that finds many
 * suspects compares fewer items instead of overspending. A table that fits the budget is compared whole.
 */

import { itemSize, ReadConsistency, ReadMeter, type ReadUnitsFigures } from '../tables/read-units.js';
import { type ConfidenceStatement, confidenceStatement } from './confidence.js';
import {
  addCounts,
  addTally,
  emptyTally,
  type Item,
  type RecheckTally,
  type Suspect,
} from './item-compare.js';
import { type ComparedTables, compareBatch, recheckSuspects, Side } from './replica-compare.js';
import { type ReadContext, scanPage } from './replica-reads.js';
import {
  DEFAULT_CLUSTER_ITEMS,
  grownSegments,
  MAX_TOTAL_SEGMENTS,
  OVERSIZED_CLUSTER_FACTOR,
  SegmentPicker,
  segmentsFor,
} from './sampling.js';

export interface TableStats {
  /** DescribeTable's ItemCount (refreshed by AWS about every six hours). */
  itemCount: number;
  sizeBytes: number;
}

export interface SampledCheckOptions {
  /** Read units the whole run may consume (both tables, re-checks included). */
  readBudget: number;
  /** Least wait before suspects are read again. */
  recheckAfterMs: number;
  /** The fleet's current lag bound: the re-check waits at least this long, up to `maxRecheckWaitMs`. */
  lagBoundMs: number | null;
  maxRecheckWaitMs?: number;
  /** Sampling stops after this long (the re-check comes after). */
  maxDurationMs: number;
  clusterItems?: number;
  /** Share of the budget for the replica side. Default 0.25. */
  replicaShare?: number;
  maxExamples?: number;
}

export interface SampleDeps {
  random(): number;
  sleep(ms: number): Promise<void>;
  now(): number;
}

export const StopReason = { Census: 'census', Budget: 'budget', Time: 'time' } as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

export interface SideSample {
  compared: number;
  /** Every item of the table was compared. */
  census: boolean;
  segments: { total: number; read: number; oversized: number };
  stoppedBy: StopReason;
  /** Mismatches this side counts, after the re-check. */
  mismatches: number;
  statement: ConfidenceStatement;
}

export interface SampledComparison {
  source: SideSample;
  replica: SideSample;
  tally: RecheckTally;
  processedBy: Record<string, number>;
  recheck: { suspects: number; waitedMs: number };
  readUnits: ReadUnitsFigures;
  durationMs: number;
}

export const DEFAULT_MAX_RECHECK_WAIT_MS = 30_000;
const DEFAULT_REPLICA_SHARE = 0.25;
/** Bytes the replica's bookkeeping adds to an item, for cost estimates only. */
const BOOKKEEPING_BYTES = 64;

interface SideRun {
  compared: number;
  census: boolean;
  segments: { total: number; read: number; oversized: number };
  stoppedBy: StopReason;
  suspects: Suspect[];
  processedBy: Record<string, number>;
  /** Units held back for the suspects' re-check. */
  reserved: number;
}

/** One item's lookup in the other table (eventually consistent), and its strongly consistent re-read of both. */
function lookupUnits(item: Item): number {
  return 0.5 * Math.ceil((itemSize(item) + BOOKKEEPING_BYTES) / 4096);
}
function recheckUnits(item: Item): number {
  return 2 * Math.ceil((itemSize(item) + BOOKKEEPING_BYTES) / 4096);
}

/** Reads one segment, at most `cap` items; `complete` when the segment ended within them. */
async function readSegment(
  ctx: ReadContext,
  table: string,
  segment: { index: number; total: number },
  cap: number,
): Promise<{ items: Item[]; complete: boolean }> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const page = await scanPage(ctx, {
      table,
      segment,
      ...(startKey ? { startKey } : {}),
      limit: Math.min(1_000, cap - items.length),
      consistency: ReadConsistency.Eventual,
    });
    items.push(...page.items);
    startKey = page.lastKey;
  } while (startKey && items.length < cap);
  return { items, complete: startKey === undefined };
}

async function sampleSide(
  ctx: ReadContext,
  deps: SampleDeps,
  tables: ComparedTables,
  side: Side,
  input: { stats: TableStats; budget: number; deadline: number; clusterItems: number },
): Promise<SideRun> {
  const table = side === Side.Source ? tables.sourceTable : tables.replicaTable;
  const startUnits = ctx.meter.total;
  const { clusterItems } = input;
  let picker = new SegmentPicker(segmentsFor(input.stats.itemCount, clusterItems), deps.random);
  const run: SideRun = {
    compared: 0,
    census: false,
    segments: { total: picker.total, read: 0, oversized: 0 },
    stoppedBy: StopReason.Budget,
    suspects: [],
    processedBy: {},
    reserved: 0,
  };
  let partial = false;
  // Room for one more segment's scan (as the table's average item size predicts; at least half a unit) and
  // for one item's lookup and re-check.
  const averageSize = input.stats.itemCount > 0 ? input.stats.sizeBytes / input.stats.itemCount : 1_024;
  const floor = Math.max(1, Math.ceil((clusterItems * averageSize) / 4096)) * 0.5 + 3;
  for (;;) {
    const remaining = () => input.budget - (ctx.meter.total - startUnits) - run.reserved;
    if (picker.exhausted) {
      run.census = !partial;
      run.stoppedBy = StopReason.Census;
      break;
    }
    if (deps.now() >= input.deadline) {
      run.stoppedBy = StopReason.Time;
      break;
    }
    if (remaining() < floor) break;
    const index = picker.next() as number;
    const atMax = picker.total >= MAX_TOTAL_SEGMENTS;
    // At T's ceiling segments stay large: read more of one and take a random part of it.
    const cap = clusterItems * OVERSIZED_CLUSTER_FACTOR * (atMax ? 25 : 1);
    const segment = await readSegment(ctx, table, { index, total: picker.total }, cap);
    run.segments.read++;
    if (!segment.complete && !atMax) {
      // T was planned from a stale count: grow it and leave this segment out, so every item keeps one chance.
      run.segments.oversized++;
      picker = new SegmentPicker(grownSegments(picker.total), deps.random);
      run.segments.total = picker.total;
      continue;
    }
    if (!segment.complete) partial = true;
    // Take items in random order while the budget pays for their lookup and a possible re-check.
    const order = new SegmentPicker(segment.items.length, deps.random);
    const chosen: Item[] = [];
    let cost = 0;
    for (let i = order.next(); i !== undefined; i = order.next()) {
      const item = segment.items[i] as Item;
      const itemCost = lookupUnits(item);
      if (cost + itemCost + recheckUnits(item) > remaining()) break;
      cost += itemCost;
      chosen.push(item);
    }
    if (chosen.length < segment.items.length) partial = true;
    if (chosen.length === 0 && segment.items.length > 0) break;
    const result = await compareBatch(ctx, tables, side, chosen);
    run.compared += result.compared;
    run.suspects.push(...result.suspects);
    addCounts(run.processedBy, result.processedBy);
    const perSuspect = chosen.reduce((most, item) => Math.max(most, recheckUnits(item)), 2);
    run.reserved += result.suspects.length * perSuspect;
  }
  return run;
}

function sideSample(run: SideRun, mismatches: number, noun: string): SideSample {
  return {
    compared: run.compared,
    census: run.census,
    segments: run.segments,
    stoppedBy: run.stoppedBy,
    mismatches,
    statement: confidenceStatement({ compared: run.compared, mismatches, census: run.census, noun }),
  };
}

/** The sampled comparison of source and replica, within the budget. */
export async function sampledComparison(
  dynamodb: ReadContext['dynamodb'],
  deps: SampleDeps,
  tables: ComparedTables,
  stats: { source: TableStats; replica: TableStats },
  options: SampledCheckOptions,
): Promise<SampledComparison> {
  const started = deps.now();
  const meter = new ReadMeter();
  const ctx: ReadContext = { dynamodb, meter, sleep: deps.sleep };
  const clusterItems = options.clusterItems ?? DEFAULT_CLUSTER_ITEMS;
  const maxExamples = options.maxExamples ?? 5;
  const deadline = started + options.maxDurationMs;
  const share = options.replicaShare ?? DEFAULT_REPLICA_SHARE;

  const source = await sampleSide(ctx, deps, tables, Side.Source, {
    stats: stats.source,
    budget: options.readBudget * (1 - share),
    deadline,
    clusterItems,
  });
  const replica = await sampleSide(ctx, deps, tables, Side.Replica, {
    stats: stats.replica,
    budget: options.readBudget - meter.total - source.reserved,
    deadline,
    clusterItems,
  });

  const suspects = source.suspects.length + replica.suspects.length;
  let waitedMs = 0;
  const tally = emptyTally();
  if (suspects > 0) {
    waitedMs = Math.max(
      options.recheckAfterMs,
      Math.min(options.lagBoundMs ?? 0, options.maxRecheckWaitMs ?? DEFAULT_MAX_RECHECK_WAIT_MS),
    );
    await deps.sleep(waitedMs);
    addTally(
      tally,
      await recheckSuspects(ctx, tables, Side.Source, source.suspects, maxExamples),
      maxExamples,
    );
    addTally(
      tally,
      await recheckSuspects(ctx, tables, Side.Replica, replica.suspects, maxExamples),
      maxExamples,
    );
  }
  return {
    source: sideSample(source, tally.missing + tally.differing, 'source items'),
    replica: sideSample(replica, tally.extra, 'replica items'),
    tally,
    processedBy: source.processedBy,
    recheck: { suspects, waitedMs },
    readUnits: meter.figures(),
    durationMs: deps.now() - started,
  };
}
