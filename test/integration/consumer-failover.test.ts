/**
 * Failover with real worker processes: graceful hand-off on SIGTERM, expiry after SIGKILL, and a zombie
 * (SIGSTOP past its lease) that must not overwrite newer data when it wakes up. Asserted on the workers'
 * events and the data, in order, never on how long it took (that is the bench's job: BENCHMARKS.md).
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createReplicationTables,
  localClient,
  type ReplicationTables,
  scanAll,
  stopAll,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';
import { waitForConvergence } from '../support/replica.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const workers = new Set<WorkerProcess>();
afterAll(() => stopAll(workers));

const LEASE_DURATION_MS = 10_000; // the default, as in production

async function start(tables: ReplicationTables, name: string): Promise<WorkerProcess> {
  const worker = await WorkerProcess.start({ endpoint, tables, name });
  workers.add(worker);
  await worker.waitForEvent('worker.started');
  return worker;
}

async function owner(tables: ReplicationTables): Promise<string | undefined> {
  const leases = await scanAll(client, tables.app);
  return leases[0]?.leaseOwner?.S;
}

const write = (tables: ReplicationTables, email: string, version: number) =>
  client.send(
    new PutItemCommand({
      TableName: tables.source,
      Item: { email: { S: email }, version: { N: String(version) } },
    }),
  );

/** Waits (bounded, generously: the machine may be loaded) until the lease belongs to `expected`. */
async function untilOwner(tables: ReplicationTables, expected: string, timeoutMs: number): Promise<void> {
  await waitFor(async () => (await owner(tables)) === expected, {
    timeoutMs,
    intervalMs: 25,
    message: `lease to move to ${expected}`,
  });
}

describe('failover between worker processes', () => {
  it('one worker owns the shard; on SIGTERM it lets the lease go on purpose, the other takes it at once, and the first exits 0', async () => {
    const tables = await createReplicationTables(client);
    for (let i = 0; i < 20; i++) await write(tables, `a${i}@x`, 1);
    const first = await start(tables, 'worker-a');
    await waitFor(async () => (await owner(tables)) === 'worker-a', {
      timeoutMs: 10_000,
      message: 'worker-a to own the lease',
    });
    const second = await start(tables, 'worker-b');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await owner(tables)).toBe('worker-a'); // one owner, no flapping
    expect(await second.metric('streamfleet_leases_held')).toBe(0);

    first.signal('SIGTERM');
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    // A hand-off, not an expiry: the owner stopped its consumer after its batch, then let the lease go — assigned
    // to a peer it knows from the lease table, or (worker-b holds nothing, so it is not in the table) released
    // unowned — and the peer took it at its next pass, without ever judging worker-a dead.
    const [stopped] = first.events('shard.stopped');
    const [handed] = first.events('lease.handed-off');
    expect(stopped).toMatchObject({ reason: 'REQUESTED' });
    expect(handed).toMatchObject({ done: true, why: 'shutdown' });
    expect([null, 'worker-b']).toContain(handed?.to);
    const taken = await second.waitForEvent('lease.taken');
    expect(taken.previousOwner).toBe(handed?.to === null ? null : 'worker-a');
    await untilOwner(tables, 'worker-b', 30_000);
    expect(first.events('lease.lost')).toEqual([]);
    expect(second.events('peers.dead')).toEqual([]);

    for (let i = 20; i < 30; i++) await write(tables, `a${i}@x`, 1);
    const diff = await waitForConvergence(client, tables.source, tables.target);
    expect(diff.processedBy['worker-b']).toBe(10);
  }, 120_000);

  it('after SIGKILL of the owner, the other judges it dead once its lease stood still, and takes the shard', async () => {
    const tables = await createReplicationTables(client);
    const first = await start(tables, 'worker-c');
    await waitFor(async () => (await owner(tables)) === 'worker-c', {
      timeoutMs: 10_000,
      message: 'worker-c to own the lease',
    });
    const second = await start(tables, 'worker-d');
    for (let i = 0; i < 10; i++) await write(tables, `c${i}@x`, 1);
    await waitForConvergence(client, tables.source, tables.target);

    first.signal('SIGKILL');
    const dead = await second.waitForEvent(
      'peers.dead',
      (e) => (e.workers as string[]).includes('worker-c'),
      6 * LEASE_DURATION_MS,
    );
    const taken = await second.waitForEvent('lease.taken', (e) => e.previousOwner === 'worker-c');
    expect(taken.how).toBe('take'); // taken as expired, not asked for
    expect(Date.parse(taken.time)).toBeGreaterThanOrEqual(Date.parse(dead.time));
    await untilOwner(tables, 'worker-d', 30_000);

    for (let i = 10; i < 20; i++) await write(tables, `c${i}@x`, 1);
    const diff = await waitForConvergence(client, tables.source, tables.target);
    expect(diff.processedBy['worker-d']).toBe(10);
  }, 120_000);

  it('a zombie worker (SIGSTOP past its lease) notices the loss and never overwrites newer data', async () => {
    const tables = await createReplicationTables(client);
    const items = Array.from({ length: 40 }, (_, i) => `z${i}@x`);
    const zombie = await start(tables, 'worker-zombie');
    await waitFor(async () => (await owner(tables)) === 'worker-zombie', {
      timeoutMs: 10_000,
      message: 'zombie to own the lease',
    });
    await start(tables, 'worker-live');

    // Keep writing newer versions while the owner is frozen mid-stream.
    let version = 0;
    let frozen = false;
    const load = (async () => {
      for (version = 1; version <= 60; version++) {
        await Promise.all(items.map((email) => write(tables, email, version)));
        if (version === 10) {
          zombie.signal('SIGSTOP');
          frozen = true;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await waitFor(() => frozen, { timeoutMs: 20_000, message: 'the zombie to be frozen' });
    await untilOwner(tables, 'worker-live', 6 * LEASE_DURATION_MS);
    await load;
    await waitForConvergence(client, tables.source, tables.target);

    zombie.signal('SIGCONT');
    await zombie.waitForEvent('lease.lost', () => true, 30_000);
    await new Promise((r) => setTimeout(r, 2_000));
    // Whatever the zombie had in hand is older than what the live worker wrote: nothing regressed.
    const diff = await waitForConvergence(client, tables.source, tables.target, 5_000);
    expect(diff.processedBy).toEqual({ 'worker-live': 40 });
    const replica = await scanAll(client, tables.target);
    expect(replica.every((item) => item.version?.N === '60')).toBe(true);
  }, 180_000);
});
