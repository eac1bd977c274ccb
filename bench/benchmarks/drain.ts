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
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type RefusedCounts, refusedCounts } from '../../local/aws-rules/index.js';
import { createBareLoopTables, spawnBareLoop } from '../lib/bare-loop.js';
import type { BenchContext } from '../lib/context.js';
import { countItems, createTable, deleteTables, preload, streamShards } from '../lib/ddb.js';
import { byLabel, type Scrape, total } from '../lib/metrics.js';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.js';
import { type ProfileSummary, summarizeProfile } from '../lib/profile.js';
import { median, round } from '../lib/stats.js';
import { BenchWorker } from '../lib/worker.js';
import type { BareLoopConfig, BareLoopResult } from '../loops/bare-loop.js';

export const DRAIN_VARIANTS = [
  'worker-fenced',
  'worker-conditional',
  'limit-order-safe',
  'limit-unsafe',
  'worker-fenced-rules-off',
  'limit-order-safe-rules-off',
] as const;
const RULES_OFF = {
  transactionConflicts: false,
  getRecordsRate: false,
  readersPerShard: false,
  describeStreamRate: false,
} as const;
export type DrainVariant = (typeof DRAIN_VARIANTS)[number];

/** Request counts a worker reported on /metrics at the end of its run. */
export interface WorkerCounters {
  getRecords: number;
  leaseTable: Record<string, number>;
  replicaWrites: Record<string, number>;
  checkpoints: number;
  recordsProcessed: number;
}

export interface DrainRun {
  variant: DrainVariant;
  concurrency?: number;
  records: number;
  /** Spawn → replica complete. */
  totalSeconds: number;
  totalRate: number;
  /** Records/s between 10 % and 90 % of the records replicated. */
  steadyRate: number;
  /** Spawn → first record replicated. */
  startupSeconds: number;
  processCpuSeconds: number | undefined;
  ddbLocalCpuSeconds: number | undefined;
  /** Cores busy with everything else on the machine meanwhile (other engineers' tests, the bench itself). */
  otherBusyCores: number | undefined;
  peakRssMiB?: number;
  counters?: WorkerCounters;
  /** What the strict layer refused during the run (0 everywhere with the rules off). */
  refused: RefusedCounts;
}

async function refusedSince(ctx: BenchContext): Promise<RefusedCounts> {
  return refusedCounts(await ctx.rules.stats());
}

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

export interface DrainOptions {
  records: number;
  rounds: number;
  sweep: boolean;
  profile: boolean;
}

export function workerCounters(scrape: Scrape): WorkerCounters {
  return {
    getRecords: total(scrape, 'streamfleet_get_records_latency_seconds_count'),
    leaseTable: byLabel(scrape, 'streamfleet_lease_table_requests_total', 'operation'),
    replicaWrites: byLabel(scrape, 'streamfleet_replica_writes_total', 'outcome'),
    checkpoints: total(scrape, 'streamfleet_checkpoints_total'),
    recordsProcessed: total(scrape, 'streamfleet_records_processed_total'),
  };
}

interface Source {
  table: string;
  streamArn: string;
  shardId: string;
  prefix: string;
}

let sequence = 0;

async function drainWithWorker(
  ctx: BenchContext,
  source: Source,
  records: number,
  variant: 'worker-fenced' | 'worker-conditional' | 'worker-fenced-rules-off',
  extraEnv: Record<string, string> = {},
): Promise<{ run: DrainRun; worker: BenchWorker; cleanup: () => Promise<void> }> {
  const n = ++sequence;
  const target = `${source.prefix}-replica-${n}`;
  const app = `${source.prefix}-app-${n}`;
  await createTable(ctx.client, target);
  await ctx.rules.reset();
  const java0 = cpuSeconds(ctx.javaPid);
  const busy0 = machineBusySeconds();
  const worker = await BenchWorker.start({
    endpoint: ctx.endpoint,
    tables: { source: source.table, target, app, streamArn: source.streamArn },
    name: `drain-${n}`,
    env: {
      REPLICATION_WRITE_MODE: variant === 'worker-conditional' ? 'conditional' : 'fenced',
      ...extraEnv,
    },
  });
  const timeline: { at: number; value: number }[] = [];
  const deadline = Date.now() + Math.max(180_000, records * 20);
  let first: number | undefined;
  for (;;) {
    if (worker.exited) throw new Error(`${worker.name} exited:\n${worker.output.slice(-3000)}`);
    const value = await worker.counter('streamfleet_records_processed_total');
    const at = Date.now();
    if (value !== undefined) {
      timeline.push({ at, value });
      if (value > 0 && first === undefined) first = at;
      if (value >= records) break;
    }
    if (at > deadline) throw new Error(`${worker.name} drained ${value} of ${records} in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const done = timeline.at(-1)?.at ?? Date.now();
  const peak = worker.peakRssKb();
  const processCpu = worker.cpuSeconds();
  const java1 = cpuSeconds(ctx.javaPid);
  const busy1 = machineBusySeconds();
  const counters = workerCounters(await worker.scrape());
  const refused = await refusedSince(ctx);
  const totalSeconds = (done - worker.startedAt) / 1000;
  const javaCpu = java0 !== undefined && java1 !== undefined ? java1 - java0 : undefined;
  const run: DrainRun = {
    variant,
    records,
    totalSeconds,
    totalRate: records / totalSeconds,
    steadyRate: steadyRate(timeline, records),
    startupSeconds: ((first ?? done) - worker.startedAt) / 1000,
    processCpuSeconds: processCpu,
    ddbLocalCpuSeconds: javaCpu,
    otherBusyCores: otherCores(busy0, busy1, [processCpu, javaCpu], totalSeconds),
    peakRssMiB: peak === undefined ? undefined : peak / 1024,
    counters,
    refused,
  };
  const cleanup = async () => {
    await worker.stop();
    const replicated = await countItems(ctx.client, target);
    await deleteTables(ctx.client, [target, app]);
    if (replicated !== records) throw new Error(`${variant}: replica has ${replicated} of ${records} items`);
  };
  return { run, worker, cleanup };
}

function otherCores(
  busy0: number | undefined,
  busy1: number | undefined,
  ours: (number | undefined)[],
  seconds: number,
): number | undefined {
  if (busy0 === undefined || busy1 === undefined || ours.some((v) => v === undefined)) return undefined;
  const own = ours.reduce<number>((a, b) => a + (b ?? 0), 0);
  return Math.max(0, (busy1 - busy0 - own) / seconds);
}

/** Rate between the samples where 10 % and 90 % of the records were done. */
function steadyRate(timeline: readonly { at: number; value: number }[], records: number): number {
  const a = timeline.find((s) => s.value >= 0.1 * records);
  const b = timeline.find((s) => s.value >= 0.9 * records);
  if (!a || !b || b.at <= a.at) return Number.NaN;
  return ((b.value - a.value) / (b.at - a.at)) * 1000;
}

async function drainWithLoop(
  ctx: BenchContext,
  source: Source,
  records: number,
  mode: BareLoopConfig['mode'],
  concurrency: number,
  variant: DrainVariant = mode === 'order-safe' ? 'limit-order-safe' : 'limit-unsafe',
): Promise<DrainRun> {
  const n = ++sequence;
  const tables = { target: `${source.prefix}-replica-${n}`, fenceTable: `${source.prefix}-fence-${n}` };
  const { target, fenceTable } = tables;
  await createBareLoopTables(ctx, source.shardId, tables);
  await ctx.rules.reset();
  const java0 = cpuSeconds(ctx.javaPid);
  const busy0 = machineBusySeconds();
  const spawnedAt = Date.now();
  const child = spawnBareLoop(ctx, source, tables, { expected: records, concurrency, mode });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const java1 = cpuSeconds(ctx.javaPid);
  const busy1 = machineBusySeconds();
  const javaCpu = java0 !== undefined && java1 !== undefined ? java1 - java0 : undefined;
  if (code !== 0) throw new Error(`bare-loop ${mode} exited ${code}: ${err.slice(-2000)}`);
  const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as BareLoopResult;
  const refused = await refusedSince(ctx);
  const replicated = await countItems(ctx.client, target);
  await deleteTables(ctx.client, [target, fenceTable]);
  if (replicated !== records) throw new Error(`${mode} loop: replica has ${replicated} of ${records} items`);
  const totalSeconds = (result.doneAt - spawnedAt) / 1000;
  return {
    variant,
    concurrency,
    records,
    totalSeconds,
    totalRate: records / totalSeconds,
    steadyRate: result.steadyRate,
    startupSeconds: (result.firstWriteAt - spawnedAt) / 1000,
    processCpuSeconds: result.cpuSeconds,
    ddbLocalCpuSeconds: javaCpu,
    otherBusyCores: otherCores(busy0, busy1, [result.cpuSeconds, javaCpu], (Date.now() - spawnedAt) / 1000),
    refused,
  };
}

export async function prepareSource(
  ctx: BenchContext,
  records: number,
): Promise<Source & { preloadSeconds: number }> {
  const prefix = `drain-${randomUUID().slice(0, 6)}`;
  const table = `${prefix}-users`;
  const streamArn = await createTable(ctx.client, table, true);
  if (!streamArn) throw new Error('no stream ARN');
  ctx.log(`preloading ${records} changes into ${table} (no worker running)...`);
  const { ms } = await preload(ctx.client, table, records);
  const shards = await streamShards(ctx.streams, streamArn);
  if (shards.length !== 1) throw new Error(`expected one shard from DynamoDB Local, got ${shards.length}`);
  return { table, streamArn, shardId: shards[0] as string, prefix, preloadSeconds: ms / 1000 };
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
