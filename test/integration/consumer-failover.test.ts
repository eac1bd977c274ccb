/**
 * Failover with real worker processes: graceful hand-off on SIGTERM, expiry after SIGKILL, and a zombie
 * (SIGSTOP past its lease) that must not overwrite newer data when it wakes up.
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
  await worker.waitForLog(/worker started/);
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

/** Time from `since` until the lease belongs to `expected`, polled every 25 ms. */
async function timeUntilOwner(
  tables: ReplicationTables,
  expected: string,
  since: number,
  timeoutMs: number,
): Promise<number> {
  await waitFor(async () => (await owner(tables)) === expected, {
    timeoutMs,
    intervalMs: 25,
    message: `lease to move to ${expected}`,
  });
  return performance.now() - since;
}

describe('failover between worker processes', () => {
  it('one worker owns the shard; after SIGTERM the other owns it within 2 s and the first exits 0', async () => {
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

    const signalled = performance.now();
    first.signal('SIGTERM');
    const handOff = await timeUntilOwner(tables, 'worker-b', signalled, 5_000);
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(performance.now() - signalled).toBeLessThan(30_000);
    expect(handOff).toBeLessThan(2_000);

    for (let i = 20; i < 30; i++) await write(tables, `a${i}@x`, 1);
    const diff = await waitForConvergence(client, tables.source, tables.target);
    expect(diff.processedBy['worker-b']).toBe(10);
  });

  it('after SIGKILL of the owner, the other owns the shard within lease duration + 2 s', async () => {
    const tables = await createReplicationTables(client);
    const first = await start(tables, 'worker-c');
    await waitFor(async () => (await owner(tables)) === 'worker-c', {
      timeoutMs: 10_000,
      message: 'worker-c to own the lease',
    });
    await start(tables, 'worker-d');
    for (let i = 0; i < 10; i++) await write(tables, `c${i}@x`, 1);
    await waitForConvergence(client, tables.source, tables.target);

    const killed = performance.now();
    first.signal('SIGKILL');
    const failover = await timeUntilOwner(tables, 'worker-d', killed, LEASE_DURATION_MS + 5_000);
    expect(failover).toBeLessThanOrEqual(LEASE_DURATION_MS + 2_000);

    for (let i = 10; i < 20; i++) await write(tables, `c${i}@x`, 1);
    const diff = await waitForConvergence(client, tables.source, tables.target);
    expect(diff.processedBy['worker-d']).toBe(10);
  });

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
    await timeUntilOwner(tables, 'worker-live', performance.now(), LEASE_DURATION_MS + 5_000);
    await load;
    await waitForConvergence(client, tables.source, tables.target);

    zombie.signal('SIGCONT');
    await zombie.waitForLog(/lease lost/, 15_000);
    await new Promise((r) => setTimeout(r, 2_000));
    // Whatever the zombie had in hand is older than what the live worker wrote: nothing regressed.
    const diff = await waitForConvergence(client, tables.source, tables.target, 5_000);
    expect(diff.processedBy).toEqual({ 'worker-live': 40 });
    const replica = await scanAll(client, tables.target);
    expect(replica.every((item) => item.version?.N === '60')).toBe(true);
  });
});
