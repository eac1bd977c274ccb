/**
 * Steady-state lag: writes at a fixed rate (300/s) into the source table for 60 s (quick: 12 s) while two
 * workers with their default settings run; a sample of the items (1 in 5) is watched in the replica by
 * ReplicaObserver, which brackets when each first appears. Lag = appearance − writtenAt (stamped in the item
 * just before its PutItem), so it includes the source write, the stream, the worker and the replica write.
 *
 * In the same round, the lag limit: the bare order-safe loop (bench/loops/bare-loop.ts) tailing the stream
 * from LATEST, one fenced transaction in flight and reads as close together as the 5-a-second limit allows,
 * observed the same way.
 *
 * Workers and loop talk to the strict layer (local/aws-rules); the load writer and the replica observer go to
 * DynamoDB Local directly, so the layer's counters over each measured window are the workers' requests alone:
 * what it refused (throttled reads, conflicts), and the reads per shard.
 *
 * All phases share one source table and stream (DynamoDB Local slows down for good with every stream created,
 * see run.ts), each phase with fresh replica and lease tables and its own keys. The workers therefore start
 * their (new) lease at LATEST (INITIAL_POSITION=LATEST; everything else default): in steady state that setting
 * plays no part. An unmeasured warm-up phase runs first (DynamoDB Local's JVM starts cold).
 */
import { randomUUID } from 'node:crypto';
import { systemClock } from '../../core/vocabulary/clock.js';
import { peakReadsPerShardSecond, type RefusedCounts, refusedCounts } from '../../local/aws-rules/index.js';
import { localClient } from '../../test/support/fleet.js';
import { createBareLoopTables, spawnBareLoop } from '../lib/bare-loop.js';
import type { BenchContext } from '../lib/context.js';
import { createTable, deleteTables, streamShards } from '../lib/ddb.js';
import { RateWriter } from '../lib/load.js';
import { delta, type Scrape, total } from '../lib/metrics.js';
import { ReplicaObserver } from '../lib/observer.js';
import { machineBusySeconds } from '../lib/proc.js';
import { median, percentile } from '../lib/stats.js';
import { BenchWorker } from '../lib/worker.js';
import { type WorkerCounters, workerCounters } from './drain-runs.js';

export interface LagStats {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** The same percentiles of the optimistic end of each bracket. */
  p50Lower: number;
  p99Lower: number;
  achievedWriteRate: number;
  /** Source PutItem round trip (the first part of every lag figure). */
  sourceWriteP50: number;
  sourceWriteP99: number;
  notSeen: number;
  pollMeanRttMs: number;
  otherBusyCores: number | undefined;
}

/** The strict layer's view of one measured window (the workers' requests only). */
export interface LayerWindow {
  requestsByOperation: Record<string, number>;
  refused: RefusedCounts;
  /** GetRecords let through per shard, per second of the window (busiest shard). */
  getRecordsPerSecondBusiestShard: number;
  /** Most GetRecords let through on one shard in any 1,000 ms of the window. */
  peakGetRecordsInOneSecond: number;
}

export interface LagRound {
  worker: LagStats & {
    counters: WorkerCounters;
    layer: LayerWindow;
    leaseLosses: number;
    seconds: number;
    records: number;
    /** GetRecords that came back empty, per second (each is followed by IDLE_TIME_BETWEEN_READS_MS of sleep):
     * GetRecords minus checkpoints, as the worker checkpoints once per non-empty batch. */
    emptyReadsPerSecond: number;
  };
  limit: LagStats;
}

export interface LagResult {
  ratePerSecond: number;
  seconds: number;
  limitSeconds: number;
  sampleEvery: number;
  pollIntervalMs: number;
  warmupExcludedSeconds: number;
  warmupSeconds: number;
  idleTimeBetweenReadsMs: number;
  rounds: LagRound[];
  median: { worker: Omit<LagStats, 'otherBusyCores'>; limit: Omit<LagStats, 'otherBusyCores'> };
  /** Per-round worker p99 / limit p99, median. */
  p99VsLimit: number;
  emptyReadsPerSecond: number;
}

export interface LagOptions {
  ratePerSecond: number;
  seconds: number;
  limitSeconds: number;
  warmupSeconds: number;
  rounds: number;
  /** Extra worker environment (e.g. IDLE_TIME_BETWEEN_READS_MS for a comparison). */
  env?: Record<string, string>;
  /** Another build of the worker (prototype comparisons). */
  bundle?: string;
  /** Skip the bare-loop limit phases (the cost benchmark only needs the worker's windows). */
  workerOnly?: boolean;
}

const SAMPLE_EVERY = 5;
const POLL_MS = 50;
const WARMUP_MS = 2_000;

export interface LagSource {
  table: string;
  streamArn: string;
  shardId: string;
}

let phase = 0;

async function observeLoad(
  ctx: BenchContext,
  source: string,
  target: string,
  options: { ratePerSecond: number; seconds: number },
): Promise<{ stats: LagStats; writer: RateWriter }> {
  // Own clients, so that neither the writer's nor the observer's requests queue behind the other's; to
  // DynamoDB Local directly: the load and the observer are not the programs measured.
  const writeClient = localClient(ctx.directEndpoint);
  const readClient = localClient(ctx.directEndpoint);
  const observer = new ReplicaObserver(readClient, target, POLL_MS);
  const writer = new RateWriter(writeClient, source, options.ratePerSecond, `p${++phase}-`, (written, i) => {
    if (i % SAMPLE_EVERY === 0) observer.watch(written.key, written.writtenAt);
  });
  const busy0 = machineBusySeconds();
  const t0 = Date.now();
  observer.start();
  writer.start();
  await systemClock.sleep(options.seconds * 1000);
  await writer.stop();
  const notSeen = await observer.stop();
  const busy1 = machineBusySeconds();
  writeClient.destroy();
  readClient.destroy();
  const kept = observer.seen.filter((a) => a.writtenAt - writer.startedAt >= WARMUP_MS);
  const upper = kept.map((a) => a.lagUpper);
  const lower = kept.map((a) => a.lagLower);
  const seconds = (Date.now() - t0) / 1000;
  const acks = writer.written
    .filter((w) => w.ackedAt !== undefined && w.writtenAt - writer.startedAt >= WARMUP_MS)
    .map((w) => (w.ackedAt as number) - w.writtenAt);
  return {
    writer,
    stats: {
      samples: kept.length,
      p50: percentile(upper, 50),
      p95: percentile(upper, 95),
      p99: percentile(upper, 99),
      max: Math.max(...upper),
      p50Lower: percentile(lower, 50),
      p99Lower: percentile(lower, 99),
      achievedWriteRate: writer.achievedRate,
      sourceWriteP50: percentile(acks, 50),
      sourceWriteP99: percentile(acks, 99),
      notSeen,
      pollMeanRttMs: observer.meanRttMs,
      // Busy cores minus nothing: the workers, DynamoDB Local and the bench are all part of this load.
      otherBusyCores: busy0 !== undefined && busy1 !== undefined ? (busy1 - busy0) / seconds : undefined,
    },
  };
}

export async function workerPhase(
  ctx: BenchContext,
  options: LagOptions,
  source: LagSource,
): Promise<LagRound['worker']> {
  const prefix = `lag-${randomUUID().slice(0, 6)}`;
  const target = `${prefix}-replica`;
  const app = `${prefix}-app`;
  await createTable(ctx.client, target);
  const tables = { source: source.table, target, app, streamArn: source.streamArn };
  const env = { INITIAL_POSITION: 'LATEST', ...options.env };
  const start = (name: string) =>
    BenchWorker.start({ endpoint: ctx.endpoint, tables, name, env, bundle: options.bundle });
  // Started one after the other, `a` first.
  const workers = [await start(`${prefix}-a`), await start(`${prefix}-b`)];
  try {
    // Both started, and the shard's consumer is reading (one of them holds the only shard).
    await Promise.all(workers.map((w) => w.waitForEvent('worker.started', 30_000)));
    await Promise.race(workers.map((w) => w.waitForEvent('shard.initialized', 30_000)));
    await systemClock.sleep(1_000);
    const before = await Promise.all(workers.map((w) => w.scrape()));
    await ctx.rules.reset();
    const started = Date.now();
    const { stats, writer } = await observeLoad(ctx, source.table, target, options);
    const layerStats = await ctx.rules.stats();
    const after = await Promise.all(workers.map((w) => w.scrape()));
    const seconds = (Date.now() - started) / 1000;
    const sum = sumScrapes(after.map((a, i) => delta(a, before[i])));
    const counters = workerCounters(sum);
    const perShard = Object.values(layerStats.streams.getRecordsByShard);
    return {
      ...stats,
      counters,
      layer: {
        requestsByOperation: { ...layerStats.requests.byOperation },
        refused: refusedCounts(layerStats),
        getRecordsPerSecondBusiestShard: Math.max(0, ...perShard) / seconds,
        peakGetRecordsInOneSecond: peakReadsPerShardSecond(layerStats),
      },
      leaseLosses: total(sum, 'streamfleet_lease_losses_total'),
      seconds,
      records: writer.written.length,
      // Reads that moved no checkpoint came back empty (each non-empty batch moves it at least once).
      emptyReadsPerSecond: Math.max(0, counters.getRecords - counters.checkpoints) / seconds,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await deleteTables(ctx.client, [target, app]);
  }
}

function sumScrapes(scrapes: Scrape[]): Scrape {
  const out: Scrape = new Map();
  for (const s of scrapes) for (const [k, v] of s) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

async function limitPhase(ctx: BenchContext, options: LagOptions, source: LagSource): Promise<LagStats> {
  const prefix = `lagl-${randomUUID().slice(0, 6)}`;
  const tables = { target: `${prefix}-replica`, fenceTable: `${prefix}-fence` };
  const { target, fenceTable: fence } = tables;
  await createBareLoopTables(ctx, source.shardId, tables);
  const child = spawnBareLoop(ctx, source, tables, {
    expected: 0,
    concurrency: ctx.rules.headline.transactionConflicts ? 1 : 4,
    mode: 'order-safe',
    iteratorType: 'LATEST',
    emptyReadSleepMs: 10,
    stopAt: Date.now() + (options.limitSeconds + 20) * 1000,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('READY')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`bare loop exited ${code} before it was ready`)));
    });
    const { stats } = await observeLoad(ctx, source.table, target, {
      ratePerSecond: options.ratePerSecond,
      seconds: options.limitSeconds,
    });
    return stats;
  } finally {
    child.kill('SIGKILL');
    await deleteTables(ctx.client, [target, fence]);
  }
}

export async function runLag(ctx: BenchContext, options: LagOptions): Promise<LagResult> {
  const table = `lag-${randomUUID().slice(0, 6)}-users`;
  const streamArn = await createTable(ctx.client, table, true);
  const [shardId] = streamArn ? await streamShards(ctx.streams, streamArn) : [];
  if (!streamArn || !shardId) throw new Error('no stream');
  const source: LagSource = { table, streamArn, shardId };
  ctx.log('  warm-up phase (unmeasured)...');
  await workerPhase(ctx, { ...options, seconds: options.warmupSeconds }, source);
  const rounds: LagRound[] = [];
  for (let r = 0; r < options.rounds; r++) {
    // Alternate which goes first, so a drift in the machine's load does not favour one.
    let limit: LagStats;
    let worker: LagRound['worker'];
    if (options.workerOnly) {
      worker = await workerPhase(ctx, options, source);
      limit = worker;
    } else if (r % 2 === 0) {
      limit = await limitPhase(ctx, options, source);
      worker = await workerPhase(ctx, options, source);
    } else {
      worker = await workerPhase(ctx, options, source);
      limit = await limitPhase(ctx, options, source);
    }
    rounds.push({ worker, limit });
    ctx.log(
      `  round ${r + 1}: worker p50 ${Math.round(worker.p50)} p95 ${Math.round(worker.p95)} p99 ${Math.round(worker.p99)} ms ` +
        `(${worker.samples} samples, ${Math.round(worker.achievedWriteRate)} writes/s, source PutItem p50 ${Math.round(worker.sourceWriteP50)} ms, ${worker.emptyReadsPerSecond.toFixed(1)} empty reads/s); ` +
        `limit p50 ${Math.round(limit.p50)} p99 ${Math.round(limit.p99)} ms`,
    );
  }
  const med = (pick: (r: LagRound) => LagStats) => {
    const stats = rounds.map(pick);
    const m = (f: (s: LagStats) => number) => median(stats.map(f));
    return {
      samples: m((s) => s.samples),
      p50: m((s) => s.p50),
      p95: m((s) => s.p95),
      p99: m((s) => s.p99),
      max: m((s) => s.max),
      p50Lower: m((s) => s.p50Lower),
      p99Lower: m((s) => s.p99Lower),
      achievedWriteRate: m((s) => s.achievedWriteRate),
      sourceWriteP50: m((s) => s.sourceWriteP50),
      sourceWriteP99: m((s) => s.sourceWriteP99),
      notSeen: m((s) => s.notSeen),
      pollMeanRttMs: m((s) => s.pollMeanRttMs),
    };
  };
  return {
    ratePerSecond: options.ratePerSecond,
    seconds: options.seconds,
    limitSeconds: options.limitSeconds,
    sampleEvery: SAMPLE_EVERY,
    pollIntervalMs: POLL_MS,
    warmupExcludedSeconds: WARMUP_MS / 1000,
    idleTimeBetweenReadsMs: Number(options.env?.IDLE_TIME_BETWEEN_READS_MS ?? 500),
    warmupSeconds: options.warmupSeconds,
    rounds,
    median: { worker: med((r) => r.worker), limit: med((r) => r.limit) },
    p99VsLimit: median(rounds.map((r) => r.worker.p99 / r.limit.p99)),
    emptyReadsPerSecond: median(rounds.map((r) => r.worker.emptyReadsPerSecond)),
  };
}
