/**
 * The on-demand full comparison, planned and judged (pure; the reads are in core/verification/full-compare.ts). The compare
 * workflow maps over the plan's segments; each Map iteration calls the compare function until its segment is
 * done, carrying the segment's progress (phase, the Scan's LastEvaluatedKey, running counts) from one
 * invocation to the next, so no invocation reads more than `itemsPerInvocation` items or spends more than
 * `secondsPerInvocation` reading.
 *
 * Bounds that shape the plan: the Map's result (every segment's progress) has to fit a Step Functions
 * payload (256 KB), so there are at most MAX_COMPARE_SEGMENTS segments with a handful of example keys each;
 * an inline Map's iterations share one execution history (25,000 events, about 7 per invocation), so a plan
 * that needs more than MAX_PLANNED_INVOCATIONS invocations is refused with what to change.
 */

import { type ReadUnitsFigures, sumReadUnits, UnitsBasis } from '../tables/read-units.js';
import { PreconditionError } from '../vocabulary/errors.js';
import { confidenceStatement } from './confidence.js';
import {
  addTally,
  type EncodedKey,
  emptyTally,
  type MismatchCounts,
  type RecheckTally,
} from './item-compare.js';
import { CheckName, type Verdict, verdict } from './verdict.js';

export const ComparePhase = { Source: 'source', Replica: 'replica', Done: 'done' } as const;
export type ComparePhase = (typeof ComparePhase)[keyof typeof ComparePhase];

export interface CompareOptions {
  /** Parallel-scan segments; default from the table size (at least `maxConcurrency`). */
  segments: number | undefined;
  /** Segments compared at once (the Map's MaxConcurrency). */
  maxConcurrency: number;
  itemsPerInvocation: number;
  secondsPerInvocation: number;
  /** Least wait before a suspect is read again. */
  recheckAfterMs: number;
  /** Example keys kept per kind per segment. */
  maxExamples: number;
}

export const COMPARE_DEFAULTS = {
  maxConcurrency: 8,
  itemsPerInvocation: 100_000,
  secondsPerInvocation: 120,
  recheckAfterMs: 5_000,
  maxExamples: 5,
} as const;

export const MAX_COMPARE_SEGMENTS = 64;
export const MAX_PLANNED_INVOCATIONS = 2_000;
/** Items per segment a default plan aims at. */
export const TARGET_ITEMS_PER_SEGMENT = 1_000_000;
/** Suspects one invocation collects before it hands over: bounds its memory and its re-check. */
export const MAX_SUSPECTS_PER_INVOCATION = 5_000;

export interface InvocationFigures {
  durationMs: number;
  /** Items read (both phases). */
  items: number;
  /** Peak resident memory of the process that ran it (a warm Lambda carries its earlier peak). */
  peakRssMiB: number;
}

export interface SegmentProgress {
  segment: number;
  totalSegments: number;
  phase: ComparePhase;
  /** Where the current phase's Scan continues (its LastEvaluatedKey); null at the phase's start. */
  cursor: EncodedKey | null;
  done: boolean;
  invocations: number;
  scanned: { source: number; replica: number };
  tally: RecheckTally;
  readUnits: ReadUnitsFigures;
  /** Sum of the invocations' durations. */
  durationMs: number;
  /** The largest duration, items and peak memory of any of its invocations. */
  maxInvocation: InvocationFigures;
}

export interface ComparePlan {
  totalSegments: number;
  maxConcurrency: number;
  estimatedInvocations: number;
  /** DescribeTable's counts the plan was made from (AWS refreshes them about every six hours). */
  itemCounts: { source: number; replica: number };
  options: Omit<CompareOptions, 'segments'>;
  /** The Map's items: each segment's starting progress. */
  segments: SegmentProgress[];
}

export function emptyReadUnits(): ReadUnitsFigures {
  return { total: 0, byTable: {}, basis: UnitsBasis.None, computed: 0, requests: 0 };
}

export function initialProgress(segment: number, totalSegments: number): SegmentProgress {
  return {
    segment,
    totalSegments,
    phase: ComparePhase.Source,
    cursor: null,
    done: false,
    invocations: 0,
    scanned: { source: 0, replica: 0 },
    tally: emptyTally(),
    readUnits: emptyReadUnits(),
    durationMs: 0,
    maxInvocation: { durationMs: 0, items: 0, peakRssMiB: 0 },
  };
}

export function planComparison(input: {
  itemCounts: { source: number; replica: number };
  options: CompareOptions;
}): ComparePlan {
  const { options, itemCounts } = input;
  const largest = Math.max(itemCounts.source, itemCounts.replica, 0);
  const totalSegments =
    options.segments ??
    Math.min(
      MAX_COMPARE_SEGMENTS,
      Math.max(options.maxConcurrency, Math.ceil(largest / TARGET_ITEMS_PER_SEGMENT)),
    );
  const perSegment = (itemCounts.source + itemCounts.replica) / totalSegments;
  const estimatedInvocations =
    totalSegments * Math.max(1, Math.ceil(perSegment / options.itemsPerInvocation));
  if (estimatedInvocations > MAX_PLANNED_INVOCATIONS) {
    throw new PreconditionError(
      `A full comparison of ${itemCounts.source} source and ${itemCounts.replica} replica items in ${totalSegments} segments of at most ${options.itemsPerInvocation} items an invocation needs about ${estimatedInvocations} invocations, more than one execution's history holds (${MAX_PLANNED_INVOCATIONS}).`,
      `raise compare.itemsPerInvocation (and compare.secondsPerInvocation) so that segments × ceil(items per segment / itemsPerInvocation) stays under ${MAX_PLANNED_INVOCATIONS}.`,
    );
  }
  const { segments: _, ...rest } = options;
  return {
    totalSegments,
    maxConcurrency: Math.min(options.maxConcurrency, totalSegments),
    estimatedInvocations,
    itemCounts,
    options: rest,
    segments: Array.from({ length: totalSegments }, (_, i) => initialProgress(i, totalSegments)),
  };
}

export interface ComparisonFigures extends MismatchCounts {
  mode: 'full';
  totalSegments: number;
  segmentsDone: number;
  examples: RecheckTally['examples'];
  readUnits: ReadUnitsFigures;
  invocations: number;
  maxInvocation: InvocationFigures;
  /** Sum of the invocations' durations (they run `maxConcurrency` at a time). */
  invocationMs: number;
  statement: string;
  segments: {
    segment: number;
    invocations: number;
    scanned: SegmentProgress['scanned'];
    missing: number;
    differing: number;
    extra: number;
    readUnits: number;
    durationMs: number;
    maxInvocation: InvocationFigures;
  }[];
}

export type ComparisonVerdict = Verdict<ComparisonFigures>;

/** The verdict from every segment's final progress. */
export function judgeComparison(input: {
  sourceTableName: string;
  replicaTableName: string;
  segments: readonly SegmentProgress[];
}): ComparisonVerdict {
  const { segments } = input;
  const tally = emptyTally();
  const maxExamples = 20;
  for (const s of segments) addTally(tally, s.tally, maxExamples);
  const sum = (pick: (s: SegmentProgress) => number) => segments.reduce((a, s) => a + pick(s), 0);
  const sourceItems = sum((s) => s.scanned.source);
  const replicaItems = sum((s) => s.scanned.replica);
  const mismatches = tally.missing + tally.differing;
  const done = segments.filter((s) => s.done).length;
  const totalSegments = segments[0]?.totalSegments ?? 0;
  const readUnits = sumReadUnits(segments.map((s) => s.readUnits));
  const maxInvocation = segments.reduce<InvocationFigures>(
    (m, s) => ({
      durationMs: Math.max(m.durationMs, s.maxInvocation.durationMs),
      items: Math.max(m.items, s.maxInvocation.items),
      peakRssMiB: Math.max(m.peakRssMiB, s.maxInvocation.peakRssMiB),
    }),
    { durationMs: 0, items: 0, peakRssMiB: 0 },
  );
  const statement = confidenceStatement({
    compared: sourceItems,
    mismatches,
    census: done === totalSegments,
    noun: 'source items',
  });
  const reasons: string[] = [];
  if (done < totalSegments || segments.length !== totalSegments) {
    reasons.push(
      `Only ${done} of ${totalSegments} segments finished: start the compare workflow again with the same input.`,
    );
  }
  if (tally.missing > 0) {
    reasons.push(
      `${tally.missing} of ${sourceItems} source items are missing from ${input.replicaTableName} (e.g. ${tally.examples.missing[0]}).`,
    );
  }
  if (tally.differing > 0) {
    reasons.push(
      `${tally.differing} replica items differ from their source (e.g. ${tally.examples.differing[0]}).`,
    );
  }
  if (tally.extra > 0) {
    reasons.push(
      `${tally.extra} of ${replicaItems} replica items have no source item (e.g. ${tally.examples.extra[0]}): deletes not replicated, or writes to the replica from elsewhere.`,
    );
  }
  const figures: ComparisonFigures = {
    mode: 'full',
    totalSegments,
    segmentsDone: done,
    sourceItems,
    replicaItems,
    compared: sourceItems,
    missing: tally.missing,
    differing: tally.differing,
    extra: tally.extra,
    settled: tally.settled,
    inFlight: tally.inFlight,
    examples: tally.examples,
    readUnits,
    invocations: sum((s) => s.invocations),
    maxInvocation,
    invocationMs: sum((s) => s.durationMs),
    statement: statement.text,
    segments: segments.map((s) => ({
      segment: s.segment,
      invocations: s.invocations,
      scanned: s.scanned,
      missing: s.tally.missing,
      differing: s.tally.differing,
      extra: s.tally.extra,
      readUnits: s.readUnits.total,
      durationMs: s.durationMs,
      maxInvocation: s.maxInvocation,
    })),
  };
  return verdict(
    CheckName.Comparison,
    reasons,
    figures,
    `comparison healthy: ${sourceItems} source and ${replicaItems} replica items compared in ${totalSegments} segments, none missing, differing or extra; ${readUnits.total} read units (${readUnits.basis}).`,
  );
}
