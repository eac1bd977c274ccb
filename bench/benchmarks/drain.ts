/**
 * Backlog drain: 20,000 changes preloaded into the source stream with no worker running, then, on fresh
 * replica tables, in the same run and in rotating order, every program talking to the strict layer
 * (local/aws-rules) in front of DynamoDB Local:
 *   - the worker (dist/consumer.js, default fenced mode) from spawn to replica complete;
 *   - the worker with REPLICATION_WRITE_MODE=conditional;
 *   - the order-safe limit (bench/loops/bare-loop.ts, order-safe mode) that obeys the same rules: one fenced
 *     transaction in flight (AWS cancels two that share the fence item), reads prefetched and paced;
 *   - the unsafe limit (BatchWriteItem, no conditions);
 *   - the worker and the order-safe limit again with the layer's rules off, for the same-run comparison with
 *     what the emulator alone allows.
 * "Replica complete" is the first /metrics sample (every 50 ms) with records_processed = N, checked afterwards
 * by counting the replica. The steady part is the rate between 10 % and 90 % of the records.
 */
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { deleteTables } from '../lib/ddb.js';
import { type ProfileSummary, summarizeProfile } from '../lib/profile.js';
import { median, round } from '../lib/stats.js';
import {
  DRAIN_VARIANTS,
  type DrainOptions,
  type DrainRun,
  type DrainVariant,
  drainWithLoop,
  drainWithWorker,
  prepareSource,
  RULES_OFF,
} from './drain-runs.js';

export interface DrainResult {
  records: number;
  rounds: number;
  preloadSeconds: number;
  limitConcurrency: { orderSafe: number; unsafe: number };
  sweep: {
    variant: DrainVariant;
    concurrency: number;
    steadyRate: number;
    totalRate: number;
    refused: number;
  }[];
  runs: DrainRun[][];
  median: Record<
    DrainVariant,
    { totalRate: number; steadyRate: number; totalSeconds: number; startupSeconds: number }
  >;
  /** Per-round ratios, then their median. */
  ratios: {
    perRound: Record<string, number>[];
    median: Record<string, number>;
  };
  peakRssMiB: number;
  profile?: ProfileSummary;
}

export async function runDrain(ctx: BenchContext, options: DrainOptions): Promise<DrainResult> {
  const { records, rounds } = options;
  const source = await prepareSource(ctx, records);
  ctx.log(`preloaded in ${round(source.preloadSeconds, 1)} s`);

  // DynamoDB Local's JVM takes tens of thousands of requests to warm up (its CPU per record falls 4x over the
  // first few drains): warm it, unmeasured, with every kind of request the variants make, until its CPU per
  // record stops falling.
  ctx.log('  warming DynamoDB Local up (unmeasured drains)...');
  const warm = await drainWithWorker(ctx, source, records, 'worker-fenced');
  await warm.cleanup();
  let previous = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    const run = await drainWithLoop(ctx, source, records, 'order-safe', 1);
    const perRecord = (run.ddbLocalCpuSeconds ?? 0) / records;
    if (perRecord > 0.85 * previous) break;
    previous = perRecord;
  }

  // The order-safe limit that obeys the transaction rule keeps one transaction in flight: every transaction
  // includes the fence item, and AWS cancels two in flight that share an item. With the rule off (the
  // headline says so, or for the comparison) it would go faster with more, which the sweep shows once.
  const conflictsModelled = ctx.rules.headline.transactionConflicts;
  const sweep: DrainResult['sweep'] = [];
  const orderSafeK = conflictsModelled ? 1 : 4;
  let unsafeK = 8;
  if (options.sweep) {
    for (const [mode, ks] of [
      ['order-safe', conflictsModelled ? [1, 2, 4] : [1, 2, 4, 8]],
      ['unsafe', [4, 8, 16]],
    ] as const) {
      let best = { k: 0, rate: 0 };
      for (const k of ks) {
        const run = await drainWithLoop(ctx, source, records, mode, k);
        sweep.push({
          variant: run.variant,
          concurrency: k,
          steadyRate: run.steadyRate,
          totalRate: run.totalRate,
          refused: run.refused.total,
        });
        ctx.log(
          `  sweep ${mode} ×${k}: ${Math.round(run.steadyRate)} rec/s steady, ${run.refused.total} refused by the layer`,
        );
        if (run.steadyRate > best.rate) best = { k, rate: run.steadyRate };
      }
      if (mode === 'unsafe') unsafeK = best.k;
    }
  }

  const runs: DrainRun[][] = [];
  for (let r = 0; r < rounds; r++) {
    const order = DRAIN_VARIANTS.map(
      (_, i) => DRAIN_VARIANTS[(i + r) % DRAIN_VARIANTS.length] as DrainVariant,
    );
    const roundRuns: DrainRun[] = [];
    for (const variant of order) {
      let run: DrainRun;
      if (variant === 'limit-order-safe')
        run = await drainWithLoop(ctx, source, records, 'order-safe', orderSafeK);
      else if (variant === 'limit-unsafe') run = await drainWithLoop(ctx, source, records, 'unsafe', unsafeK);
      else if (variant === 'limit-order-safe-rules-off')
        run = await ctx.rules.with(RULES_OFF, () =>
          drainWithLoop(ctx, source, records, 'order-safe', 1, variant),
        );
      else if (variant === 'worker-fenced-rules-off') {
        const drained = await ctx.rules.with(RULES_OFF, () =>
          drainWithWorker(ctx, source, records, variant).then(async (d) => {
            await d.cleanup();
            return d;
          }),
        );
        run = drained.run;
      } else {
        const drained = await drainWithWorker(ctx, source, records, variant);
        run = drained.run;
        await drained.cleanup();
      }
      roundRuns.push(run);
      ctx.log(
        `  round ${r + 1} ${variant.padEnd(26)} ${String(Math.round(run.totalRate)).padStart(5)} rec/s total, ` +
          `${String(Math.round(run.steadyRate)).padStart(5)} steady, ${round(run.totalSeconds, 2)} s, ` +
          `${run.refused.total} refused`,
      );
    }
    runs.push(roundRuns);
  }

  const byVariant = (variant: DrainVariant) =>
    runs.map((rr) => rr.find((run) => run.variant === variant) as DrainRun);
  const med = Object.fromEntries(
    DRAIN_VARIANTS.map((variant) => {
      const vr = byVariant(variant);
      return [
        variant,
        {
          totalRate: median(vr.map((r) => r.totalRate)),
          steadyRate: median(vr.map((r) => r.steadyRate)),
          totalSeconds: median(vr.map((r) => r.totalSeconds)),
          startupSeconds: median(vr.map((r) => r.startupSeconds)),
        },
      ];
    }),
  ) as DrainResult['median'];
  const perRound = runs.map((rr) => {
    const get = (variant: DrainVariant) => rr.find((run) => run.variant === variant) as DrainRun;
    const w = get('worker-fenced');
    const c = get('worker-conditional');
    const s = get('limit-order-safe');
    const u = get('limit-unsafe');
    const wOff = get('worker-fenced-rules-off');
    const sOff = get('limit-order-safe-rules-off');
    return {
      workerVsOrderSafeTotal: w.totalRate / s.totalRate,
      workerVsOrderSafeSteady: w.steadyRate / s.steadyRate,
      rulesOffWorkerVsOrderSafeSteady: wOff.steadyRate / sOff.steadyRate,
      rulesOffWorkerVsOrderSafeTotal: wOff.totalRate / sOff.totalRate,
      workerRulesOnVsOffSteady: w.steadyRate / wOff.steadyRate,
      workerVsUnsafeTotal: w.totalRate / u.totalRate,
      workerVsUnsafeSteady: w.steadyRate / u.steadyRate,
      orderSafeVsUnsafeSteady: s.steadyRate / u.steadyRate,
      conditionalVsFencedSteady: c.steadyRate / w.steadyRate,
      conditionalVsFencedTotal: c.totalRate / w.totalRate,
      // DynamoDB Local's CPU per record, limit over worker: robust to the machine's other load (1 = as lean).
      ddbLocalCpuLimitVsWorker: (s.ddbLocalCpuSeconds ?? Number.NaN) / (w.ddbLocalCpuSeconds ?? Number.NaN),
    };
  });
  const ratioKeys = Object.keys(perRound[0] ?? {});
  const ratios = {
    perRound,
    median: Object.fromEntries(
      ratioKeys.map((k) => [k, median(perRound.map((p) => p[k as keyof typeof p]))]),
    ),
  };
  const peakRssMiB = median(byVariant('worker-fenced').map((r) => r.peakRssMiB ?? Number.NaN));

  let profile: ProfileSummary | undefined;
  if (options.profile) {
    // BENCH_PROFILE_VARIANT=worker-conditional profiles the conditional mode's drain instead.
    const variant =
      process.env.BENCH_PROFILE_VARIANT === 'worker-conditional' ? 'worker-conditional' : 'worker-fenced';
    ctx.log(`  profiling one more ${variant} drain (CPU profile via node:inspector)...`);
    const file = join(ctx.profileDir, `drain-${variant}-${Date.now()}.cpuprofile`);
    const drained = await drainWithWorker(ctx, source, records, variant, {
      NODE_OPTIONS: `--require ${ctx.loops['profiler-preload']}`,
      BENCH_CPU_PROFILE: file,
    });
    await drained.worker.stop('SIGTERM');
    await drained.cleanup();
    profile = await summarizeProfile(file, {
      wallSeconds: drained.run.totalSeconds,
      records,
    });
  }

  await deleteTables(ctx.client, [source.table]);
  return {
    records,
    rounds,
    preloadSeconds: source.preloadSeconds,
    limitConcurrency: { orderSafe: orderSafeK, unsafe: unsafeK },
    sweep,
    runs,
    median: med,
    ratios,
    peakRssMiB,
    profile,
  };
}
