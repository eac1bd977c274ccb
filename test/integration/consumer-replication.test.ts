import { DeleteItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createReplicationTables,
  localClient,
  scanAll,
  stopAll,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';
import { diffReplica, waitForConvergence } from '../support/replica.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const workers = new Set<WorkerProcess>();
afterAll(() => stopAll(workers));

async function start(options: Parameters<typeof WorkerProcess.start>[0]): Promise<WorkerProcess> {
  const worker = await WorkerProcess.start(options);
  workers.add(worker);
  return worker;
}

const put = (table: string, email: string, attrs: Record<string, string>) =>
  client.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        email: { S: email },
        ...Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { S: v }])),
      },
    }),
  );

describe('replication (worker process on DynamoDB Local)', () => {
  it('converges inserts, modifies and removes into the replica, stamped with processed_by', async () => {
    const tables = await createReplicationTables(client);
    for (let i = 0; i < 40; i++)
      await put(tables.source, `user${i}@example.com`, { name: `User ${i}`, city: 'Lisbon' });
    const worker = await start({ endpoint, tables, name: 'replicator-1' });
    await worker.waitForEvent('worker.started');
    for (let i = 0; i < 15; i++) {
      await client.send(
        new UpdateItemCommand({
          TableName: tables.source,
          Key: { email: { S: `user${i}@example.com` } },
          UpdateExpression: 'SET city = :c',
          ExpressionAttributeValues: { ':c': { S: 'Porto' } },
        }),
      );
    }
    for (let i = 30; i < 40; i++)
      await client.send(
        new DeleteItemCommand({ TableName: tables.source, Key: { email: { S: `user${i}@example.com` } } }),
      );
    for (let i = 40; i < 50; i++)
      await put(tables.source, `user${i}@example.com`, { name: `User ${i}`, city: 'Faro' });

    const diff = await waitForConvergence(client, tables.source, tables.target);
    expect(diff.processedBy).toEqual({ 'replicator-1': 40 });
    const replica = await scanAll(client, tables.target);
    expect(replica.filter((item) => item.city?.S === 'Porto')).toHaveLength(15);
    expect(replica.every((item) => /^\d{48}$/.test(item._streamfleet_seq?.S ?? ''))).toBe(true);
    expect(await worker.metric('streamfleet_records_processed_total')).toBe(40 + 15 + 10 + 10);
    expect(await worker.metric('streamfleet_leases_held')).toBe(1);

    const ready = await fetch(`http://127.0.0.1:${worker.port}/readyz`);
    expect(ready.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${worker.port}/healthz`)).status).toBe(200);
  });

  it('a restarted worker resumes after its checkpoint instead of starting over', async () => {
    const tables = await createReplicationTables(client);
    for (let i = 0; i < 30; i++) await put(tables.source, `r${i}@example.com`, { v: '1' });
    const first = await start({ endpoint, tables, name: 'resumer' });
    await waitForConvergence(client, tables.source, tables.target);
    first.signal('SIGTERM');
    expect((await first.exited).code).toBe(0);

    for (let i = 0; i < 30; i += 3) await put(tables.source, `r${i}@example.com`, { v: '2' });
    for (let i = 30; i < 35; i++) await put(tables.source, `r${i}@example.com`, { v: '1' });
    const second = await start({ endpoint, tables, name: 'resumer' });
    await waitForConvergence(client, tables.source, tables.target);
    // Only the 15 records written while it was down: the 30 before the checkpoint are not read again.
    expect(await second.metric('streamfleet_records_processed_total')).toBe(15);
  });

  it('a checkpoint edited beyond the shard fails loudly, never moves, and the shard recovers once it is fixed', async () => {
    const tables = await createReplicationTables(client);
    for (let i = 0; i < 10; i++) await put(tables.source, `e${i}@example.com`, { v: '1' });
    const first = await start({ endpoint, tables, name: 'edited' });
    await waitForConvergence(client, tables.source, tables.target);
    first.signal('SIGTERM');
    expect((await first.exited).code).toBe(0);
    const [lease] = await scanAll(client, tables.app);
    const key = { leaseKey: { S: lease?.leaseKey?.S ?? '' } };
    const beyond = '9'.repeat(40);
    const setCheckpoint = (checkpoint: string) =>
      client.send(
        new UpdateItemCommand({
          TableName: tables.app,
          Key: key,
          UpdateExpression: 'SET checkpoint = :c',
          ExpressionAttributeValues: { ':c': { S: checkpoint } },
        }),
      );
    await setCheckpoint(beyond);
    for (let i = 10; i < 15; i++) await put(tables.source, `e${i}@example.com`, { v: '1' });

    const second = await start({ endpoint, tables, name: 'edited' });
    await second.waitForEvent('shard.failed');
    // Counted where an alarm looks, and the worker keeps running and stays ready.
    await waitFor(async () => (await second.metric('streamfleet_processing_errors_total')) > 0, {
      timeoutMs: 10_000,
      message: 'the failure to be counted',
    });
    expect((await fetch(`http://127.0.0.1:${second.port}/healthz`)).status).toBe(200);
    const [stuck] = await scanAll(client, tables.app);
    expect(stuck?.checkpoint?.S).toBe(beyond);

    // Fixed by hand (back to the oldest record): the restart loop picks it up, a full replay, nothing stale.
    await setCheckpoint('TRIM_HORIZON');
    await waitForConvergence(client, tables.source, tables.target);
  });

  it('skips nothing and writes nothing stale when an old change is replayed', async () => {
    const tables = await createReplicationTables(client);
    await put(tables.source, 'x@example.com', { v: '1' });
    await put(tables.source, 'x@example.com', { v: '2' });
    await put(tables.source, 'x@example.com', { v: '3' });
    const worker = await start({ endpoint, tables, name: 'replayer', env: { MAX_RECORDS: '1' } });
    await waitForConvergence(client, tables.source, tables.target);
    worker.signal('SIGKILL');
    await worker.exited;
    // Rewind the checkpoint as a crash before checkpointing would: the worker replays v1, v2, v3.
    await client.send(
      new UpdateItemCommand({
        TableName: tables.app,
        Key: { leaseKey: { S: (await scanAll(client, tables.app))[0]?.leaseKey?.S ?? '' } },
        UpdateExpression: 'SET checkpoint = :th REMOVE leaseOwner',
        ExpressionAttributeValues: { ':th': { S: 'TRIM_HORIZON' } },
      }),
    );
    const again = await start({ endpoint, tables, name: 'replayer-2', env: { MAX_RECORDS: '1' } });
    await again.waitForEvent('shard.initialized');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await again.metric('streamfleet_records_processed_total')).toBe(3);
    // Every replayed write found the replica already at v3 and was skipped, so v3 from the first worker stays.
    const diff = await diffReplica(client, tables.source, tables.target);
    expect(diff).toMatchObject({ missing: [], differing: [], extra: [], processedBy: { replayer: 1 } });
  });
});

describe('start-up errors', () => {
  it('exits 2 naming the variable when configuration is missing or malformed', async () => {
    const worker = await start({
      endpoint,
      name: 'bad',
      rawEnv: {
        TARGET_TABLE_NAME: 'users_replica',
        APPLICATION_NAME: 'app',
        AWS_REGION: 'us-east-1',
        PORT: 'eighty',
      },
    });
    expect((await worker.exited).code).toBe(2);
    expect(worker.output).toMatch(/configuration error: SOURCE_TABLE_STREAM_ARN: is required/);
    const worker2 = await start({
      endpoint,
      name: 'bad2',
      rawEnv: {
        SOURCE_TABLE_STREAM_ARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/x',
        TARGET_TABLE_NAME: 'users_replica',
        APPLICATION_NAME: 'app',
        AWS_REGION: 'us-east-1',
        PORT: 'eighty',
      },
    });
    expect((await worker2.exited).code).toBe(2);
    expect(worker2.output).toMatch(/PORT: expected a whole number from 0 to 65535, got "eighty"/);
  });

  it('exits 3 with what to do when the stream or the target table does not exist', async () => {
    const tables = await createReplicationTables(client);
    const missingStream = await start({
      endpoint,
      tables: { ...tables, streamArn: tables.streamArn.replace(/table\/[^/]+\//, 'table/nope-users/') },
      name: 'no-stream',
    });
    expect((await missingStream.exited).code).toBe(3);
    expect(missingStream.output).toMatch(/does not exist\. Set SOURCE_TABLE_STREAM_ARN/);

    const missingTarget = await start({
      endpoint,
      tables: { ...tables, target: 'nope-replica' },
      name: 'no-target',
    });
    expect((await missingTarget.exited).code).toBe(3);
    expect(missingTarget.output).toMatch(/Table nope-replica \(TARGET_TABLE_NAME\) does not exist/);
    // Nothing was written: no lease table was created for a worker that could not start.
    expect(await scanAll(client, tables.app).catch((e: Error) => e.name)).toBe('ResourceNotFoundException');
  });
});
