/** One drain of a preloaded stream, by the worker or the bare loop, and the variants and counters it reports. */
import { randomUUID } from 'node:crypto';
import { type RefusedCounts, refusedCounts } from '../../local/aws-rules/refusals.js';
import { createBareLoopTables, spawnBareLoop } from '../lib/bare-loop.js';
import type { BenchContext } from '../lib/context.js';
import { countItems, createTable, deleteTables, preload, streamShards } from '../lib/ddb.js';
import { byLabel, type Scrape, total } from '../lib/metrics.js';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.js';
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
export const RULES_OFF = {
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
export async function refusedSince(ctx: BenchContext): Promise<RefusedCounts> {
  return refusedCounts(await ctx.rules.stats());
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
export async function drainWithWorker(
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
export async function drainWithLoop(
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
