/**
 * Failover, hand-off and freeze with two real workers as **pods of a local cluster** (local/cluster, the same
 * manifests as the setup workflow, the pods signing as the consumer's IRSA role through the strict layer),
 * watching each other's pods through the cluster's Kubernetes API (PEER_POD_SELECTOR, their ServiceAccount's
 * token, the Role the manifests grant). Default settings (lease 10 s, renew every 3.33 s, taker every 1 s). A
 * writer adds 50 items/s throughout. Once the owner replicates the live writes and the peer watches, at a
 * random phase of the owner's renew cycle:
 *
 * - SIGKILL: the owner pod's container process is killed (as by the OOM killer or `kill -9`); its container is
 *   not restarted within the trial (a long restart backoff), so the peer must take over;
 * - SIGTERM: the owner pod is deleted (`kubectl delete pod`: deletionTimestamp, then SIGTERM), and hands off;
 * - SIGSTOP: the owner is frozen (its pod still Running: no evidence), so the lease duration rules; once the
 *   peer replicates, the owner is resumed (SIGCONT) and its writes after the takeover are counted: **stale
 *   writes** are replica items it wrote with a sequence number past the checkpoint the peer started from.
 *
 * The peer's /metrics is polled every 25 ms for its first applied replica write and its first lease take.
 *
 * Then **writes sent twice**: the pods talk to DynamoDB through a counting proxy (test/support/fault-proxy.ts)
 * that reads every TransactWriteItems and counts each replica item by key and source sequence number
 * (`_streamfleet_seq`). The owner drains a backlog (batches of ~1,000 records, 99 per transaction) and is
 * SIGKILLed mid-batch, at a random transaction: once as the transaction goes out, once right after a
 * transaction committed whose answer the proxy swallowed (the commit happened; the owner never heard). The peer
 * takes over on the pod's end and finishes; an item sent twice (whether or not the second was applied) counts.
 *
 * The trials share one source table and stream (every new stream slows DynamoDB Local down), each with fresh
 * replica and lease tables and a fresh local cluster.
 */
import { randomUUID } from 'node:crypto';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import {
  PROCESSED_BY_ATTRIBUTE,
  SEQUENCE_ATTRIBUTE,
} from '../../consumer/replication/replication-processor.js';
import { systemClock } from '../../core/vocabulary/clock.js';
import type { LoggedEvent } from '../../local/worker/events.js';
import { FaultProxy, type ProxiedRequest } from '../../test/support/fault-proxy.js';
import { localClient, scanAll } from '../../test/support/fleet.js';
import { PodFleet, type RunningPod } from '../../test/support/pod-fleet.js';
import type { BenchContext } from '../lib/context.js';
import { createTable, deleteTables, makeItem } from '../lib/ddb.js';
import { RateWriter } from '../lib/load.js';
import { scrape, total } from '../lib/metrics.js';
import { median } from '../lib/stats.js';

export type FailoverKind = 'SIGKILL' | 'SIGTERM' | 'SIGSTOP';

export interface FailoverTrial {
  kind: FailoverKind;
  /** Signal → the peer's first applied replica write. */
  firstRecordSeconds: number;
  /** Signal → the peer's first lease take (or adoption). */
  takeSeconds: number;
  /** SIGTERM: signal → the owner's exit, and its exit code. */
  exitSeconds?: number;
  exitCode?: number | null;
  /** SIGSTOP: the owner's replica writes that landed after the peer took over (must be 0), and its writes the fence refused. */
  staleWrites?: number;
  fencedWrites?: number;
  /** Random delay after the owner's steady state, before the signal (spreads the renew phase). */
  phaseSeconds: number;
  /** From the peer's own log: how the lease came (take, adopt, evidence) and its reason. */
  how?: string;
}

export interface DuplicateTrial {
  kill: 'mid-batch' | 'after-unanswered-commit';
  /** Distinct (key, sequence number) replica writes sent by any worker. */
  records: number;
  /** Of those, sent more than once (applied or refused). */
  sentTwice: number;
  /** The replica holds every source item at the end. */
  complete: boolean;
  /** How the peer got the lease. */
  how?: string;
}

export interface FailoverResult {
  leaseDurationMs: number;
  /** What gives the peers the news of a pod's end. */
  evidence: string;
  trials: FailoverTrial[];
  median: Record<FailoverKind, { firstRecordSeconds: number; takeSeconds: number; exitSeconds?: number }>;
  duplicates: DuplicateTrial[];
  targets: { SIGKILL: number; SIGTERM: number; SIGSTOP: number };
}

const LEASE_DURATION_MS = 10_000; // the default
const RENEW_INTERVAL_MS = LEASE_DURATION_MS / 3;

let writtenBefore = 0;

interface Source {
  table: string;
  streamArn: string;
}

/** Two pods on a fresh local cluster, replica and lease tables; `endpoint` is where they send their calls. */
async function startPair(ctx: BenchContext, source: Source, prefix: string, endpoint = ctx.endpoint) {
  const target = `${prefix}-replica`;
  const app = `${prefix}-app`;
  await createTable(ctx.client, target);
  const pods = await PodFleet.start({
    endpoint,
    tables: { source: source.table, target, app, streamArn: source.streamArn },
    replicas: 2,
    // The killed container is not restarted within the trial: the peer takes over, as on a node that is gone.
    restartBackoffMs: 120_000,
  });
  return { pods, target, app };
}

/** The pod that owns the lease (from its own metrics) and its peer, once both run and the peer watches. */
async function ownerAndPeer(pods: PodFleet): Promise<{ owner: RunningPod; peer: RunningPod }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const running = pods.running();
    const held = await Promise.all(running.map((p) => pods.metric(p, 'streamfleet_leases_held')));
    const owner = running.find((_, i) => (held[i] ?? 0) >= 1);
    const peer = running.find((p) => p !== owner);
    if (owner && peer && pods.events(peer.name, 'peers.watch-started').length > 0) return { owner, peer };
    if (Date.now() > deadline) throw new Error('no owner and watching peer within 60 s');
    await systemClock.sleep(100);
  }
}

async function trial(ctx: BenchContext, kind: FailoverKind, source: Source): Promise<FailoverTrial> {
  const prefix = `fo-${randomUUID().slice(0, 6)}`;
  const writeClient = localClient(ctx.directEndpoint);
  const writer = new RateWriter(writeClient, source.table, 50, `${prefix}-`);
  const before = writtenBefore;
  const { pods, target, app } = await startPair(ctx, source, prefix);
  try {
    const { owner, peer } = await ownerAndPeer(pods);
    writer.start();
    // Caught up with what earlier trials wrote, and replicating this trial's writes.
    const deadline0 = Date.now() + 60_000;
    while (((await pods.metric(owner, 'streamfleet_records_processed_total')) ?? 0) < before + 50) {
      if (Date.now() > deadline0) throw new Error(`${kind}: the owner did not catch up`);
      await systemClock.sleep(50);
    }
    await systemClock.sleep(3_000); // the peer has watched the owner for a few taker passes
    if ((await pods.metric(peer, 'streamfleet_leases_held')) !== 0) throw new Error('the peer holds a lease');
    const phaseSeconds = Math.random() * (RENEW_INTERVAL_MS / 1000);
    await systemClock.sleep(phaseSeconds * 1000);

    const signalledAt = Date.now();
    let exit: Promise<{ at: number; code: number | null } | undefined> = Promise.resolve(undefined);
    if (kind === 'SIGKILL') pods.cluster.signalPod(owner.name, 'SIGKILL');
    else if (kind === 'SIGSTOP') pods.signal(owner.name, 'SIGSTOP');
    else {
      const exited = pods.exited(owner.name) ?? Promise.resolve({ code: null, signal: null });
      void pods.cluster.deletePod(owner.name);
      exit = exited.then((e) => ({ at: Date.now(), code: e.code }));
    }
    let takeAt: number | undefined;
    let firstAt: number | undefined;
    const deadline = signalledAt + LEASE_DURATION_MS + 30_000;
    while (firstAt === undefined) {
      if (Date.now() > deadline)
        throw new Error(
          `${kind}: the peer replicated nothing in time\n${pods.output(peer.name).slice(-2000)}`,
        );
      const s = await scrape(peer.port).catch(() => undefined);
      const now = Date.now();
      if (s) {
        if (takeAt === undefined && total(s, 'streamfleet_lease_takes_total') > 0) takeAt = now;
        if (total(s, 'streamfleet_replica_writes_total', { outcome: 'applied' }) > 0) firstAt = now;
      }
      await systemClock.sleep(25);
    }
    const taken = pods.events(peer.name, 'lease.taken')[0];
    const result: FailoverTrial = {
      kind,
      firstRecordSeconds: (firstAt - signalledAt) / 1000,
      takeSeconds: ((takeAt ?? firstAt) - signalledAt) / 1000,
      phaseSeconds,
      ...(taken ? { how: describeTake(taken) } : {}),
    };
    if (kind === 'SIGTERM') {
      const exited = await Promise.race([exit, systemClock.sleep(30_000).then(() => undefined)]);
      if (exited)
        Object.assign(result, { exitSeconds: (exited.at - signalledAt) / 1000, exitCode: exited.code });
    }
    if (kind === 'SIGSTOP') {
      pods.signal(owner.name, 'SIGCONT');
      // It wakes, reads on, and is refused by the fence, or learns from its renewal that the lease is gone.
      const woke = Date.now();
      while (Date.now() - woke < 30_000 && pods.events(owner.name, 'shard.stopped').length === 0)
        await systemClock.sleep(100);
      await systemClock.sleep(1_000);
      const from = BigInt(/^\d+$/.test(String(taken?.checkpoint)) ? String(taken?.checkpoint) : '0');
      const replica = await scanAll(ctx.client, target);
      result.staleWrites = replica.filter(
        (item) =>
          item[PROCESSED_BY_ATTRIBUTE]?.S === owner.name && BigInt(item[SEQUENCE_ATTRIBUTE]?.S ?? '0') > from,
      ).length;
      result.fencedWrites =
        (await pods.metric(owner, 'streamfleet_replica_writes_total', { outcome: 'fenced' })) ?? 0;
    }
    return result;
  } finally {
    await writer.stop();
    writtenBefore += writer.written.length;
    writeClient.destroy();
    await pods.stop();
    await deleteTables(ctx.client, [target, app]);
  }
}

/** How a lease.taken event says the lease came: `evidence (container-not-running)`, `adopt`, `take`. */
function describeTake(taken: LoggedEvent): string {
  return `${String(taken.how)}${taken.evidence ? ` (${String(taken.evidence)})` : ''}`;
}

/** Every replica item a TransactWriteItems puts, as `key@sequence`. */
function replicaWrites(request: ProxiedRequest, target: string): string[] {
  try {
    const body = JSON.parse(request.body) as {
      TransactItems?: { Put?: { TableName?: string; Item?: Record<string, { S?: string }> } }[];
    };
    return (body.TransactItems ?? [])
      .map((item) => item.Put)
      .filter((put) => put?.TableName === target)
      .map((put) => `${put?.Item?.email?.S}@${put?.Item?.[SEQUENCE_ATTRIBUTE]?.S}`);
  } catch {
    return [];
  }
}

async function duplicateTrial(
  ctx: BenchContext,
  kill: DuplicateTrial['kill'],
  source: Source,
): Promise<DuplicateTrial> {
  const prefix = `dup-${randomUUID().slice(0, 6)}`;
  const proxy = await FaultProxy.start({ upstream: ctx.endpoint });
  const sent = new Map<string, number>();
  const target = `${prefix}-replica`;
  proxy.addRule({
    match: (request) => {
      if (request.operation === 'TransactWriteItems' && request.tables.includes(target))
        for (const key of replicaWrites(request, target)) sent.set(key, (sent.get(key) ?? 0) + 1);
      return false;
    },
    action: { kind: 'forward' },
  });
  const { pods, app } = await startPair(ctx, source, prefix, proxy.endpoint);
  try {
    const { owner, peer } = await ownerAndPeer(pods);
    // A backlog: batches of up to 1,000 records, 99 items a transaction.
    const backlog = 3_000;
    const writeClient = localClient(ctx.directEndpoint);
    for (let i = 0; i < backlog; i += 25) {
      const items = Array.from({ length: Math.min(25, backlog - i) }, (_, j) =>
        makeItem(i + j, Date.now(), `${prefix}-`),
      );
      await writeClient.send(
        new BatchWriteItemCommand({
          RequestItems: { [source.table]: items.map((Item) => ({ PutRequest: { Item } })) },
        }),
      );
    }
    writeClient.destroy();
    writtenBefore += backlog;
    // Kill the owner at a random transaction of its own, past the first few.
    const nth = 5 + Math.floor(Math.random() * 10);
    let seen = 0;
    const killed = new Promise<void>((resolve) => {
      proxy.addRule({
        match: (request) =>
          request.operation === 'TransactWriteItems' &&
          request.tables.includes(target) &&
          request.body.includes(JSON.stringify(owner.name)) &&
          ++seen === nth,
        times: 1,
        action: { kind: kill === 'after-unanswered-commit' ? 'drop-response' : 'forward' },
        onFire: () => {
          // As it goes out; or once it has committed (the strict layer holds a commit 20 ms), its answer lost.
          const after = kill === 'after-unanswered-commit' ? 300 : 0;
          setTimeout(() => {
            pods.cluster.signalPod(owner.name, 'SIGKILL');
            resolve();
          }, after);
        },
      });
    });
    await Promise.race([killed, systemClock.sleep(120_000)]);
    // The peer takes over and finishes the backlog.
    const deadline = Date.now() + 120_000;
    let complete = false;
    while (Date.now() < deadline) {
      const items = await scanAll(ctx.client, target);
      complete = items.filter((i) => i.email?.S?.startsWith(`${prefix}-`)).length >= backlog;
      if (complete) break;
      await systemClock.sleep(500);
    }
    const taken = pods.events(peer.name, 'lease.taken')[0];
    return {
      kill,
      records: sent.size,
      sentTwice: [...sent.values()].filter((n) => n > 1).length,
      complete,
      ...(taken ? { how: describeTake(taken) } : {}),
    };
  } finally {
    await pods.stop();
    await proxy.close();
    await deleteTables(ctx.client, [target, app]);
  }
}

export async function runFailover(
  ctx: BenchContext,
  options: { trials: number; kinds?: readonly FailoverKind[] },
): Promise<FailoverResult> {
  const table = `fo-${randomUUID().slice(0, 6)}-users`;
  const streamArn = await createTable(ctx.client, table, true);
  if (!streamArn) throw new Error('no stream');
  const source = { table, streamArn };
  writtenBefore = 0;
  const trials: FailoverTrial[] = [];
  for (let i = 0; i < options.trials; i++) {
    for (const kind of options.kinds ?? (['SIGKILL', 'SIGTERM', 'SIGSTOP'] as const)) {
      const t = await trial(ctx, kind, source);
      trials.push(t);
      ctx.log(
        `  ${kind} trial ${i + 1}: peer's first record after ${t.firstRecordSeconds.toFixed(2)} s (lease ${t.how ?? '?'} at ${t.takeSeconds.toFixed(2)} s` +
          `${t.exitSeconds !== undefined ? `, owner exited ${t.exitCode} after ${t.exitSeconds.toFixed(2)} s` : ''}` +
          `${t.staleWrites !== undefined ? `; woken owner: ${t.staleWrites} stale writes, ${t.fencedWrites} fenced` : ''})`,
      );
    }
  }
  const duplicates: DuplicateTrial[] = [];
  for (const kill of ['mid-batch', 'after-unanswered-commit'] as const) {
    const d = await duplicateTrial(ctx, kill, source);
    duplicates.push(d);
    ctx.log(
      `  SIGKILL ${kill}: ${d.sentTwice} of ${d.records} replica writes sent twice; replica ${d.complete ? 'complete' : 'INCOMPLETE'} (lease ${d.how ?? '?'})`,
    );
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
    evidence:
      "pods of a local cluster: a pod's container SIGKILLed, a pod deleted, a pod frozen; the peers watch the cluster's Kubernetes API",
    trials,
    median: { SIGKILL: of('SIGKILL'), SIGTERM: of('SIGTERM'), SIGSTOP: of('SIGSTOP') },
    duplicates,
    targets: { SIGKILL: 3, SIGTERM: 0.5, SIGSTOP: LEASE_DURATION_MS / 1000 },
  };
}
