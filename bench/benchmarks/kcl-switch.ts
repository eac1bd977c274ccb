/**
 * The pause in replication when a KCL 1.x application is switched to Streamfleet in place (issue 21,
 * docs/migrate-from-kcl.md), with the worker's default settings (lease 10 s, taker every 1 s). The Java side is the
 * fake KCL 1.x worker (test/support/fake-kcl1.ts): it holds the shard's lease in a lease table shaped as KCL 1.x
 * creates it, renews it as KCL 1.x's LeaseRenewer does (every failover / 3 − 25 ms, failover 10 s) and processes
 * and checkpoints the shard about once a second, as its record processor would. A writer adds 50 items/s
 * throughout. The Java fleet stops at a random phase of its renew cycle — processing and renewals end, and its
 * lease stays owned, as KCL 1.x leaves it (LeaseCoordinator.stop releases nothing) — and the pause is measured
 * from that moment to the first record a Streamfleet worker replicates (its applied replica writes, polled every
 * 25 ms on /metrics). Two ways to switch:
 *
 * - `overlap`: two Streamfleet workers already run beside the Java fleet (they never race it) and take the lease
 *   once it has stood still for a lease duration;
 * - `release`: nothing runs beside it; once it has stopped, `streamfleet migrate --from-kcl --apply` watches the
 *   table for the failover time and a second, adds the owner index and releases the lease, then two Streamfleet
 *   workers start and take it at their first pass.
 *
 * The trials share one source table and stream (see run.ts: every new stream slows DynamoDB Local down).
 */
import { randomUUID } from 'node:crypto';
import { migrateFromKcl } from '../../cli/migrate.js';
import { KCL1_DEFAULT_FAILOVER_MS, kcl1RenewIntervalMs } from '../../core/tables/kcl1-lease.js';
import { systemClock } from '../../core/vocabulary/clock.js';
import { listShards } from '../../core/vocabulary/shard.js';
import { createKcl1LeaseTable, FakeKcl1Worker } from '../../test/support/fake-kcl1.js';
import { localClient } from '../../test/support/fleet.js';
import type { BenchContext } from '../lib/context.js';
import { createTable, deleteTables, streamsClient } from '../lib/ddb.js';
import { RateWriter } from '../lib/load.js';
import { total } from '../lib/metrics.js';
import { median } from '../lib/stats.js';
import { BenchWorker } from '../lib/worker.js';

export type SwitchMode = 'overlap' | 'release';

export interface SwitchTrial {
  mode: SwitchMode;
  /** The Java fleet's stop → the first record a Streamfleet worker replicated. */
  pauseSeconds: number;
  /** The Java fleet's stop → the first lease a Streamfleet worker took. */
  takeSeconds: number;
  /** The Java owner's last renewal → its stop (the phase of the renew cycle it stopped at). */
  sinceLastRenewalSeconds: number;
  /** release: how long `migrate --apply` took (the watch included). */
  migrateSeconds?: number;
}

export interface SwitchResult {
  leaseDurationMs: number;
  failoverMs: number;
  trials: SwitchTrial[];
  median: Partial<Record<SwitchMode, { pauseSeconds: number; takeSeconds: number; migrateSeconds?: number }>>;
}

const LEASE_DURATION_MS = 10_000; // the worker's default, and KCL 1.x's failover default
const JAVA = 'ip-10-0-1-17.ec2.internal:3f1e9b2c-java';

async function trial(
  ctx: BenchContext,
  mode: SwitchMode,
  source: { table: string; streamArn: string; shardId: string },
): Promise<SwitchTrial> {
  const prefix = `sw-${randomUUID().slice(0, 6)}`;
  const target = `${prefix}-replica`;
  const app = `${prefix}-app`;
  await createTable(ctx.client, target);
  const layerClient = localClient(ctx.endpoint);
  const layerStreams = streamsClient(ctx.endpoint);
  await createKcl1LeaseTable(layerClient, app);
  const java = new FakeKcl1Worker(layerClient, app, JAVA, KCL1_DEFAULT_FAILOVER_MS);
  await java.createLease({ leaseKey: source.shardId, checkpoint: 'TRIM_HORIZON', leaseOwner: JAVA });
  const tables = { source: source.table, target, app, streamArn: source.streamArn };
  const writer = new RateWriter(layerClient, source.table, 50, `${prefix}-`);
  const workers: BenchWorker[] = [];
  const startWorkers = async () => {
    for (const name of ['a', 'b']) {
      const worker = await BenchWorker.start({ endpoint: ctx.endpoint, tables, name: `${prefix}-${name}` });
      workers.push(worker);
    }
  };
  try {
    java.startRenewing();
    // What the Java record processor writes does not matter to the pause: it checkpoints what it read.
    java.startProcessing(layerStreams, source.streamArn, source.shardId, async () => {});
    writer.start();
    // The Java fleet is caught up: its checkpoint covers a record written in this trial.
    const firstKey = await waitUntil(() => writer.written[0]?.key, 10_000, 'the writer to start');
    await waitUntil(
      async () => {
        const records = await java.recordsToProcess(layerStreams, source.streamArn, source.shardId, 1);
        return records.length < 100 && writer.written.length > 100 && firstKey;
      },
      120_000,
      'the Java fleet to catch up',
    );
    if (mode === 'overlap') {
      await startWorkers();
      for (const worker of workers) await worker.waitForEvent('worker.started', 30_000);
      await systemClock.sleep(3_000); // they have scanned the table a few times and leave the renewed lease alone
      for (const worker of workers)
        if ((await worker.counter('streamfleet_lease_takes_total')) !== 0)
          throw new Error(`${worker.name} took the Java fleet's lease while it renewed`);
    }
    await systemClock.sleep(Math.random() * kcl1RenewIntervalMs(KCL1_DEFAULT_FAILOVER_MS));
    if (!java.held.has(source.shardId))
      throw new Error('the Java fleet lost its lease before it was stopped');
    await java.stopProcessing();
    await java.stopRenewing();
    const stoppedAt = Date.now();
    const sinceLastRenewalSeconds = (stoppedAt - (java.lastRenewalAt ?? stoppedAt)) / 1000;
    let migrateSeconds: number | undefined;
    if (mode === 'release') {
      const { plan, applied } = await migrateFromKcl(
        {
          leaseTable: app,
          streamArn: source.streamArn,
          failoverMs: KCL1_DEFAULT_FAILOVER_MS,
          apply: true,
          json: true,
          region: 'us-east-1',
        },
        () => {},
        { dynamodb: layerClient, streams: layerStreams },
      );
      if (!plan.ready || applied?.released.length !== 1)
        throw new Error(`migrate --apply did not release the lease: ${JSON.stringify({ plan, applied })}`);
      migrateSeconds = (Date.now() - stoppedAt) / 1000;
      await startWorkers();
    }
    let takeAt: number | undefined;
    let firstAt: number | undefined;
    const deadline = stoppedAt + 60_000;
    while (firstAt === undefined) {
      if (Date.now() > deadline)
        throw new Error(
          `${mode}: Streamfleet replicated nothing in time\n${workers[0]?.output.slice(-2000)}`,
        );
      for (const worker of workers) {
        try {
          const s = await worker.scrape();
          const now = Date.now();
          if (takeAt === undefined && total(s, 'streamfleet_lease_takes_total') > 0) takeAt = now;
          if (total(s, 'streamfleet_replica_writes_total', { outcome: 'applied' }) > 0) firstAt ??= now;
        } catch {
          // not answering yet
        }
      }
      await systemClock.sleep(25);
    }
    return {
      mode,
      pauseSeconds: (firstAt - stoppedAt) / 1000,
      takeSeconds: ((takeAt ?? firstAt) - stoppedAt) / 1000,
      sinceLastRenewalSeconds,
      ...(migrateSeconds === undefined ? {} : { migrateSeconds }),
    };
  } finally {
    await java.stopProcessing();
    await java.stopRenewing();
    await writer.stop();
    await Promise.all(workers.map((w) => w.stop()));
    layerStreams.destroy();
    layerClient.destroy();
    await deleteTables(ctx.client, [target, app]);
  }
}

async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(200);
  }
}

export async function runKclSwitch(
  ctx: BenchContext,
  options: { trials: number; modes?: readonly SwitchMode[] },
): Promise<SwitchResult> {
  const table = `sw-${randomUUID().slice(0, 6)}-users`;
  const streamArn = await createTable(ctx.client, table, true);
  if (!streamArn) throw new Error('no stream');
  const [shard] = await listShards(ctx.streams, streamArn);
  if (!shard) throw new Error('the stream lists no shard');
  const source = { table, streamArn, shardId: shard.shardId };
  const modes = options.modes ?? (['overlap', 'release'] as const);
  const trials: SwitchTrial[] = [];
  for (let i = 0; i < options.trials; i++) {
    for (const mode of modes) {
      const t = await trial(ctx, mode, source);
      trials.push(t);
      ctx.log(
        `  ${mode} trial ${i + 1}: first record ${t.pauseSeconds.toFixed(2)} s after the Java fleet stopped ` +
          `(lease taken at ${t.takeSeconds.toFixed(2)} s${t.migrateSeconds === undefined ? '' : `; migrate --apply took ${t.migrateSeconds.toFixed(2)} s`}; last renewal ${t.sinceLastRenewalSeconds.toFixed(2)} s before the stop)`,
      );
    }
  }
  const medians: SwitchResult['median'] = {};
  for (const mode of modes) {
    const ts = trials.filter((t) => t.mode === mode);
    const migrate = ts.map((t) => t.migrateSeconds).filter((v): v is number => v !== undefined);
    medians[mode] = {
      pauseSeconds: median(ts.map((t) => t.pauseSeconds)),
      takeSeconds: median(ts.map((t) => t.takeSeconds)),
      ...(migrate.length > 0 ? { migrateSeconds: median(migrate) } : {}),
    };
  }
  return {
    leaseDurationMs: LEASE_DURATION_MS,
    failoverMs: KCL1_DEFAULT_FAILOVER_MS,
    trials,
    median: medians,
  };
}
