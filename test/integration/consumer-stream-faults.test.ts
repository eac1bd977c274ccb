/**
 * The worker against a scripted stream endpoint (a test fixture speaking the DynamoDB Streams protocol):
 * several shards, trimmed data, throttling, expired iterators and a split, with the real SDK and bundle.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { compareSequenceNumbers, isSequenceNumber } from '../../core/vocabulary/sequence.js';
import {
  createReplicationTables,
  createScriptedReplication,
  localClient,
  type ReplicationTables,
  scanAll,
  stopAll,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';
import { waitForConvergence } from '../support/replica.js';
import type { ScriptedStream } from '../support/scripted-stream.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const workers = new Set<WorkerProcess>();
const streams = new Set<ScriptedStream>();
afterAll(async () => {
  await stopAll(workers);
  await Promise.all([...streams].map((s) => s.stop()));
});

async function scripted(shardCount: number) {
  const { stream, tables, streamsEndpoint } = await createScriptedReplication(client, endpoint, shardCount);
  streams.add(stream);
  const start = async (name: string, env: Record<string, string> = {}) => {
    const worker = await WorkerProcess.start({
      endpoint,
      tables,
      name,
      env: { AWS_ENDPOINT_URL_DYNAMODB_STREAMS: streamsEndpoint, IDLE_TIME_BETWEEN_READS_MS: '100', ...env },
    });
    workers.add(worker);
    return worker;
  };
  return { stream, tables, start };
}

describe('worker against a scripted stream', () => {
  it('reads many shards, and after a split reads the parent before its children', async () => {
    const { stream, tables, start } = await scripted(8);
    for (let i = 0; i < 80; i++) await stream.put({ email: `m${i}@x`, v: 1 });
    const worker = await start('multi');
    await waitForConvergence(client, tables.source, tables.target);
    const parent = stream.openShards()[0];
    if (!parent) throw new Error('no open shard');
    const children = stream.closeShard(parent.shardId, 2);
    for (let i = 0; i < 80; i++) await stream.put({ email: `m${i}@x`, v: 2 });
    await waitForConvergence(client, tables.source, tables.target);
    const leases = await scanAll(client, tables.app);
    expect(leases.find((l) => l.leaseKey?.S === parent.shardId)?.checkpoint?.S).toBe('SHARD_END');
    for (const child of children) {
      const lease = leases.find((l) => l.leaseKey?.S === child.shardId);
      expect(lease?.parentShardId?.SS).toEqual([parent.shardId]);
    }
    expect(await worker.metric('streamfleet_shards_completed_total')).toBe(1);
  });

  it('survives throttling and expired iterators, counting both, and loses nothing', async () => {
    const { stream, tables, start } = await scripted(2);
    const worker = await start('throttled');
    await worker.waitForEvent('worker.started');
    // More throttled calls in a row than the SDK retries by itself, so the worker's own backoff is exercised.
    stream.throttle({ calls: 12 }, ['GetRecords']);
    for (let i = 0; i < 60; i++) await stream.put({ email: `t${i}@x`, v: 1 });
    await waitForConvergence(client, tables.source, tables.target);
    expect(await worker.metric('streamfleet_throttles_total')).toBeGreaterThan(0);
    stream.expireIterators();
    for (let i = 0; i < 60; i++) await stream.put({ email: `t${i}@x`, v: 2 });
    await waitForConvergence(client, tables.source, tables.target);
    expect(await worker.metric('streamfleet_expired_iterators_total')).toBeGreaterThan(0);
    expect(worker.child.exitCode).toBeNull();
  });

  it('on trimmed data logs and counts it, resumes at the oldest record, and keeps running', async () => {
    const { stream, tables, start } = await scripted(1);
    for (let i = 0; i < 10; i++) await stream.put({ email: `a${i}@x`, v: 1 });
    const first = await start('trim-1', { LEASE_DURATION_MS: '3000' });
    await waitForConvergence(client, tables.source, tables.target);
    // Killed only once its checkpoint covers what it replicated, so the restart resumes from a sequence number.
    await waitFor(async () => /^\d+$/.test((await scanAll(client, tables.app))[0]?.checkpoint?.S ?? ''), {
      timeoutMs: 10_000,
      message: 'the first worker to checkpoint',
    });
    first.signal('SIGKILL');
    await first.exited;
    // While no worker runs, more changes arrive and the oldest of them pass the retention period.
    const shard = stream.openShards()[0]?.shardId ?? '';
    const lost = [];
    for (let i = 0; i < 5; i++) lost.push(await stream.put({ email: `lost${i}@x`, v: 1 }));
    stream.trim(shard, lost.at(-1)?.sequenceNumber);
    for (let i = 0; i < 10; i++) await stream.put({ email: `b${i}@x`, v: 1 });

    const second = await start('trim-2', { LEASE_DURATION_MS: '3000' });
    await waitFor(async () => (await second.metric('streamfleet_trimmed_data_events_total')) >= 1, {
      timeoutMs: 15_000,
      message: 'a trimmed-data event to be counted',
    });
    await second.waitForEvent('read.trimmed');
    await waitFor(
      async () =>
        (await scanAll(client, tables.target)).filter((i) => i.email?.S?.startsWith('b')).length === 10,
      {
        timeoutMs: 15_000,
        message: 'records after the trim horizon to be replicated',
      },
    );
    // The trimmed changes never reached any reader: the replica is missing exactly those, and the log says so.
    const replica = new Set((await scanAll(client, tables.target)).map((i) => i.email?.S));
    expect([...Array(5).keys()].filter((i) => replica.has(`lost${i}@x`))).toEqual([]);
    expect(second.child.exitCode).toBeNull();
  });
});

describe('lineage over time on a scripted stream', () => {
  it('finds children as soon as a shard ends, without waiting for the periodic sync', async () => {
    const { stream, tables, start } = await scripted(1);
    const worker = await start('eager', {
      SHARD_SYNC_INTERVAL_MS: '600000',
      IDLE_TIME_BETWEEN_READS_MS: '200',
    });
    await worker.waitForEvent('worker.started');
    const parent = stream.openShards()[0]?.shardId ?? '';
    const [child] = stream.closeShard(parent, 1);
    // The periodic sync is 10 minutes away: the child lease can only come from the sync that follows the end
    // of the parent, and in that order.
    const created = await worker.waitForEvent(
      'shards.created',
      (e) => (e.created as string[]).includes(child?.shardId ?? ''),
      60_000,
    );
    const finished = worker.events('shard.finished').find((e) => e.shardId === parent);
    expect(finished).toBeDefined();
    expect(Date.parse(created.time)).toBeGreaterThanOrEqual(Date.parse(finished?.time ?? ''));
    expect((await scanAll(client, tables.app)).some((l) => l.leaseKey?.S === child?.shardId)).toBe(true);
    for (let i = 0; i < 10; i++) await stream.put({ email: `e${i}@x`, v: 1 });
    await waitForConvergence(client, tables.source, tables.target);
  });

  it('deletes a finished lease once its shard has left the stream and its child has started', async () => {
    const { stream, tables, start } = await scripted(1);
    await start('cleaner', { SHARD_SYNC_INTERVAL_MS: '1000' });
    const parent = stream.openShards()[0]?.shardId ?? '';
    for (let i = 0; i < 5; i++) await stream.put({ email: `p${i}@x`, v: 1 });
    const [child] = stream.closeShard(parent, 1);
    for (let i = 0; i < 5; i++) await stream.put({ email: `c${i}@x`, v: 1 });
    await waitForConvergence(client, tables.source, tables.target);
    const leaseOf = async (key: string | undefined) =>
      (await scanAll(client, tables.app)).find((l) => l.leaseKey?.S === key);
    await waitFor(async () => /^\d+$/.test((await leaseOf(child?.shardId))?.checkpoint?.S ?? ''), {
      timeoutMs: 10_000,
      message: 'the child to checkpoint a record',
    });
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await leaseOf(parent))?.checkpoint?.S).toBe('SHARD_END'); // still listed: kept
    stream.expireShard(parent);
    await waitFor(async () => (await leaseOf(parent)) === undefined, {
      timeoutMs: 10_000,
      message: 'the parent lease to be deleted',
    });
    expect(await leaseOf(child?.shardId)).toBeDefined();
  });

  it('finishes a shard that expired with records unread, loudly, so its children go on', async () => {
    const { stream, tables, start } = await scripted(1);
    const parent = stream.openShards()[0]?.shardId ?? '';
    const first = await start('before-expiry', { LEASE_DURATION_MS: '2000' });
    await waitFor(async () => (await scanAll(client, tables.app)).length === 1, {
      timeoutMs: 10_000,
      message: 'the lease',
    });
    first.signal('SIGKILL');
    await first.exited;
    for (let i = 0; i < 5; i++) await stream.put({ email: `unread${i}@x`, v: 1 });
    const [child] = stream.closeShard(parent, 1);
    stream.expireShard(parent);
    for (let i = 0; i < 5; i++) await stream.put({ email: `after${i}@x`, v: 1 });
    const second = await start('after-expiry', { LEASE_DURATION_MS: '2000' });
    await second.waitForEvent('shard.gone', () => true, 15_000);
    await waitFor(
      async () =>
        (await scanAll(client, tables.target)).filter((i) => i.email?.S?.startsWith('after')).length === 5,
      {
        timeoutMs: 15_000,
        message: "the child's records",
      },
    );
    const leases = await scanAll(client, tables.app);
    expect(leases.find((l) => l.leaseKey?.S === parent)?.checkpoint?.S).toBe('SHARD_END');
    expect(leases.find((l) => l.leaseKey?.S === child?.shardId)).toBeDefined();
    expect(await second.metric('streamfleet_trimmed_data_events_total')).toBeGreaterThanOrEqual(1);
  });
});

describe('poison records (real stream on DynamoDB Local)', () => {
  it('stops the shard by default with a metric, without checkpointing past the record', async () => {
    const tables = await createReplicationTables(client);
    const put = (email: string, size: number) =>
      client.send(
        new UpdateItemCommand({
          TableName: tables.source,
          Key: { email: { S: email } },
          UpdateExpression: 'SET v = :v',
          ExpressionAttributeValues: { ':v': { S: 'x'.repeat(size) } },
        }),
      );
    await put('before@x', 10);
    await put('huge@x', 409_560); // fits in the source; with processed_by and the sequence it does not
    await put('after@x', 10);
    const worker = await start(tables, 'poisoned');
    await waitFor(async () => (await worker.metric('streamfleet_shards_stalled')) === 1, {
      timeoutMs: 15_000,
      message: 'the shard to stall',
    });
    expect(await worker.metric('streamfleet_poison_records_total')).toBeGreaterThanOrEqual(1);
    const poison = await worker.waitForEvent('record.poison');
    expect(poison.keys).toEqual({ email: { S: 'huge@x' } });
    // The shard stops exactly before the record: what came before it is written and checkpointed, nothing
    // after it is processed while it stalls.
    const [lease] = await scanAll(client, tables.app);
    const checkpoint = lease?.checkpoint?.S ?? '';
    expect(isSequenceNumber(checkpoint)).toBe(true); // before@x's
    expect(compareSequenceNumbers(checkpoint, String(poison.sequenceNumber))).toBeLessThan(0);
    expect((await scanAll(client, tables.target)).map((i) => i.email?.S).sort()).toEqual(['before@x']);
  });

  it('with the dead-letter policy records the refused change and moves on', async () => {
    const tables = await createReplicationTables(client);
    const dlq = `${tables.app}-dlq`;
    await client.send(
      new UpdateItemCommand({
        TableName: tables.source,
        Key: { email: { S: 'huge@x' } },
        UpdateExpression: 'SET v = :v',
        ExpressionAttributeValues: { ':v': { S: 'x'.repeat(409_560) } },
      }),
    );
    for (let i = 0; i < 5; i++) {
      await client.send(
        new UpdateItemCommand({
          TableName: tables.source,
          Key: { email: { S: `ok${i}@x` } },
          UpdateExpression: 'SET v = :v',
          ExpressionAttributeValues: { ':v': { S: 'v' } },
        }),
      );
    }
    const worker = await start(tables, 'dead-letterer', {
      POISON_RECORD_POLICY: 'dead-letter',
      DEAD_LETTER_TABLE_NAME: dlq,
    });
    await waitFor(async () => (await scanAll(client, tables.target)).length === 5, {
      timeoutMs: 15_000,
      message: 'the five good items',
    });
    const [entry] = await waitFor(
      async () => {
        const items = await scanAll(client, dlq);
        return items.length === 1 ? items : undefined;
      },
      { timeoutMs: 10_000, message: 'the dead-letter entry' },
    );
    expect(entry?.keys?.M?.email).toEqual({ S: 'huge@x' });
    expect(entry?.reason?.S).toMatch(/size/i);
    expect(await worker.metric('streamfleet_dead_lettered_total')).toBe(1);
    await waitFor(async () => /^\d+$/.test((await scanAll(client, tables.app))[0]?.checkpoint?.S ?? ''), {
      timeoutMs: 10_000,
      message: 'the checkpoint to move past the dead-lettered record',
    });
  });
});

async function start(tables: ReplicationTables, name: string, env: Record<string, string> = {}) {
  const worker = await WorkerProcess.start({ endpoint, tables, name, env });
  workers.add(worker);
  return worker;
}
