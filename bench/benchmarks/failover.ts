/**
 * Failover and hand-off with two real worker processes and their default settings (lease 10 s, renew every
 * 3.3 s, taker every 1 s). A writer adds 50 items/s throughout. The owner gets SIGKILL (crash) or SIGTERM
 * (graceful stop) at a random phase of its renew cycle; the peer's /metrics is polled every 25 ms for its first
 * applied replica write (the first record it replicated) and its first lease take.
 *
 * The trials share one source table and stream (see run.ts: every new stream slows DynamoDB Local down), each
 * with fresh replica and lease tables; the owner first catches up from TRIM_HORIZON (the default) on what
 * earlier trials wrote, and is signalled only once it is replicating the live writes.
 */
import { randomUUID } from 'node:crypto';
import { systemClock } from '../../core/clock.js';
import { localClient } from '../../test/support/fleet.js';
import type { BenchContext } from '../lib/context.js';
import { createTable, deleteTables } from '../lib/ddb.js';
import { RateWriter } from '../lib/load.js';
import { total } from '../lib/metrics.js';
import { median } from '../lib/stats.js';
import { BenchWorker } from '../lib/worker.js';

export type FailoverKind = 'SIGKILL' | 'SIGTERM';

export interface FailoverTrial {
  kind: FailoverKind;
  /** Signal → the peer's first applied replica write. */
  firstRecordSeconds: number;
  /** Signal → the peer's first lease take (or adoption). */
  takeSeconds: number;
  /** SIGTERM: signal → the owner's exit, and its exit code. */
  exitSeconds?: number;
  exitCode?: number | null;
  /** Random delay after the owner's steady state, before the signal (spreads the renew phase). */
  phaseSeconds: number;
  /** From the peer's own log lines (ms timestamps): signal → lease taken/adopted → shard consumer initialized. */
  peerLog: { takenSeconds?: number; initializedSeconds?: number };
}

/** Times (epoch ms) of the peer's first log line matching each message, after `since`. */
function logTimes(output: string, since: number): { taken?: number; initialized?: number } {
  const out: { taken?: number; initialized?: number } = {};
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { time?: string; msg?: string };
      const at = entry.time ? Date.parse(entry.time) : Number.NaN;
      if (!(at >= since - 5)) continue;
      if (out.taken === undefined && /^lease (taken|adopted)/.test(entry.msg ?? '')) out.taken = at;
      if (
        out.taken !== undefined &&
        out.initialized === undefined &&
        entry.msg === 'shard consumer initialized'
      )
        out.initialized = at;
    } catch {
      // not a log line
    }
  }
  return out;
}

export interface FailoverResult {
  leaseDurationMs: number;
  trials: FailoverTrial[];
  median: Record<FailoverKind, { firstRecordSeconds: number; takeSeconds: number; exitSeconds?: number }>;
  targets: { SIGKILL: number; SIGTERM: number };
}

const LEASE_DURATION_MS = 10_000; // the default
const RENEW_INTERVAL_MS = LEASE_DURATION_MS / 3;

let writtenBefore = 0;

async function trial(
  ctx: BenchContext,
  kind: FailoverKind,
  source: { table: string; streamArn: string },
  env: Record<string, string> = {},
): Promise<FailoverTrial> {
  const prefix = `fo-${randomUUID().slice(0, 6)}`;
  const target = `${prefix}-replica`;
  const app = `${prefix}-app`;
  await createTable(ctx.client, target);
  const tables = { source: source.table, target, app, streamArn: source.streamArn };
  const writeClient = localClient(ctx.endpoint);
  const writer = new RateWriter(writeClient, source.table, 50, `${prefix}-`);
  const before = writtenBefore;
  const workers: BenchWorker[] = [];
  try {
    const owner = await BenchWorker.start({ endpoint: ctx.endpoint, tables, name: `${prefix}-owner`, env });
    workers.push(owner);
    await owner.waitForEvent('worker.started', 30_000);
    await owner.waitForCounter('streamfleet_leases_held', (v) => v >= 1, { timeoutMs: 30_000 });
    const peer = await BenchWorker.start({ endpoint: ctx.endpoint, tables, name: `${prefix}-peer`, env });
    workers.push(peer);
    await peer.waitForEvent('worker.started', 30_000);
    writer.start();
    // Caught up with what earlier trials wrote, and replicating this trial's writes.
    await owner.waitForCounter('streamfleet_records_processed_total', (v) => v >= before + 50, {
      timeoutMs: 60_000,
    });
    await systemClock.sleep(3_000); // the peer has watched the owner's sentinel lease for a few taker passes
    if ((await peer.counter('streamfleet_leases_held')) !== 0)
      throw new Error('the peer holds a lease already');
    const phaseSeconds = Math.random() * (RENEW_INTERVAL_MS / 1000);
    await systemClock.sleep(phaseSeconds * 1000);

    const signalledAt = Date.now();
    owner.signal(kind);
    const exit =
      kind === 'SIGTERM'
        ? owner.exitedPromise.then((e) => ({ at: Date.now(), code: e.code }))
        : Promise.resolve(undefined);
    let takeAt: number | undefined;
    let firstAt: number | undefined;
    const deadline = signalledAt + LEASE_DURATION_MS + 30_000;
    while (firstAt === undefined) {
      if (Date.now() > deadline)
        throw new Error(`${kind}: the peer replicated nothing in time\n${peer.output.slice(-2000)}`);
      try {
        const s = await peer.scrape();
        const now = Date.now();
        if (takeAt === undefined && total(s, 'streamfleet_lease_takes_total') > 0) takeAt = now;
        if (total(s, 'streamfleet_replica_writes_total', { outcome: 'applied' }) > 0) firstAt = now;
      } catch {
        // not answering this instant; try again
      }
      await systemClock.sleep(25);
    }
    const exited = await Promise.race([exit, systemClock.sleep(30_000).then(() => undefined)]);
    const times = logTimes(peer.output, signalledAt);
    return {
      kind,
      firstRecordSeconds: (firstAt - signalledAt) / 1000,
      takeSeconds: ((takeAt ?? firstAt) - signalledAt) / 1000,
      exitSeconds: exited ? (exited.at - signalledAt) / 1000 : undefined,
      exitCode: exited?.code,
      phaseSeconds,
      peerLog: {
        takenSeconds: times.taken === undefined ? undefined : (times.taken - signalledAt) / 1000,
        initializedSeconds:
          times.initialized === undefined ? undefined : (times.initialized - signalledAt) / 1000,
      },
    };
  } finally {
    await writer.stop();
    writtenBefore += writer.written.length;
    writeClient.destroy();
    await Promise.all(workers.map((w) => w.stop()));
    await deleteTables(ctx.client, [target, app]);
  }
}

export async function runFailover(
  ctx: BenchContext,
  options: { trials: number; kinds?: readonly FailoverKind[]; env?: Record<string, string> },
): Promise<FailoverResult> {
  const table = `fo-${randomUUID().slice(0, 6)}-users`;
  const streamArn = await createTable(ctx.client, table, true);
  if (!streamArn) throw new Error('no stream');
  writtenBefore = 0;
  const trials: FailoverTrial[] = [];
  for (let i = 0; i < options.trials; i++) {
    for (const kind of options.kinds ?? (['SIGKILL', 'SIGTERM'] as const)) {
      const t = await trial(ctx, kind, { table, streamArn }, options.env);
      trials.push(t);
      ctx.log(
        `  ${kind} trial ${i + 1}: peer's first record after ${t.firstRecordSeconds.toFixed(2)} s ` +
          `(log: lease taken ${t.peerLog.takenSeconds?.toFixed(2)} s, reading from ${t.peerLog.initializedSeconds?.toFixed(2)} s${t.exitSeconds !== undefined ? `, owner exited ${t.exitCode} after ${t.exitSeconds.toFixed(2)} s` : ''})`,
      );
    }
  }
  const of = (kind: FailoverKind) => {
    const ts = trials.filter((t) => t.kind === kind);
    const exits = ts.map((t) => t.exitSeconds).filter((v): v is number => v !== undefined);
    return {
      firstRecordSeconds: median(ts.map((t) => t.firstRecordSeconds)),
      takeSeconds: median(ts.map((t) => t.takeSeconds)),
      ...(exits.length > 0 ? { exitSeconds: median(exits) } : {}),
    };
  };
  return {
    leaseDurationMs: LEASE_DURATION_MS,
    trials,
    median: { SIGKILL: of('SIGKILL'), SIGTERM: of('SIGTERM') },
    targets: { SIGKILL: LEASE_DURATION_MS / 1000 + 2, SIGTERM: 1 },
  };
}
