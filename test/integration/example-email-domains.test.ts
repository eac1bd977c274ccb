/**
 * The example application (examples/email-domains): a materialised view of users per e-mail domain, kept with
 * non-idempotent ADDs committed in the worker's fenced transactions. Two real workers (node dist/consumer.js
 * with PROCESSOR_MODULE) through the strict layer; the one holding the shard is SIGKILLed while it works; the
 * view must equal the truth counted from the source table: no count applied twice, none lost.
 */
import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { domainOf } from '../../examples/email-domains/processor.js';
import {
  createReplicationTables,
  localClient,
  openLease,
  scanAll,
  stopAll,
  uniqueName,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const MODULE = resolve(import.meta.dirname, '../../dist/examples/email-domains.js');
const workers: WorkerProcess[] = [];
afterEach(() => stopAll(workers.splice(0)));

const DOMAINS = Array.from({ length: 12 }, (_, i) => `d${i}.example`);

async function createView(name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'domain', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'domain', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

/** Users per domain as the source table holds them now. */
async function truth(source: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const item of await scanAll(client, source)) {
    const domain = domainOf(item.email?.S);
    if (domain) counts[domain] = (counts[domain] ?? 0) + 1;
  }
  return counts;
}

/** The view's counts, leaving out domains at zero (a domain everybody left). */
async function view(table: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const item of await scanAll(client, table)) {
    const users = Number(item.users?.N ?? '0');
    if (users !== 0) counts[item.domain?.S ?? ''] = users;
  }
  return counts;
}

describe('example: users per e-mail domain, exactly once through the transactional path', () => {
  it('counts every change once across a SIGKILL of the worker that holds the shard', async () => {
    const tables = await createReplicationTables(client);
    const viewTable = uniqueName('domains');
    await createView(viewTable);
    const start = (name: string) =>
      WorkerProcess.start({
        endpoint,
        tables,
        name,
        env: {
          PROCESSOR_MODULE: MODULE,
          VIEW_TABLE_NAME: viewTable,
          MAX_RECORDS: '40',
          LEASE_DURATION_MS: '3000',
          LEASE_TAKER_INTERVAL_MS: '500',
          IDLE_TIME_BETWEEN_READS_MS: '100',
        },
      });
    workers.push(await start('view-a'), await start('view-b'));
    await Promise.all(workers.map((w) => w.waitForEvent('worker.started')));

    // Users join (batches of 25); then every seventh moves to another domain.
    const load = (async () => {
      for (let i = 0; i < 400; i += 25) {
        await client.send(
          new BatchWriteItemCommand({
            RequestItems: {
              [tables.source]: Array.from({ length: 25 }, (_, j) => ({
                PutRequest: { Item: { email: { S: `u${i + j}@${DOMAINS[(i + j) % DOMAINS.length]}` } } },
              })),
            },
          }),
        );
      }
      for (let i = 0; i < 400; i += 7) {
        // Moving domain is a new key here (the table is keyed by e-mail): a REMOVE and an INSERT.
        await client.send(
          new DeleteItemCommand({
            TableName: tables.source,
            Key: { email: { S: `u${i}@${DOMAINS[i % DOMAINS.length]}` } },
          }),
        );
        await client.send(
          new PutItemCommand({ TableName: tables.source, Item: { email: { S: `u${i}@moved.example` } } }),
        );
      }
    })();

    // The holder of the shard, killed once it has committed some batches and while records keep coming.
    const holderName = await waitFor(async () => (await openLease(client, tables.app))?.leaseOwner?.S, {
      timeoutMs: 30_000,
      message: 'a worker to hold the shard',
    });
    const holder = workers.find((w) => w.name === holderName) as WorkerProcess;
    const survivor = workers.find((w) => w !== holder) as WorkerProcess;
    await waitFor(async () => (await holder.metric('streamfleet_checkpoints_total')) >= 3, {
      timeoutMs: 30_000,
      message: `${holder.name} to commit a few batches`,
    });
    holder.signal('SIGKILL');
    await holder.exited;
    await load;

    await survivor.waitForEvent('lease.taken', (e) => e.previousOwner === holder.name, 30_000);
    const expected = await truth(tables.source);
    const counts = await waitFor(
      async () => {
        const now = await view(viewTable);
        return isDeepStrictEqual(now, expected) ? now : undefined;
      },
      { timeoutMs: 60_000, message: 'the view to equal the source table' },
    ).catch(async (error: Error) => {
      throw new Error(
        `${error.message}: view ${JSON.stringify(await view(viewTable))}, truth ${JSON.stringify(expected)}`,
      );
    });
    expect(counts).toEqual(expected);
    console.log(
      `EMAIL-DOMAINS ${JSON.stringify({ killed: holder.name, takenOverBy: survivor.name, domains: Object.keys(counts).length, users: 400, viewEqualsSource: true })}`,
    );
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(400);
    // The survivor read from the killed worker's last checkpoint: what it had committed was not counted again.
    expect(survivor.events('batch.failed')).toEqual([]);
  }, 180_000);
});
