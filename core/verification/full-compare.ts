/**
 * One invocation's share of a full comparison: continue one parallel-scan segment from where its progress
 * says (source phase, then replica phase, each from its LastEvaluatedKey), page by page, each page looked up
 * by key in the other table; stop at the end of the segment, after `itemsPerInvocation` items, after
 * `secondsPerInvocation` (or earlier when Lambda's remaining time says so), or once MAX_SUSPECTS suspects are
 * held; re-check the suspects; return the new progress. Memory holds one page and the suspects' keys and
 * fingerprints, never the segment. A retried invocation starts again from the same progress, so nothing is
 * counted twice.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReadConsistency, ReadMeter, sumReadUnits } from '../tables/read-units.js';
import {
  type CompareOptions,
  ComparePhase,
  MAX_SUSPECTS_PER_INVOCATION,
  type SegmentProgress,
} from './compare-plan.js';
import { addTally, decodeKey, encodeKey, type Suspect } from './item-compare.js';
import { type ComparedTables, compareBatch, recheckSuspects, Side } from './replica-compare.js';
import { type ReadContext, scanPage } from './replica-reads.js';

export interface SegmentStepDeps {
  sleep(ms: number): Promise<void>;
  now(): number;
  /** Peak resident memory of this process, MiB. */
  peakRssMiB(): number;
  /** Lambda's remaining time for this invocation, when known. */
  remainingMs?(): number;
}

/** Reading stops this long before Lambda's deadline, on top of the re-check's wait. */
const DEADLINE_MARGIN_MS = 30_000;
const PAGE_ITEMS = 1_000;

export function processPeakRssMiB(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

export async function compareSegmentStep(
  dynamodb: DynamoDBClient,
  deps: SegmentStepDeps,
  tables: ComparedTables,
  progress: SegmentProgress,
  options: Omit<CompareOptions, 'segments' | 'maxConcurrency'>,
): Promise<SegmentProgress> {
  const started = deps.now();
  if (progress.done) return progress;
  const meter = new ReadMeter();
  const ctx: ReadContext = { dynamodb, meter, sleep: deps.sleep };
  const readingMs = Math.min(
    options.secondsPerInvocation * 1_000,
    (deps.remainingMs?.() ?? Number.POSITIVE_INFINITY) - options.recheckAfterMs - DEADLINE_MARGIN_MS,
  );
  const segment = { index: progress.segment, total: progress.totalSegments };
  const suspects: Record<Side, Suspect[]> = { [Side.Source]: [], [Side.Replica]: [] };
  const scanned = { ...progress.scanned };
  let phase = progress.phase;
  let cursor = progress.cursor === null ? undefined : decodeKey(progress.cursor);
  let items = 0;
  while (
    phase !== ComparePhase.Done &&
    items < options.itemsPerInvocation &&
    deps.now() - started < readingMs &&
    suspects.source.length + suspects.replica.length < MAX_SUSPECTS_PER_INVOCATION
  ) {
    const side = phase === ComparePhase.Source ? Side.Source : Side.Replica;
    const page = await scanPage(ctx, {
      table: side === Side.Source ? tables.sourceTable : tables.replicaTable,
      segment,
      ...(cursor ? { startKey: cursor } : {}),
      limit: Math.min(PAGE_ITEMS, options.itemsPerInvocation - items),
      consistency: ReadConsistency.Eventual,
    });
    const result = await compareBatch(ctx, tables, side, page.items);
    suspects[side].push(...result.suspects);
    items += page.items.length;
    scanned[side] += page.items.length;
    cursor = page.lastKey;
    if (cursor === undefined)
      phase = phase === ComparePhase.Source ? ComparePhase.Replica : ComparePhase.Done;
  }

  const tally = structuredClone(progress.tally);
  if (suspects.source.length + suspects.replica.length > 0) {
    await deps.sleep(options.recheckAfterMs);
    for (const side of [Side.Source, Side.Replica]) {
      const found = await recheckSuspects(ctx, tables, side, suspects[side], options.maxExamples);
      addTally(tally, found, options.maxExamples);
    }
  }
  const durationMs = deps.now() - started;
  const peakRssMiB = deps.peakRssMiB();
  return {
    ...progress,
    phase,
    cursor: cursor === undefined ? null : encodeKey(cursor),
    done: phase === ComparePhase.Done,
    invocations: progress.invocations + 1,
    scanned,
    tally,
    readUnits: sumReadUnits([progress.readUnits, meter.figures()]),
    durationMs: progress.durationMs + durationMs,
    maxInvocation: {
      durationMs: Math.max(progress.maxInvocation.durationMs, durationMs),
      items: Math.max(progress.maxInvocation.items, items),
      peakRssMiB: Math.max(progress.maxInvocation.peakRssMiB, peakRssMiB),
    },
  };
}
