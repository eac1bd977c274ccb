/**
 * Zombies: a worker frozen with SIGSTOP past its lease duration, with one of its replica writes still in the
 * network (held in its fault proxy). Another worker takes the shard over and writes newer data; then the
 * frozen write is delivered and the zombie resumed. The zombie must notice it lost its lease, and its late
 * write must not replace newer data.
 *
 * Fenced mode (the default) refuses the late write outright (its ConditionCheck on the lease fails).
 * Conditional mode relies on the sequence guard alone, which stops an older version replacing a newer one
 * but cannot stop an item deleted since from being re-created: that documented hole is shown here too,
 * which also proves the audit catches a stale write when there is one.
 */
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { FaultProxy, type ProxiedRequest } from '../support/fault-proxy.js';
import { scanAll, type WorkerProcess, waitFor, waitForOpenLeaseOwner } from '../support/fleet.js';
import {
  audit,
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  FAST_LEASES,
  Fleet,
  Load,
  reliabilitySuite,
  report,
  scrapeMetrics,
  sleep,
} from './harness.js';

const proxies: FaultProxy[] = [];
const { endpoint, client, streams } = reliabilitySuite(() => Promise.all(proxies.map((p) => p.close())));

const leaseLostEvents = (worker: WorkerProcess) => worker.events('lease.lost').length;

const isWriteOf = (target: string, email?: string) => (request: ProxiedRequest) =>
  (request.operation === 'TransactWriteItems' ||
    request.operation === 'PutItem' ||
    request.operation === 'DeleteItem') &&
  request.tables.includes(target) &&
  (email === undefined || request.body.includes(JSON.stringify(email)));

/** Arms a one-shot hold of the next matching request; resolves once one is held (or false after timeoutMs). */
function holdNext(proxy: FaultProxy, match: (r: ProxiedRequest) => boolean, timeoutMs = 10_000) {
  let release: (verdict: 'deliver' | 'drop') => void = () => undefined;
  const released = new Promise<'deliver' | 'drop'>((resolve) => {
    release = resolve;
  });
  const held = new Promise<boolean>((resolve) => {
    proxy.addRule({
      match,
      times: 1,
      action: { kind: 'hold', release: released },
      onFire: () => resolve(true),
    });
    setTimeout(() => resolve(false), timeoutMs);
  });
  return { held, release: (verdict: 'deliver' | 'drop' = 'deliver') => release(verdict) };
}

describe('zombie workers (SIGSTOP past the lease duration)', () => {
  it('fenced: frozen owners with a write in flight never overwrite newer data and notice the loss', async () => {
    const started = Date.now();
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: FAST_LEASES });
    const load = new Load({ client, table: tables.source, items: 60, concurrency: 3, pauseMs: 10 }).start();
    const cycles: { takeoverMs: number; zombieNoticedMs: number; heldWrite: boolean }[] = [];

    const proxy = await FaultProxy.start({ upstream: endpoint });
    proxies.push(proxy);
    const zombie = await fleet.start('zombie', { endpoint: proxy.endpoint });
    await waitForOpenLeaseOwner(client, tables.app, 'zombie');
    let live = await fleet.start('live-1');
    for (let cycle = 0; cycle < 2; cycle++) {
      const trap = holdNext(proxy, isWriteOf(tables.target));
      const heldWrite = await trap.held;
      await fleet.scrape(zombie);
      const lostBefore = leaseLostEvents(zombie);
      zombie.signal('SIGSTOP');
      const takeoverMs = await waitForOpenLeaseOwner(client, tables.app, live.name);
      await sleep(2_000); // the new owner writes newer versions meanwhile
      trap.release('deliver'); // the zombie's write reaches DynamoDB late, as a delayed packet would
      await sleep(300);
      zombie.signal('SIGCONT');
      const resumed = Date.now();
      await waitFor(() => leaseLostEvents(zombie) > lostBefore, {
        timeoutMs: 10_000,
        message: 'the resumed zombie to report lease.lost',
      });
      const zombieNoticedMs = Date.now() - resumed;
      await waitFor(async () => (await scrapeMetrics(zombie.port))?.get('streamfleet_leases_held') === 0, {
        timeoutMs: 5_000,
        message: 'the zombie to hold no lease',
      });
      cycles.push({ takeoverMs, zombieNoticedMs, heldWrite });
      // Hand the shard back to the zombie for the next round: the live worker leaves gracefully.
      await fleet.terminate(live);
      await waitForOpenLeaseOwner(client, tables.app, 'zombie');
      live = await fleet.start(`live-${cycle + 2}`);
    }
    await load.stop();

    const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 30_000 });
    await fleet.scrapeAll();
    report({
      scenario: 'zombie-fenced',
      faults: {
        sigstopPastLease: cycles.length,
        lateWritesDelivered: cycles.filter((c) => c.heldWrite).length,
      },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      takeoverMs: cycles.map((c) => c.takeoverMs),
      zombieNoticedLossMs: cycles.map((c) => c.zombieNoticedMs),
      zombieLeaseLosses: (await scrapeMetrics(zombie.port))?.get('streamfleet_lease_losses_total'),
      examples: result.examples,
    });
    expect(cycles.every((c) => c.heldWrite)).toBe(true);
    expect(result.examples).toEqual([]);
    expect(result.lost).toBe(0);
    expect(result.staleOverwrites).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource);
    expect(zombie.child.exitCode).toBeNull();
  }, 90_000);

  it('a resumed zombie takes the shard back, from its sentinels and not a periodic scan, when the new owner dies', async () => {
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: FAST_LEASES });
    // No periodic full scan within the test: a take-back can only come from judging the new owner dead.
    const zombie = await fleet.start('zombie-back', { env: { LEASE_SCAN_INTERVAL_MS: '3600000' } });
    await waitForOpenLeaseOwner(client, tables.app, zombie.name);
    const live = await fleet.start('live-back');
    zombie.signal('SIGSTOP');
    await waitForOpenLeaseOwner(client, tables.app, live.name);
    zombie.signal('SIGCONT');
    await zombie.waitForEvent('lease.lost', () => true, 30_000);
    await sleep(1_500);
    await fleet.kill(live);
    const failoverMs = await waitForOpenLeaseOwner(client, tables.app, zombie.name, { timeoutMs: 60_000 });
    const takenBack = await zombie.waitForEvent('lease.taken', (e) => e.previousOwner === live.name);
    const dead = zombie.events('peers.dead').find((e) => (e.workers as string[]).includes(live.name));
    expect(dead, 'the zombie judged the new owner dead from its sentinels').toBeDefined();
    expect(takenBack.how).toBe('take');
    expect(Date.parse(takenBack.time)).toBeGreaterThanOrEqual(Date.parse(dead?.time ?? ''));
    report({
      scenario: 'zombie-takes-back',
      faults: { sigstopPastLease: 1, killedNewOwner: 1 },
      recordsWritten: 0,
      replicated: 0,
      replayed: 0,
      lost: 0,
      staleOverwrites: 0,
      durationMs: failoverMs,
      failoverMs,
    });
  }, 120_000);

  for (const mode of ['fenced', 'conditional'] as const) {
    it(`${mode}: a zombie's late write of an item deleted since ${mode === 'fenced' ? 'is refused' : 're-creates it (documented limit)'}`, async () => {
      const started = Date.now();
      const tables = await createAuditedTables(client);
      const fleet = new Fleet({ endpoint, tables, env: { ...FAST_LEASES, REPLICATION_WRITE_MODE: mode } });
      const proxy = await FaultProxy.start({ upstream: endpoint });
      proxies.push(proxy);
      const zombie = await fleet.start(`zombie-${mode}`, { endpoint: proxy.endpoint });
      await waitForOpenLeaseOwner(client, tables.app, zombie.name);
      const live = await fleet.start(`live-${mode}`);
      const key = { email: { S: 'doomed@example.com' } };
      const put = (version: number) =>
        client.send(
          new PutItemCommand({ TableName: tables.source, Item: { ...key, version: { N: String(version) } } }),
        );
      await put(1);
      await waitFor(
        async () => (await client.send(new GetItemCommand({ TableName: tables.target, Key: key }))).Item,
        { timeoutMs: 10_000, message: 'v1 in the replica' },
      );

      // v2 is written by the zombie, but its write is held in the network while the zombie freezes.
      const trap = holdNext(proxy, isWriteOf(tables.target, 'doomed@example.com'));
      await put(2);
      expect(await trap.held).toBe(true);
      zombie.signal('SIGSTOP');
      // Meanwhile the item is deleted in the source; the new owner replicates the delete.
      await client.send(new DeleteItemCommand({ TableName: tables.source, Key: key }));
      await client.send(
        new PutItemCommand({ TableName: tables.source, Item: { email: { S: 'marker@example.com' } } }),
      );
      await waitForOpenLeaseOwner(client, tables.app, live.name);
      await waitFor(
        async () => {
          const items = await scanAll(client, tables.target);
          return (
            items.some((i) => i.email?.S === 'marker@example.com') &&
            !items.some((i) => i.email?.S === 'doomed@example.com')
          );
        },
        { timeoutMs: 15_000, message: 'the new owner to replicate the delete' },
      );
      trap.release('deliver');
      await sleep(500);
      zombie.signal('SIGCONT');
      await zombie.waitForEvent('lease.lost', () => true, 30_000);
      await sleep(1_000);

      const result = await audit({ client, streams, tables });
      const doomed = await client.send(new GetItemCommand({ TableName: tables.target, Key: key }));
      report({
        scenario: `zombie-late-write-after-delete-${mode}`,
        faults: { sigstopPastLease: 1, lateWritesDelivered: 1 },
        recordsWritten: result.recordsWritten,
        replicated: result.replicated,
        replayed: 0,
        lost: result.lost,
        staleOverwrites: result.staleOverwrites,
        durationMs: Date.now() - started,
        deletedItemInReplica: doomed.Item !== undefined,
        examples: result.examples,
      });
      if (mode === 'fenced') {
        expect(doomed.Item).toBeUndefined();
        expect(result.staleOverwrites).toBe(0);
        expect(result.lost).toBe(0);
      } else {
        // The guard alone cannot know the item was deleted: the late v2 re-creates it. The audit sees it.
        expect(doomed.Item?.version?.N).toBe('2');
        expect(result.staleOverwrites).toBe(1);
        expect(result.examples[0]).toMatch(/stale re-insert of email=S"doomed@example.com"/);
        expect(result.lost).toBe(0);
      }
    }, 60_000);
  }
});
