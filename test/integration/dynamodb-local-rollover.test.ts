/**
 * DynamoDB Local with driven shard rollovers (local/rollover/RolloverLauncher.java): streams get a real
 * lineage of closed parents and open children, read here with the real DynamoDB Streams client. Starts its own
 * two servers (one with rollovers, one plain) instead of the shared one from global setup.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoDbLocal, rolloverSupport, startDynamoDbLocal } from '../../local/dynamodb-local.js';

const ROLLOVER_MS = 1500;

function clientConfig(endpoint: string): DynamoDBClientConfig {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
}

async function createStreamTable(db: DynamoDBClient, tableName: string): Promise<string> {
  const created = await db.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  const arn = created.TableDescription?.LatestStreamArn;
  if (!arn) throw new Error(`${tableName} has no stream`);
  return arn;
}

async function listShards(streams: DynamoDBStreamsClient, streamArn: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let exclusiveStartShardId: string | undefined;
  do {
    const page = await streams.send(
      new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
    );
    shards.push(...(page.StreamDescription?.Shards ?? []));
    exclusiveStartShardId = page.StreamDescription?.LastEvaluatedShardId;
  } while (exclusiveStartShardId);
  return shards;
}

/**
 * Reads a shard from TRIM_HORIZON. A closed shard is read until GetRecords returns no NextShardIterator (its
 * end); an open one until a batch comes back empty (caught up).
 */
async function readShard(
  streams: DynamoDBStreamsClient,
  streamArn: string,
  shard: Shard,
): Promise<_Record[]> {
  const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
  const { ShardIterator } = await streams.send(
    new GetShardIteratorCommand({
      StreamArn: streamArn,
      ShardId: shard.ShardId,
      ShardIteratorType: 'TRIM_HORIZON',
    }),
  );
  const records: _Record[] = [];
  let iterator = ShardIterator;
  for (let calls = 0; iterator; calls++) {
    if (calls > 50) throw new Error(`${shard.ShardId} did not reach its end in 50 GetRecords calls`);
    const batch = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    records.push(...(batch.Records ?? []));
    if (!closed && (batch.Records ?? []).length === 0) break;
    iterator = batch.NextShardIterator;
  }
  return records;
}

function sequenceNumber(record: _Record): bigint {
  const value = record.dynamodb?.SequenceNumber;
  if (value === undefined) throw new Error('record without a SequenceNumber');
  return BigInt(value);
}

/** Orders the shards parent first; fails unless they form exactly one chain. */
function lineage(shards: Shard[]): Shard[] {
  const ids = new Set(shards.map((shard) => shard.ShardId));
  const roots = shards.filter((shard) => !shard.ParentShardId || !ids.has(shard.ParentShardId));
  expect(roots).toHaveLength(1);
  const chain: Shard[] = [];
  let current = roots[0];
  while (current) {
    chain.push(current);
    const parentId: string | undefined = current.ShardId;
    const children = shards.filter((shard) => shard.ParentShardId === parentId);
    expect(children.length).toBeLessThanOrEqual(1);
    current = children[0];
  }
  expect(chain).toHaveLength(shards.length);
  return chain;
}

describe('DynamoDB Local shard lineage', () => {
  let rolling: DynamoDbLocal | undefined;
  let plain: DynamoDbLocal | undefined;

  beforeAll(async () => {
    const started = await Promise.allSettled([
      startDynamoDbLocal({ rolloverIntervalMs: ROLLOVER_MS }),
      startDynamoDbLocal(),
    ]);
    rolling = started[0].status === 'fulfilled' ? started[0].value : undefined;
    plain = started[1].status === 'fulfilled' ? started[1].value : undefined;
    for (const result of started) if (result.status === 'rejected') throw result.reason;
  });

  afterAll(async () => {
    await Promise.all([rolling?.stop(), plain?.stop()]);
  });

  it('reports rollover support on this machine', () => {
    const support = rolloverSupport();
    expect(support).toMatchObject({ available: true, emulatorVersion: expect.stringMatching(/^\d+\.\d+/) });
  });

  it('rolls shards over into a parent/child chain that yields every record exactly once, in order', async () => {
    if (!rolling) throw new Error('no server');
    const server = rolling;
    expect(server.rolloverIntervalMs).toBe(ROLLOVER_MS);
    const db = new DynamoDBClient(clientConfig(server.endpoint));
    const streams = new DynamoDBStreamsClient(clientConfig(server.endpoint));
    try {
      const tableName = 'rollover_lineage';
      const streamArn = await createStreamTable(db, tableName);

      // Four batches, each followed by a rollover: inserts, plus an update of an item the previous batch wrote,
      // so MODIFY records cross shard boundaries too. `op` numbers every write.
      let op = 0;
      const batches = 4;
      for (let batch = 0; batch < batches; batch++) {
        for (let i = 0; i < 5; i++) {
          await db.send(
            new PutItemCommand({
              TableName: tableName,
              Item: { pk: { S: `item-${batch}-${i}` }, op: { N: String(op++) } },
            }),
          );
        }
        if (batch > 0) {
          await db.send(
            new UpdateItemCommand({
              TableName: tableName,
              Key: { pk: { S: `item-${batch - 1}-0` } },
              UpdateExpression: 'SET op = :op',
              ExpressionAttributeValues: { ':op': { N: String(op++) } },
            }),
          );
        }
        // The batch is in the open shard now; wait until a rollover has closed it. Counting shards (rather than
        // only the launcher's ROLLOVER lines) makes sure the rollover came after the batch's last write.
        const shardsAfterBatch = (await listShards(streams, streamArn)).length;
        const round = server.rollovers();
        await server.waitForRollovers(round + 1, ROLLOVER_MS * 4);
        const deadline = Date.now() + ROLLOVER_MS * 4;
        while ((await listShards(streams, streamArn)).length <= shardsAfterBatch) {
          if (Date.now() > deadline) throw new Error(`no rollover after batch ${batch}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const written = op;

      const chain = lineage(await listShards(streams, streamArn));
      expect(chain.length).toBeGreaterThanOrEqual(batches + 1);
      const open = chain.filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined);
      // A rollover may land between DescribeStream pages; at most the newest shard is open.
      expect(open.length).toBeLessThanOrEqual(1);
      if (open[0]) expect(open[0]).toBe(chain.at(-1));
      for (const [index, shard] of chain.entries()) {
        if (index === 0) continue;
        const parent = chain[index - 1];
        expect(shard.ParentShardId).toBe(parent?.ShardId);
        expect(parent?.SequenceNumberRange?.EndingSequenceNumber).toBeDefined();
        expect(BigInt(shard.SequenceNumberRange?.StartingSequenceNumber ?? '0')).toBeGreaterThan(
          BigInt(parent?.SequenceNumberRange?.EndingSequenceNumber ?? '0'),
        );
      }

      const perShard: _Record[][] = [];
      for (const shard of chain) perShard.push(await readShard(streams, streamArn, shard));
      const records = perShard.flat();

      // Every write exactly once across the lineage, and several shards actually hold records.
      const ops = records.map((record) => Number(record.dynamodb?.NewImage?.op?.N));
      expect(ops).toEqual(Array.from({ length: written }, (_, i) => i));
      expect(perShard.filter((shardRecords) => shardRecords.length > 0).length).toBeGreaterThanOrEqual(
        batches,
      );
      expect(records.filter((record) => record.eventName === 'MODIFY')).toHaveLength(batches - 1);
      for (const record of records.filter((r) => r.eventName === 'MODIFY')) {
        expect(record.dynamodb?.OldImage?.op?.N).toBeDefined();
      }

      // Sequence numbers increase along the lineage and stay inside each shard's range.
      for (let i = 1; i < records.length; i++) {
        const previous = records[i - 1];
        const current = records[i];
        if (previous && current) expect(sequenceNumber(current)).toBeGreaterThan(sequenceNumber(previous));
      }
      for (const [index, shard] of chain.entries()) {
        const start = BigInt(shard.SequenceNumberRange?.StartingSequenceNumber ?? '0');
        const end = shard.SequenceNumberRange?.EndingSequenceNumber;
        for (const record of perShard[index] ?? []) {
          expect(sequenceNumber(record)).toBeGreaterThanOrEqual(start);
          if (end !== undefined) expect(sequenceNumber(record)).toBeLessThanOrEqual(BigInt(end));
        }
      }
    } finally {
      db.destroy();
      streams.destroy();
    }
  });

  it('keeps one shard for ever on a plain start', async () => {
    if (!plain) throw new Error('no server');
    const server = plain;
    expect(server.rolloverIntervalMs).toBeUndefined();
    const db = new DynamoDBClient(clientConfig(server.endpoint));
    const streams = new DynamoDBStreamsClient(clientConfig(server.endpoint));
    try {
      const tableName = 'plain_lineage';
      const streamArn = await createStreamTable(db, tableName);
      for (let i = 0; i < 3; i++) {
        await db.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { pk: { S: `item-${i}` }, op: { N: String(i) } },
          }),
        );
        // Together longer than a rollover period of the other server: still nothing rolls here.
        await new Promise((r) => setTimeout(r, ROLLOVER_MS * 0.4));
      }
      const shards = await listShards(streams, streamArn);
      expect(shards).toHaveLength(1);
      const [shard] = shards;
      expect(shard?.ParentShardId).toBeUndefined();
      expect(shard?.SequenceNumberRange?.EndingSequenceNumber).toBeUndefined();
      if (!shard) throw new Error('no shard');
      const records = await readShard(streams, streamArn, shard);
      expect(records.map((record) => Number(record.dynamodb?.NewImage?.op?.N))).toEqual([0, 1, 2]);
      expect(server.rollovers()).toBe(0);
      await expect(server.waitForRollovers(1, 100)).rejects.toThrow(/without rollovers/);
    } finally {
      db.destroy();
      streams.destroy();
    }
  });
});
