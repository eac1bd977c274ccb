/**
 * The worker's two write paths against DynamoDB Local, driven by replication's guarded writes: the transactional
 * committer (fenced, with the checkpoint) and the individual writer. Stale writes skipped, fencing, refusals
 * laid at their record, the checkpoint moved only with what was committed.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoDBLeaseRefresher } from '../../consumer/leases/dynamodb-lease-refresher.js';
import { LeaseItemGate } from '../../consumer/leases/lease-item-gate.js';
import { silentEvents } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { IndividualWriter } from '../../consumer/processor/individual-writer.js';
import { TransactionCommitter } from '../../consumer/processor/transaction-committer.js';
import type { BatchPosition, WriterOptions } from '../../consumer/processor/write-context.js';
import { systemClock } from '../../core/vocabulary/clock.js';
import { replicationTransactions } from '../support/batch-runner.js';
import { createEmailTable, localClient, uniqueName } from '../support/fleet.js';

const client = localClient(inject('ddbEndpoint'));
const SHARD = 'shardId-0001';

function change(seq: string, email: string, v?: string, kind: 'INSERT' | 'REMOVE' = 'INSERT'): StreamRecord {
  return {
    eventName: kind,
    dynamodb: {
      SequenceNumber: seq,
      Keys: { email: { S: email } },
      NewImage: kind === 'REMOVE' ? undefined : { email: { S: email }, v: { S: v ?? seq } },
    },
  };
}

async function setup(mode: 'fenced' | 'conditional') {
  const prefix = uniqueName('w');
  const target = `${prefix}-replica`;
  const leaseTable = `${prefix}-app`;
  await createEmailTable(client, target);
  const refresher = new DynamoDBLeaseRefresher(client, leaseTable, systemClock);
  await refresher.createLeaseTableIfNotExists();
  await refresher.createLeaseIfNotExists({
    leaseKey: SHARD,
    checkpoint: 'TRIM_HORIZON',
    parentShardIds: [],
    childShardIds: [],
  });
  const lease = await refresher.getLease(SHARD);
  if (!lease) throw new Error('no lease');
  await refresher.takeLease(lease, 'me');
  const options: WriterOptions = {
    client,
    leaseTableName: leaseTable,
    instanceName: 'me',
    gate: new LeaseItemGate(systemClock),
    clock: systemClock,
    metrics: new WorkerMetrics(),
    events: silentEvents(),
  };
  const committer = new TransactionCommitter(options);
  const individual = new IndividualWriter(options);
  const write = (records: StreamRecord[], isHeld = () => true, checkpoint?: BatchPosition) => {
    const last = records.at(-1)?.dynamodb?.SequenceNumber ?? '';
    const transactions = replicationTransactions(records, target, 'me', SHARD);
    const context = { shardId: SHARD, isHeld, signal: new AbortController().signal };
    if (mode === 'conditional') return individual.write(transactions.flat(), 4, context);
    return committer.commit(transactions, { ...context, checkpoint: checkpoint ?? { sequenceNumber: last } });
  };
  const get = async (email: string) =>
    (
      await client.send(
        new GetItemCommand({ TableName: target, Key: { email: { S: email } }, ConsistentRead: true }),
      )
    ).Item;
  return { write, get, refresher };
}

describe.each(['fenced', 'conditional'] as const)('%s writer', (mode) => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup(mode);
  });

  it('applies new changes and skips older or equal ones (replays) without touching the newer item', async () => {
    expect(await env.write([change('10', 'x', 'ten')])).toEqual({
      status: 'written',
      applied: 1,
      skipped: 0,
      checkpointed: mode === 'fenced',
    });
    expect(await env.write([change('9', 'x', 'nine')])).toMatchObject({ applied: 0, skipped: 1 });
    expect(await env.write([change('10', 'x', 'ten-again')])).toMatchObject({ applied: 0, skipped: 1 });
    expect(await env.write([change('5', 'x', '', 'REMOVE')])).toMatchObject({ applied: 0, skipped: 1 });
    expect((await env.get('x'))?.v).toEqual({ S: 'ten' });
    // "100" is newer than "99" although shorter strings sort first.
    expect(await env.write([change('99', 'y', 'old')])).toMatchObject({ applied: 1 });
    expect(await env.write([change('100', 'y', 'new')])).toMatchObject({ applied: 1 });
    expect((await env.get('y'))?.v).toEqual({ S: 'new' });
    expect(await env.write([change('101', 'y', '', 'REMOVE')])).toMatchObject({ applied: 1 });
    expect(await env.get('y')).toBeUndefined();
  });

  it('writes a large batch of different items in parallel, all of them', async () => {
    const records = Array.from({ length: 450 }, (_, i) => change(String(1_000 + i), `bulk${i}@x`));
    expect(await env.write(records)).toEqual({
      status: 'written',
      applied: 450,
      skipped: 0,
      checkpointed: mode === 'fenced',
    });
    expect(await env.get('bulk449@x')).toBeDefined();
  });

  it('lays a write the target refuses (over 400 KB with our attributes) at its record', async () => {
    const huge = change('2001', 'huge@x', 'x'.repeat(409_560));
    const result = await env.write([change('2000', 'ok1@x'), huge]);
    expect(result.status).toBe('refused');
    if (result.status !== 'refused') return;
    // One by one, the refused write is known; a transaction refused as a whole is halved between records until
    // it stands alone, the halves that go through committed with their checkpoints.
    expect(result.refused?.write.sequenceNumber).toBe('2001');
    expect(result.reason).toMatch(/size/i);
    expect(await env.get('huge@x')).toBeUndefined();
    expect(await env.get('ok1@x')).toBeDefined();
    if (mode === 'fenced') expect(result.committedThrough).toBe('2000');
  });

  it('writes nothing once the worker knows it lost the lease', async () => {
    expect(await env.write([change('3000', 'late@x')], () => false)).toEqual({ status: 'lease-lost' });
    expect(await env.get('late@x')).toBeUndefined();
  });
});

describe('fencing', () => {
  it('a worker that lost its lease (and has not noticed) cannot write: not even to re-create a deleted item', async () => {
    const env = await setup('fenced');
    expect(await env.write([change('10', 'z', 'v1')])).toMatchObject({ applied: 1 });
    expect(await env.write([change('12', 'z', '', 'REMOVE')])).toMatchObject({ applied: 1 });
    // Another worker takes the lease; this one still believes it holds it (isHeld() is true).
    await env.refresher.assignLease(SHARD, 'me', 'someone-else');
    expect(await env.write([change('11', 'z', 'stale-v2')])).toEqual({ status: 'lease-lost' });
    expect(await env.get('z')).toBeUndefined();
  });
});

describe('checkpoint inside the fenced transactions', () => {
  it('moves the checkpoint with the writes of the batch, with the progress beside it', async () => {
    const env = await setup('fenced');
    const records = Array.from({ length: 250 }, (_, i) => change(String(5_000 + i), `cp${i % 180}@x`));
    const result = await env.write(records, () => true, {
      sequenceNumber: '5249',
      progress: { lastRecordCreatedAt: 1_700_000_000_000 },
    });
    expect(result).toMatchObject({ status: 'written', applied: 180, checkpointed: true });
    const lease = await env.refresher.getLease(SHARD);
    expect(lease?.checkpoint).toBe('5249');
    expect(lease?.lastRecordCreatedAt).toBe(1_700_000_000_000);
    expect(lease?.ownerSwitchesSinceCheckpoint).toBe(0);
  });

  it('moves the checkpoint only up to the record before a refused write; nothing after it is committed', async () => {
    const env = await setup('fenced');
    const huge = change('6000', 'huge2@x', 'x'.repeat(409_560));
    const result = await env.write([change('5999', 'a@x'), huge, change('6001', 'b@x')], () => true, {
      sequenceNumber: '6001',
    });
    expect(result).toMatchObject({
      status: 'refused',
      committedThrough: '5999',
      refused: { write: { sequenceNumber: '6000' } },
    });
    expect((await env.refresher.getLease(SHARD))?.checkpoint).toBe('5999');
    expect(await env.get('a@x')).toBeDefined();
    expect(await env.get('b@x')).toBeUndefined();
  });

  it('commits transactions before a refused one with their checkpoints, and says how far it got', async () => {
    const env = await setup('fenced');
    const first = Array.from({ length: 120 }, (_, i) => change(String(8_000 + i), `early${i}@x`));
    const huge = change('8200', 'huge3@x', 'x'.repeat(409_560));
    const result = await env.write([...first, huge], () => true, { sequenceNumber: '8200' });
    expect(result).toMatchObject({ status: 'refused', committedThrough: '8119' });
    expect((await env.refresher.getLease(SHARD))?.checkpoint).toBe('8119');
    expect(await env.get('early119@x')).toBeDefined();
    expect(await env.get('huge3@x')).toBeUndefined();
  });

  it('a zombie (lease taken meanwhile) neither writes nor moves the checkpoint', async () => {
    const env = await setup('fenced');
    await env.refresher.checkpoint(SHARD, 'me', '7000');
    await env.refresher.assignLease(SHARD, 'me', 'new-owner');
    const result = await env.write([change('7001', 'zombie@x')], () => true, { sequenceNumber: '7001' });
    expect(result).toEqual({ status: 'lease-lost' });
    expect(await env.get('zombie@x')).toBeUndefined();
    expect((await env.refresher.getLease(SHARD))?.checkpoint).toBe('7000');
  });
});
