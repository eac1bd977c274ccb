/**
 * Cost: DynamoDB requests per 1,000 replicated records, split into stream reads, lease-table reads and writes,
 * replica writes and other calls. Two workloads:
 *   - backlog: one worker drains N preloaded changes (start to replica complete, start-up included), counted
 *     exactly by a pass-through proxy between the worker and DynamoDB Local (test/support/fault-proxy.ts with
 *     one forward-everything rule) and cross-checked against the worker's /metrics;
 *   - steady: the lag benchmark's measured windows (two workers, one owning the shard, 300 writes/s), counted
 *     by the strict layer itself: in those windows only the two workers talk to it (the load writer and the
 *     replica observer go to DynamoDB Local directly), so its requests by operation are theirs, exactly.
 *     TransactWriteItems are the replica writes (each also moves the checkpoint); UpdateItem, PutItem and
 *     DeleteItem are lease-table writes; Scan, Query, GetItem and BatchGetItem lease-table reads.
 * The KCL 1.x figure for the same work is derived in lib/kcl1.ts.
 */
import { randomUUID } from 'node:crypto';
import { FaultProxy, type ProxiedRequest } from '../../test/support/fault-proxy.js';
import { onCleanup } from '../lib/cleanup.js';
import type { BenchContext } from '../lib/context.js';
import { createTable, deleteTables, preload } from '../lib/ddb.js';
import { type KclEstimate, kcl1Estimate } from '../lib/kcl1.js';
import { BenchWorker } from '../lib/worker.js';
import { type WorkerCounters, workerCounters } from './drain-runs.js';
import { type LagResult, runLag } from './lag.js';

export type CostClass = 'streamReads' | 'leaseReads' | 'leaseWrites' | 'replicaWrites' | 'other';

export interface CostWorkload {
  name: 'backlog' | 'steady';
  records: number;
  seconds: number;
  workers: number;
  /** Requests seen by the proxy, by class and operation. */
  requests: Record<CostClass, Record<string, number>>;
  per1000: Record<CostClass | 'total', number>;
  /**
   * The figure: stream reads + lease-table reads and writes per 1,000 records (replica writes apart;
   * in the fenced mode the checkpoint rides in them).
   */
  streamAndLeasePer1000: number;
  /**
   * Write capacity units per record, as DynamoDB bills them for items under 1 KB: 2 per item in a transaction
   * (the replica items and the lease item each transaction updates), 1 per plain write (renewals, plain
   * checkpoints and puts).
   */
  writeUnitsPerRecord: number;
  /** The same from the workers' /metrics (GetRecords, lease-table requests, checkpoints, item writes). */
  metrics: WorkerCounters;
  kcl1: KclEstimate & { per1000: Record<'streamReads' | 'leaseReads' | 'leaseWrites' | 'total', number> };
}

export interface CostResult {
  workloads: CostWorkload[];
}

function classify(request: ProxiedRequest, tables: { lease: string; replica: string }): CostClass {
  if (request.service.startsWith('DynamoDBStreams')) return 'streamReads';
  const op = request.operation;
  if (request.tables.includes(tables.replica) && /Write|Put|Delete|Update/.test(op)) return 'replicaWrites';
  if (request.tables.includes(tables.lease)) {
    if (['Scan', 'Query', 'GetItem', 'BatchGetItem'].includes(op)) return 'leaseReads';
    if (['UpdateItem', 'PutItem', 'DeleteItem', 'BatchWriteItem'].includes(op)) return 'leaseWrites';
  }
  return 'other';
}

class Counter {
  counts: Record<CostClass, Record<string, number>> = emptyCounts();
  constructor(readonly tables: { lease: string; replica: string }) {}
  record(request: ProxiedRequest): void {
    const c = classify(request, this.tables);
    this.counts[c][request.operation] = (this.counts[c][request.operation] ?? 0) + 1;
  }
}

function emptyCounts(): Record<CostClass, Record<string, number>> {
  return { streamReads: {}, leaseReads: {}, leaseWrites: {}, replicaWrites: {}, other: {} };
}

function per1000(counts: Record<CostClass, Record<string, number>>, records: number) {
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const out = {} as Record<CostClass | 'total', number>;
  let all = 0;
  for (const c of Object.keys(counts) as CostClass[]) {
    out[c] = (sum(counts[c]) * 1000) / records;
    all += sum(counts[c]);
  }
  out.total = (all * 1000) / records;
  return out;
}

function kclPer1000(k: KclEstimate, records: number) {
  const streamReads =
    k.streamReads.GetRecords + k.streamReads.GetShardIterator + k.streamReads.DescribeStream;
  const leaseReads = k.leaseReads.Scan;
  const leaseWrites = k.leaseWrites.renewals + k.leaseWrites.checkpoints + k.leaseWrites.takes;
  const f = (n: number) => (n * 1000) / records;
  return {
    streamReads: f(streamReads),
    leaseReads: f(leaseReads),
    leaseWrites: f(leaseWrites),
    total: f(streamReads + leaseReads + leaseWrites),
  };
}

async function withProxy<T>(
  ctx: BenchContext,
  counter: Counter,
  body: (endpoint: string) => Promise<T>,
): Promise<T> {
  const proxy = await FaultProxy.start({ upstream: ctx.endpoint });
  const close = onCleanup('counting proxy', () => proxy.close());
  proxy.setRules([{ action: { kind: 'forward' }, onFire: (request) => counter.record(request) }]);
  try {
    return await body(proxy.endpoint);
  } finally {
    await close();
  }
}

async function backlog(ctx: BenchContext, records: number): Promise<CostWorkload> {
  const prefix = `cost-${randomUUID().slice(0, 6)}`;
  const tables = {
    source: `${prefix}-users`,
    target: `${prefix}-replica`,
    app: `${prefix}-app`,
    streamArn: '',
  };
  tables.streamArn = (await createTable(ctx.client, tables.source, true)) ?? '';
  await createTable(ctx.client, tables.target);
  await preload(ctx.client, tables.source, records, 8, 'c');
  const counter = new Counter({ lease: tables.app, replica: tables.target });
  try {
    return await withProxy(ctx, counter, async (endpoint) => {
      const worker = await BenchWorker.start({ endpoint, tables, name: `${prefix}-w` });
      try {
        const done = await worker.waitForCounter('streamfleet_records_processed_total', (v) => v >= records, {
          timeoutMs: Math.max(180_000, records * 20),
        });
        const metrics = workerCounters(await worker.scrape());
        const seconds = (done.at - worker.startedAt) / 1000;
        const kcl = kcl1Estimate(records, seconds, 1, 1, Math.ceil(records / 1000));
        return {
          name: 'backlog' as const,
          records,
          seconds,
          workers: 1,
          requests: counter.counts,
          per1000: per1000(counter.counts, records),
          streamAndLeasePer1000: streamAndLease(counter.counts, records),
          writeUnitsPerRecord: writeUnits(counter.counts, metrics.replicaWrites.applied ?? 0) / records,
          metrics,
          kcl1: { ...kcl, per1000: kclPer1000(kcl, records) },
        };
      } finally {
        await worker.stop();
      }
    });
  } finally {
    await deleteTables(ctx.client, [tables.source, tables.target, tables.app]);
  }
}

/** The steady workload from lag-benchmark windows (worker /metrics deltas over each measured window). */
const STEADY_CLASSES: Record<string, CostClass> = {
  GetRecords: 'streamReads',
  GetShardIterator: 'streamReads',
  DescribeStream: 'streamReads',
  ListStreams: 'streamReads',
  Scan: 'leaseReads',
  Query: 'leaseReads',
  GetItem: 'leaseReads',
  BatchGetItem: 'leaseReads',
  UpdateItem: 'leaseWrites',
  PutItem: 'leaseWrites',
  DeleteItem: 'leaseWrites',
  TransactWriteItems: 'replicaWrites',
};

export function steadyFromLag(lag: LagResult): CostWorkload {
  const rounds = lag.rounds.map((r) => r.worker);
  const sum = (f: (w: (typeof rounds)[number]) => number) => rounds.reduce((a, w) => a + f(w), 0);
  const records = sum((w) => w.records);
  const seconds = sum((w) => w.seconds);
  const leaseOps: Record<string, number> = {};
  for (const w of rounds)
    for (const [op, n] of Object.entries(w.counters.leaseTable)) leaseOps[op] = (leaseOps[op] ?? 0) + n;
  const checkpoints = sum((w) => w.counters.checkpoints);
  const requests = emptyCounts();
  for (const w of rounds) {
    for (const [op, n] of Object.entries(w.layer.requestsByOperation)) {
      const c = STEADY_CLASSES[op] ?? 'other';
      requests[c][op] = (requests[c][op] ?? 0) + n;
    }
  }
  const metrics: WorkerCounters = {
    getRecords: requests.streamReads.GetRecords ?? 0,
    leaseTable: leaseOps,
    replicaWrites: { applied: sum((w) => w.counters.replicaWrites.applied ?? 0) },
    checkpoints,
    recordsProcessed: sum((w) => w.counters.recordsProcessed),
  };
  // KCL: per round (each a separate 60 s window of two workers), then summed.
  const estimates = rounds.map((w) => kcl1Estimate(w.records, w.seconds, 2, 1));
  const kcl = estimates.reduce((a, e) => ({
    seconds: a.seconds + e.seconds,
    streamReads: {
      GetRecords: a.streamReads.GetRecords + e.streamReads.GetRecords,
      GetShardIterator: a.streamReads.GetShardIterator + e.streamReads.GetShardIterator,
      DescribeStream: a.streamReads.DescribeStream + e.streamReads.DescribeStream,
    },
    leaseReads: { Scan: a.leaseReads.Scan + e.leaseReads.Scan },
    leaseWrites: {
      renewals: a.leaseWrites.renewals + e.leaseWrites.renewals,
      checkpoints: a.leaseWrites.checkpoints + e.leaseWrites.checkpoints,
      takes: a.leaseWrites.takes + e.leaseWrites.takes,
    },
    total: a.total + e.total,
  }));
  return {
    name: 'steady',
    records,
    seconds,
    workers: 2,
    requests,
    per1000: per1000(requests, records),
    streamAndLeasePer1000: streamAndLease(requests, records),
    writeUnitsPerRecord: writeUnits(requests, metrics.replicaWrites.applied ?? 0) / records,
    metrics,
    kcl1: { ...kcl, per1000: kclPer1000(kcl, records) },
  };
}

function streamAndLease(requests: Record<CostClass, Record<string, number>>, records: number): number {
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  return (
    ((sum(requests.streamReads) + sum(requests.leaseReads) + sum(requests.leaseWrites)) * 1000) / records
  );
}

/** WCU for items under 1 KB: 2 per transactional item write, 1 per plain write. */
function writeUnits(requests: Record<CostClass, Record<string, number>>, itemsWritten: number): number {
  const transactions = requests.replicaWrites.TransactWriteItems ?? 0;
  const plainReplica = Object.entries(requests.replicaWrites)
    .filter(([op]) => op !== 'TransactWriteItems')
    .reduce((a, [, n]) => a + n, 0);
  const leaseWrites = Object.values(requests.leaseWrites).reduce((a, b) => a + b, 0);
  return transactions > 0 ? 2 * (itemsWritten + transactions) + leaseWrites : plainReplica + leaseWrites;
}

export async function runCost(
  ctx: BenchContext,
  options: { records: number; steadySeconds: number; lag?: LagResult },
): Promise<CostResult> {
  let steadyWorkload: CostWorkload;
  if (options.lag) steadyWorkload = steadyFromLag(options.lag);
  else {
    ctx.log('  (no lag results in this run: measuring a steady window for the cost)');
    const lag = await runLag(ctx, {
      ratePerSecond: 300,
      seconds: options.steadySeconds,
      limitSeconds: 0,
      warmupSeconds: 5,
      rounds: 1,
      workerOnly: true,
    });
    steadyWorkload = steadyFromLag(lag);
  }
  const workloads = [await backlog(ctx, options.records), steadyWorkload];
  for (const w of workloads) {
    ctx.log(
      `  ${w.name}: stream + lease ${w.streamAndLeasePer1000.toFixed(1)} / 1,000 records, ${w.writeUnitsPerRecord.toFixed(2)} WCU/record; ` +
        `${w.per1000.total.toFixed(1)} requests / 1,000 records in all ` +
        `(stream ${w.per1000.streamReads.toFixed(1)}, lease reads ${w.per1000.leaseReads.toFixed(1)}, ` +
        `lease writes ${w.per1000.leaseWrites.toFixed(1)}, replica ${w.per1000.replicaWrites.toFixed(1)}, other ${w.per1000.other.toFixed(1)}); ` +
        `KCL 1.x ${w.kcl1.per1000.total.toFixed(1)} + replica writes`,
    );
  }
  return { workloads };
}
