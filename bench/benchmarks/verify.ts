/**
 * Verification at scale (issue 16), on the bench's own DynamoDB Local:
 *
 * - The scheduled check: source and replica grow, by BatchWriteItem, from 20,000 to 200,000 items; at each
 *   size the real verify-replication bundle runs several times, each invocation in a Node.js process of its
 *   own (bench/lib/lambda-process.ts), with the default read budget, through the strict layer (only the
 *   checks talk to it here: the bench writes its tables directly). Measured: the handler's duration, the
 *   process's peak memory, the read units (DynamoDB's ConsumedCapacity, and computed from item sizes), the
 *   items compared, and from the layer's counters the stream requests the checks made. Flat means the
 *   largest table's medians over the smallest's stay near 1.
 * - The full comparison on demand: differences planted at random in the 200,000-item pair (missing,
 *   differing and extra items), then the real compare workflow (statemachines/compare.asl.json, run by
 *   aws-local-stepfunctions) with every compare-replicas invocation in its own process: each invocation's
 *   duration and peak memory, and whether every planted key was found.
 */

import { itemSize } from '../../core/tables/read-units.js';
import type { ComparisonVerdict, SegmentProgress } from '../../core/verification/compare-plan.js';
import type { ReplicationVerdict } from '../../core/verification/replication-check.js';
import { runWorkflowLocally } from '../../local/workflows/index.js';
import { seededRandom } from '../../test/support/fault-proxy.js';
import { fillPair, plantDifferences, replicaOf, userItem } from '../../test/support/replica-tables.js';
import type { BenchContext } from '../lib/context.js';
import { createTable } from '../lib/ddb.js';
import { invokeInOwnProcess } from '../lib/lambda-process.js';
import { median, round } from '../lib/stats.js';
import {
  type FullComparisonCost,
  fullComparisonCost,
  type SampledRunCost,
  sampledRunCost,
  USD_PER_MILLION_READ_UNITS,
} from '../lib/verify-cost.js';

export interface ScheduledRun {
  durationMs: number;
  initMs: number;
  peakRssMiB: number;
  readUnits: number;
  readUnitsComputed: number;
  basis: string;
  compared: number;
  replicaCompared: number;
  segmentsRead: number;
  totalSegments: number;
  census: boolean;
  upperBoundPercent: number;
}

export interface ScheduledAtSize {
  items: number;
  runs: ScheduledRun[];
  median: Pick<ScheduledRun, 'durationMs' | 'peakRssMiB' | 'readUnits' | 'compared' | 'upperBoundPercent'>;
}

export interface FullInvocation {
  segment: number;
  invocation: number;
  items: number;
  durationMs: number;
  initMs: number;
  peakRssMiB: number;
}

export interface VerifyResult {
  readBudget: number;
  itemBytes: { source: number; replica: number };
  writeSeconds: number;
  scheduled: ScheduledAtSize[];
  /** Largest size's medians over the smallest's. */
  flatness: { durationRatio: number; peakRssRatio: number; readUnitsRatio: number; comparedRatio: number };
  /** Every request the scheduled checks sent through the strict layer, by operation, and its refusals. */
  scheduledRequests: { byOperation: Record<string, number>; refused: number };
  full: {
    items: number;
    options: { segments: number; maxConcurrency: number; itemsPerInvocation: number };
    status: string;
    wallSeconds: number;
    planted: { missing: number; differing: number; extra: number };
    found: { missing: number; differing: number; extra: number };
    /** Every planted key among the segments' examples, and nothing else. */
    everyPlantedKeyFound: boolean;
    invocations: FullInvocation[];
    maxInvocation: { durationMs: number; peakRssMiB: number; items: number };
    readUnits: number;
    readUnitsComputed: number;
    basis: string;
    usd: number;
  };
  costModel: { sampled: SampledRunCost[]; full: FullComparisonCost[]; usdPerMillionReadUnits: number };
}

const READ_BUDGET = 250;
const LAMBDA_TIMEOUT_MS = 300_000;

function fleet(tables: { source: string; replica: string }) {
  return {
    name: 'bench-verify',
    clusterName: 'local',
    sourceTableName: tables.source,
    replicaTableName: tables.replica,
    applicationName: 'bench-verify-app',
    checks: { readBudget: READ_BUDGET },
  };
}

async function scheduledRun(
  ctx: BenchContext,
  tables: { source: string; replica: string },
): Promise<ScheduledRun> {
  const run = await invokeInOwnProcess<ReplicationVerdict>(
    'verify-replication',
    { fleet: fleet(tables) },
    { endpoint: ctx.endpoint, timeoutMs: LAMBDA_TIMEOUT_MS },
  );
  if (!run.result) throw new Error(`verify-replication failed: ${run.error?.name}: ${run.error?.message}`);
  const f = run.result.figures;
  return {
    durationMs: round(run.durationMs),
    initMs: round(run.initMs),
    peakRssMiB: round(run.peakRssMiB, 1),
    readUnits: f.readUnits.total,
    readUnitsComputed: f.readUnits.computed,
    basis: f.readUnits.basis,
    compared: f.compared,
    replicaCompared: f.replicaItems,
    segmentsRead: f.sample.source.segments.read,
    totalSegments: f.sample.source.segments.total,
    census: f.sample.source.census,
    upperBoundPercent: round(f.sample.source.statement.upperBound * 100, 3),
  };
}

/** The compare workflow with each compare-replicas invocation in its own process. */
async function fullComparison(
  ctx: BenchContext,
  tables: { source: string; replica: string },
  options: { segments: number; maxConcurrency: number; itemsPerInvocation: number },
) {
  const invocations: FullInvocation[] = [];
  const finals: SegmentProgress[] = [];
  let verdict: ComparisonVerdict | undefined;
  const started = performance.now();
  const execution = await runWorkflowLocally(
    'compare',
    { fleet: fleet(tables), compare: { ...options, maxExamples: 20, recheckAfterMs: 1_000 } },
    {
      controlPlane: {
        clusterMode: 'local',
        region: 'us-east-1',
        endpoint: ctx.endpoint,
        alertsTopicArn: undefined,
        metricsNamespace: 'Streamfleet',
      },
      retryMs: 100,
      timeoutMs: 3_600_000,
      handlers: {
        'compare-replicas': async (event) => {
          const run = await invokeInOwnProcess<unknown>('compare-replicas', event, {
            endpoint: ctx.endpoint,
            timeoutMs: LAMBDA_TIMEOUT_MS,
          });
          if (run.error) throw Object.assign(new Error(run.error.message), { name: run.error.name });
          const step = (event as { step?: string }).step;
          if (step === 'segment') {
            const before = (event as { segment: SegmentProgress }).segment;
            const after = run.result as SegmentProgress;
            invocations.push({
              segment: after.segment,
              invocation: after.invocations,
              items:
                after.scanned.source + after.scanned.replica - before.scanned.source - before.scanned.replica,
              durationMs: round(run.durationMs),
              initMs: round(run.initMs),
              peakRssMiB: round(run.peakRssMiB, 1),
            });
            if (after.done) finals.push(after);
            ctx.log(
              `    segment ${after.segment} invocation ${after.invocations}: ${invocations.at(-1)?.items} items, ${round(run.durationMs)} ms, peak ${round(run.peakRssMiB)} MiB${after.done ? ' (done)' : ''}`,
            );
          }
          if (step === 'report') verdict = run.result as ComparisonVerdict;
          return run.result;
        },
      },
    },
  );
  return { execution, invocations, finals, verdict, wallSeconds: (performance.now() - started) / 1000 };
}

export async function runVerify(ctx: BenchContext, options: { quick: boolean }): Promise<VerifyResult> {
  const sizes = options.quick ? [2_000, 20_000] : [20_000, 50_000, 100_000, 200_000];
  const rounds = options.quick ? 2 : 5;
  const tables = { source: 'bench-verify-users', replica: 'bench-verify-users_replica' };
  await createTable(ctx.client, tables.source, true);
  await createTable(ctx.client, tables.replica);

  const scheduled: ScheduledAtSize[] = [];
  await ctx.rules.reset();
  let written = 0;
  let writeMs = 0;
  for (const size of sizes) {
    const t0 = performance.now();
    await fillPair(ctx.client, tables, { from: written, to: size });
    writeMs += performance.now() - t0;
    written = size;
    ctx.log(`  ${size} items in source and replica (BatchWriteItem, ${round(writeMs / 1000)} s so far)`);
    const runs: ScheduledRun[] = [];
    for (let r = 0; r < rounds; r++) runs.push(await scheduledRun(ctx, tables));
    const m = {
      durationMs: median(runs.map((x) => x.durationMs)),
      peakRssMiB: median(runs.map((x) => x.peakRssMiB)),
      readUnits: median(runs.map((x) => x.readUnits)),
      compared: median(runs.map((x) => x.compared)),
      upperBoundPercent: median(runs.map((x) => x.upperBoundPercent)),
    };
    scheduled.push({ items: size, runs, median: m });
    ctx.log(
      `  scheduled check at ${size}: ${m.durationMs} ms, peak ${m.peakRssMiB} MiB, ${m.readUnits} read units (${runs[0]?.basis}; computed ${runs[0]?.readUnitsComputed}), ${m.compared} items compared (${runs[0]?.segmentsRead} of ${runs[0]?.totalSegments} segments), bound ${m.upperBoundPercent} %`,
    );
  }
  const layerStats = await ctx.rules.stats();
  const scheduledRequests = {
    byOperation: { ...layerStats.requests.byOperation },
    refused: layerStats.refused.total,
  };
  ctx.log(`  the scheduled checks' requests: ${JSON.stringify(scheduledRequests.byOperation)}`);
  const first = scheduled[0]?.median;
  const last = scheduled.at(-1)?.median;
  const ratio = (pick: (m: ScheduledAtSize['median']) => number) =>
    first && last ? round(pick(last) / pick(first), 2) : Number.NaN;

  const items = written;
  const random = seededRandom(16);
  const plantedCounts = options.quick
    ? { missing: 6, differing: 5, extra: 4 }
    : { missing: 40, differing: 30, extra: 20 };
  const planted = await plantDifferences(ctx.client, tables, { count: items, ...plantedCounts, random });
  ctx.log(
    `  planted at random: ${planted.missing.length} missing, ${planted.differing.length} differing, ${planted.extra.length} extra`,
  );
  const compareOptions = options.quick
    ? { segments: 4, maxConcurrency: 2, itemsPerInvocation: 4_000 }
    : { segments: 8, maxConcurrency: 2, itemsPerInvocation: 20_000 };
  const full = await fullComparison(ctx, tables, compareOptions);
  const examples = (kind: 'missing' | 'differing' | 'extra') =>
    full.finals.flatMap((s) => s.tally.examples[kind]).sort();
  const everyPlantedKeyFound =
    JSON.stringify(examples('missing')) === JSON.stringify(planted.missing) &&
    JSON.stringify(examples('differing')) === JSON.stringify(planted.differing) &&
    JSON.stringify(examples('extra')) === JSON.stringify(planted.extra);
  const figures = full.verdict?.figures;
  ctx.log(
    `  full comparison: ${full.execution.status} (${full.execution.error ?? 'no error'}) in ${round(full.wallSeconds)} s; found ${figures?.missing}/${figures?.differing}/${figures?.extra}; every planted key found: ${everyPlantedKeyFound}`,
  );

  const sample = userItem(items - 1);
  const itemBytes = { source: itemSize(sample), replica: itemSize(replicaOf(sample)) };
  return {
    readBudget: READ_BUDGET,
    itemBytes,
    writeSeconds: round(writeMs / 1000, 1),
    scheduled,
    flatness: {
      durationRatio: ratio((m) => m.durationMs),
      peakRssRatio: ratio((m) => m.peakRssMiB),
      readUnitsRatio: ratio((m) => m.readUnits),
      comparedRatio: ratio((m) => m.compared),
    },
    scheduledRequests,
    full: {
      items,
      options: compareOptions,
      status: full.execution.status,
      wallSeconds: round(full.wallSeconds, 1),
      planted: plantedCounts,
      found: {
        missing: figures?.missing ?? -1,
        differing: figures?.differing ?? -1,
        extra: figures?.extra ?? -1,
      },
      everyPlantedKeyFound,
      invocations: full.invocations,
      maxInvocation: {
        durationMs: Math.max(...full.invocations.map((i) => i.durationMs)),
        peakRssMiB: Math.max(...full.invocations.map((i) => i.peakRssMiB)),
        items: Math.max(...full.invocations.map((i) => i.items)),
      },
      readUnits: figures?.readUnits.total ?? Number.NaN,
      readUnitsComputed: figures?.readUnits.computed ?? Number.NaN,
      basis: figures?.readUnits.basis ?? 'none',
      usd: ((figures?.readUnits.total ?? 0) / 1e6) * USD_PER_MILLION_READ_UNITS,
    },
    costModel: {
      sampled: [1_000, 20_000, 200_000, 50_000_000, 1_000_000_000].flatMap((n) =>
        [200, 1_000].map((bytes) => sampledRunCost({ items: n, itemBytes: bytes, readBudget: READ_BUDGET })),
      ),
      full: [200_000, 50_000_000, 1_000_000_000].map((n) =>
        fullComparisonCost({ items: n, itemBytes: 1_000 }),
      ),
      usdPerMillionReadUnits: USD_PER_MILLION_READ_UNITS,
    },
  };
}
