/**
 * The lease loop at scale (the many-shards issue): 10 real LeaseCoordinator instances in one process, with the
 * worker's default intervals (taken from parseConfig itself), over 2,000 unowned leases created with the
 * refresher's createLeaseIfNotExists.
 *
 * - On DynamoDB Local: each coordinator has its own DynamoDBClient and DynamoDBLeaseRefresher, whose
 *   onRequest callback counts requests per worker and operation. Measured: time from start until every lease
 *   is held and max − min ≤ 1, then lease-table requests (and lease items read) per worker per second over a
 *   steady window. Same run, same table size: the same coordinators told the table has no owner index, which
 *   makes every taker pass a full scan (the full-scan-every-pass design; KCL 1.x scans on every taker pass).
 * - In memory with the fake clock (test/support/memory-lease-refresher.ts), for 2,000 and 10,000 shards, the
 *   trend: this design, full-scan-every-pass at the same 1 s taker interval, and KCL 1.x's own intervals
 *   (taker every 2 × (failover + 25 ms) = 20.05 s, renewer every failover / 3 − 25 ms = 3.308 s, full scans).
 * - This design twice: without peer evidence (no Kubernetes API: every peer's sentinel every pass) and with it
 *   (`streamfleet-pod-evidence`: each coordinator told, as by a current watch of the pods, that every peer's
 *   pod runs; crashes would come from the watch, so a sentinel is read about once a renewal).
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBLeaseRefresher } from '../../consumer/leases/dynamodb-lease-refresher.js';
import { systemClock } from '../../core/vocabulary/clock.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { localClient } from '../../test/support/fleet.js';
import { MemoryLeaseRefresher } from '../../test/support/memory-lease-refresher.js';
import { onCleanup } from '../lib/cleanup.js';
import type { BenchContext } from '../lib/context.js';
import { countingRefresher, EVENTUAL, type TallySnapshot, tallyDelta } from '../lib/counting-refresher.js';
import { deleteTables } from '../lib/ddb.js';
import {
  type Design,
  defaultLeaseOptions,
  type Fleet,
  leaseEvents,
  makeFleet,
  spread,
  startFleet,
  waitForBalance,
} from './scale-fleet.js';

export interface ScaleMeasurement {
  design: Design;
  shards: number;
  workers: number;
  /** Start → every lease held and max − min ≤ 1 (simulated seconds in memory). */
  balanceSeconds: number | undefined;
  balanced: boolean;
  spreadAtEnd: number;
  steadySeconds: number;
  /** Mean over workers, per second of the steady window. */
  requestsPerWorkerPerSecond: Record<string, number>;
  totalRequestsPerWorkerPerSecond: number;
  itemsReadPerWorkerPerSecond: Record<string, number>;
  /** Read capacity per worker per second, estimated (see BENCHMARKS.md). */
  estimatedRcuPerWorkerPerSecond: number;
  /** Over the whole run, summed over workers: takes of free/expired leases, steals to balance, leases lost
   * (a stolen lease counts once as a steal and once as a loss; losses beyond steals are leases that expired). */
  leaseEvents: { takes: number; steals: number; losses: number };
  /** Memory only: CPU the process spent per simulated worker-second (the lease loop's own work). */
  cpuMsPerWorkerSecond?: number;
}

export interface ScaleResult {
  defaults: ReturnType<typeof defaultLeaseOptions>;
  ddb: ScaleMeasurement[];
  memory: ScaleMeasurement[];
}

/**
 * Lease items are ~250 bytes; strongly consistent reads cost 1 RCU per 4 KB, eventually consistent half
 * (DynamoDB developer guide, "Read capacity units"): a Scan or Query by the bytes it reads, BatchGetItem and
 * GetItem per item, each rounded up to 4 KB. Query (the owner index) is always eventually consistent.
 */
export function estimateRcu(items: Record<string, number>, requests: Record<string, number>): number {
  const size = 250;
  return (
    ((items.Scan ?? 0) * size) / 4096 +
    ((items[`Scan ${EVENTUAL}`] ?? 0) * size) / 4096 / 2 +
    ((items.Query ?? 0) * size) / 4096 / 2 +
    (items.BatchGetItem ?? 0) +
    (items[`BatchGetItem ${EVENTUAL}`] ?? 0) / 2 +
    (requests.GetItem ?? 0)
  );
}

/** One design's measurement: how fast it balanced, and its requests per worker over the steady window. */
async function measurement(
  fleet: Fleet,
  design: Design,
  options: { shards: number; workers: number },
  balance: { started: number; balancedAt: number | undefined },
  steady: { seconds: number; before: TallySnapshot[] },
): Promise<ScaleMeasurement> {
  const after = fleet.tallies.map((t) => t.snapshot());
  const rates = perWorkerPerSecond(
    after.map((a, i) => tallyDelta(a, steady.before[i] as TallySnapshot)),
    steady.seconds,
  );
  return {
    design,
    shards: options.shards,
    workers: options.workers,
    balanceSeconds:
      balance.balancedAt === undefined ? undefined : (balance.balancedAt - balance.started) / 1000,
    balanced: balance.balancedAt !== undefined,
    spreadAtEnd: spread(fleet).spread,
    steadySeconds: steady.seconds,
    requestsPerWorkerPerSecond: rates.requests,
    totalRequestsPerWorkerPerSecond: rates.total,
    itemsReadPerWorkerPerSecond: rates.items,
    estimatedRcuPerWorkerPerSecond: rates.rcu,
    leaseEvents: await leaseEvents(fleet),
  };
}

function perWorkerPerSecond(deltas: TallySnapshot[], seconds: number) {
  const sum = (pick: (d: TallySnapshot) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const d of deltas) for (const [k, v] of Object.entries(pick(d))) out[k] = (out[k] ?? 0) + v;
    for (const k of Object.keys(out)) out[k] = (out[k] as number) / deltas.length / seconds;
    return out;
  };
  const requests = sum((d) => d.requests);
  const items = sum((d) => d.itemsRead);
  return {
    requests,
    items,
    total: Object.values(requests).reduce((a, b) => a + b, 0),
    rcu: estimateRcu(items, requests),
  };
}

async function scaleOnDdb(
  ctx: BenchContext,
  design: Design,
  options: { shards: number; workers: number; steadySeconds: number; balanceTimeoutSeconds: number },
): Promise<ScaleMeasurement> {
  const table = `scale-${randomUUID().slice(0, 6)}`;
  const setup = new DynamoDBLeaseRefresher(ctx.client, table, systemClock);
  await setup.createLeaseTableIfNotExists();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < options.shards) {
        const i = next++;
        await setup.createLeaseIfNotExists({
          leaseKey: `shardId-${String(i).padStart(20, '0')}-${randomUUID().slice(0, 8)}`,
          checkpoint: 'TRIM_HORIZON',
          parentShardIds: [],
          childShardIds: [],
        });
      }
    }),
  );
  const clients = Array.from({ length: options.workers }, () => localClient(ctx.endpoint));
  const fleet = makeFleet(
    (i, tally) =>
      countingRefresher(
        new DynamoDBLeaseRefresher(clients[i] as ReturnType<typeof localClient>, table, systemClock, {
          onRequest: (op) => tally.request(op),
        }),
        tally,
      ),
    design,
    options.workers,
    systemClock,
  );
  const stopFleet = onCleanup(`lease coordinators on ${table}`, async () => {
    await Promise.all(fleet.coordinators.map((c) => c.stop()));
    for (const client of clients) client.destroy();
    await deleteTables(ctx.client, [table]);
  });
  try {
    const started = Date.now();
    const starting = startFleet(fleet);
    const balancedAt = await waitForBalance(fleet, options.shards, {
      started,
      timeoutSeconds: options.balanceTimeoutSeconds,
      now: Date.now,
      pause: (ms) => systemClock.sleep(ms),
    });
    await starting;
    await systemClock.sleep(5_000);
    const before = fleet.tallies.map((t) => t.snapshot());
    const windowStart = Date.now();
    await systemClock.sleep(options.steadySeconds * 1000);
    const seconds = (Date.now() - windowStart) / 1000;
    return await measurement(fleet, design, options, { started, balancedAt }, { seconds, before });
  } finally {
    await stopFleet();
  }
}

async function scaleInMemory(
  design: Design,
  options: { shards: number; workers: number; steadySeconds: number; balanceTimeoutSeconds: number },
): Promise<ScaleMeasurement> {
  const clock = new FakeClock();
  const table = new MemoryLeaseRefresher();
  for (let i = 0; i < options.shards; i++) table.add(`shardId-${String(i).padStart(20, '0')}`);
  const fleet = makeFleet(
    (_, tally) => countingRefresher(table, tally, true),
    design,
    options.workers,
    clock,
  );
  const started = clock.now();
  await startFleet(fleet);
  const balancedAt = await waitForBalance(fleet, options.shards, {
    started,
    timeoutSeconds: options.balanceTimeoutSeconds,
    now: () => clock.now(),
    pause: (ms) => clock.advance(ms),
  });
  await clock.advance(5_000);
  const before = fleet.tallies.map((t) => t.snapshot());
  const cpu0 = process.cpuUsage();
  for (let t = 0; t < options.steadySeconds * 1000; t += 100) await clock.advance(100);
  const cpu = process.cpuUsage(cpu0);
  const result: ScaleMeasurement = {
    ...(await measurement(
      fleet,
      design,
      options,
      { started, balancedAt },
      { seconds: options.steadySeconds, before },
    )),
    cpuMsPerWorkerSecond: (cpu.user + cpu.system) / 1000 / (options.workers * options.steadySeconds),
  };
  const stopping = Promise.all(fleet.coordinators.map((c) => c.stop()));
  await clock.advance(60_000);
  await stopping;
  return result;
}

export async function runScale(ctx: BenchContext, options: { quick: boolean }): Promise<ScaleResult> {
  const workers = 10;
  const ddb: ScaleMeasurement[] = [];
  const shards = options.quick ? 200 : 2_000;
  for (const design of ['streamfleet-pod-evidence', 'streamfleet', 'full-scan-every-pass'] as const) {
    const m = await scaleOnDdb(ctx, design, {
      shards,
      workers,
      steadySeconds: options.quick ? 5 : 30,
      balanceTimeoutSeconds: options.quick ? 45 : design === 'full-scan-every-pass' ? 90 : 180,
    });
    ddb.push(m);
    ctx.log(
      `  DynamoDB Local, ${design}, ${shards} shards: balanced ${m.balanced ? `after ${m.balanceSeconds?.toFixed(1)} s` : 'NOT in time'}; ` +
        `${m.totalRequestsPerWorkerPerSecond.toFixed(1)} req/worker/s, ~${m.estimatedRcuPerWorkerPerSecond.toFixed(1)} RCU/worker/s; takes ${m.leaseEvents.takes}, steals ${m.leaseEvents.steals}, losses ${m.leaseEvents.losses}`,
    );
  }
  const memory: ScaleMeasurement[] = [];
  for (const n of options.quick ? [2_000] : [2_000, 10_000]) {
    for (const design of [
      'streamfleet-pod-evidence',
      'streamfleet',
      'full-scan-every-pass',
      'kcl1-intervals',
    ] as const) {
      const m = await scaleInMemory(design, {
        shards: n,
        workers,
        steadySeconds: options.quick ? 30 : 120,
        balanceTimeoutSeconds: 3_600,
      });
      memory.push(m);
      ctx.log(
        `  in memory, ${design}, ${n} shards: balanced ${m.balanced ? `after ${m.balanceSeconds?.toFixed(0)} s (simulated)` : 'NOT in time'}; ` +
          `${m.totalRequestsPerWorkerPerSecond.toFixed(1)} req/worker/s, ~${m.estimatedRcuPerWorkerPerSecond.toFixed(1)} RCU/worker/s, ` +
          `${m.cpuMsPerWorkerSecond?.toFixed(2)} CPU ms/worker/s`,
      );
    }
  }
  return { defaults: defaultLeaseOptions(), ddb, memory };
}
