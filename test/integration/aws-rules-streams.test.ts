/**
 * The strict layer's DynamoDB Streams limits, through the real SDK v3 clients, in front of the shared
 * DynamoDB Local and in front of a scripted stream. The layer's clock is a manual one that only the
 * tests move, so "within a second" never depends on how fast this machine is.
 */
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  LimitExceededException,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AwsRulesControlError,
  AwsRulesProxy,
  fetchAwsRules,
  fetchAwsRulesStats,
  resetAwsRulesStats,
  setAwsRules,
} from '../../local/aws-rules/index.js';
import { emulatorEndpoint } from '../support/aws-rules.js';
import { startScriptedStream } from '../support/scripted-stream.js';

const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

const clock = {
  time: 0,
  now(): number {
    return this.time;
  },
};

let layer: AwsRulesProxy;
let ddb: DynamoDBClient;
let streams: DynamoDBStreamsClient;

beforeAll(async () => {
  layer = await AwsRulesProxy.start({ upstream: emulatorEndpoint(), clock });
  // One attempt: the SDK retries LimitExceededException itself and would hide the refusals.
  ddb = new DynamoDBClient({ endpoint: layer.endpoint, region, credentials, maxAttempts: 1 });
  streams = new DynamoDBStreamsClient({ endpoint: layer.endpoint, region, credentials, maxAttempts: 1 });
});

beforeEach(() => {
  clock.time += 60_000; // every window and reader of the test before is long gone
});

afterAll(async () => {
  ddb?.destroy();
  streams?.destroy();
  await layer?.close();
});

/** A table with a stream and a few items; its stream ARN and (only) shard. */
async function streamWithRecords(): Promise<{ table: string; streamArn: string; shardId: string }> {
  const table = `rules-stream-${randomUUID().slice(0, 8)}`;
  const created = await ddb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  for (const id of ['a', 'b', 'c'])
    await ddb.send(new PutItemCommand({ TableName: table, Item: { id: { S: id } } }));
  const streamArn = created.TableDescription?.LatestStreamArn ?? '';
  const described = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const shardId = described.StreamDescription?.Shards?.[0]?.ShardId ?? '';
  return { table, streamArn, shardId };
}

async function iterator(client: DynamoDBStreamsClient, streamArn: string, shardId: string): Promise<string> {
  const answer = await client.send(
    new GetShardIteratorCommand({
      StreamArn: streamArn,
      ShardId: shardId,
      ShardIteratorType: 'TRIM_HORIZON',
    }),
  );
  return answer.ShardIterator ?? '';
}

/** One reader: follows its chain; answers 'ok' or the refusal's name and message. */
function reader(client: DynamoDBStreamsClient, first: string) {
  let current = first;
  return async (): Promise<{ outcome: 'ok'; records: number } | { outcome: string; message: string }> => {
    try {
      const answer = await client.send(new GetRecordsCommand({ ShardIterator: current }));
      current = answer.NextShardIterator ?? current;
      return { outcome: 'ok', records: answer.Records?.length ?? 0 };
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      return { outcome: error.name, message: error.message };
    }
  };
}

describe('DynamoDB Streams limits through the strict layer', () => {
  it('refuses a 6th GetRecords on a shard within a second with LimitExceededException', async () => {
    const { streamArn, shardId } = await streamWithRecords();
    const read = reader(streams, await iterator(streams, streamArn, shardId));
    const outcomes = [];
    for (let i = 0; i < 6; i += 1) outcomes.push(await read());
    expect(outcomes.slice(0, 5).map((o) => o.outcome)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(outcomes[0]).toEqual({ outcome: 'ok', records: 3 });
    expect(outcomes[5]).toEqual({
      outcome: 'LimitExceededException',
      message: `Rate exceeded for shard ${shardId} in stream ${streamArn}`,
    });

    clock.time += 1_000;
    expect((await read()).outcome).toBe('ok');
    const stats = await fetchAwsRulesStats(layer.endpoint);
    expect(stats.refused.getRecordsRate.byShard[shardId]).toBe(1);
    expect(stats.streams.getRecordsByShard[shardId]).toBe(6);
  });

  it('refuses the third of three readers on one shard, and not the two established ones', async () => {
    const { streamArn, shardId } = await streamWithRecords();
    const first = reader(streams, await iterator(streams, streamArn, shardId));
    const second = reader(streams, await iterator(streams, streamArn, shardId));
    const third = reader(streams, await iterator(streams, streamArn, shardId));

    const refused = await third();
    expect(refused.outcome).toBe('LimitExceededException');
    expect('message' in refused && refused.message).toMatch(/^Too many readers for shard /);
    expect((await first()).outcome).toBe('ok');
    expect((await second()).outcome).toBe('ok');

    clock.time += 1_000; // both idle for a second: no longer readers
    expect((await third()).outcome).toBe('ok');
    expect((await first()).outcome).toBe('ok');
    expect((await second()).outcome).toBe('LimitExceededException');

    const stats = await fetchAwsRulesStats(layer.endpoint);
    expect(stats.refused.readersPerShard.byShard[shardId]).toBe(2);
    expect(stats.refused.getRecordsRate.byShard[shardId]).toBeUndefined();
  });

  it('refuses DescribeStream over 10 a second on a stream', async () => {
    const { streamArn } = await streamWithRecords(); // its own DescribeStream counts too
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      outcomes.push(
        await streams.send(new DescribeStreamCommand({ StreamArn: streamArn })).then(
          () => 'ok',
          (error: unknown) => (error instanceof LimitExceededException ? error.name : String(error)),
        ),
      );
    }
    expect(outcomes).toEqual([...Array(9).fill('ok'), 'LimitExceededException']);
    const stats = await fetchAwsRulesStats(layer.endpoint);
    expect(stats.refused.describeStreamRate.byStream[streamArn]).toBe(1);
  });

  it('lets every read through with the stream rules switched off, and counts what it saw', async () => {
    const { table, streamArn, shardId } = await streamWithRecords();
    await resetAwsRulesStats(layer.endpoint);
    await setAwsRules(layer.endpoint, {
      getRecordsRate: false,
      readersPerShard: false,
      describeStreamRate: false,
    });
    try {
      const readers = [];
      for (let r = 0; r < 3; r += 1)
        readers.push(reader(streams, await iterator(streams, streamArn, shardId)));
      for (let i = 0; i < 4; i += 1) {
        for (const read of readers) expect((await read()).outcome).toBe('ok');
      }
      for (let i = 0; i < 12; i += 1) await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
      const stats = await fetchAwsRulesStats(layer.endpoint);
      expect(stats.refused.total).toBe(0);
      expect(stats.requests.byOperation).toEqual({ GetShardIterator: 3, GetRecords: 12, DescribeStream: 12 });
      expect(stats.requests.byTable).toEqual({ [table]: 27 });
    } finally {
      await setAwsRules(layer.endpoint, {
        getRecordsRate: true,
        readersPerShard: true,
        describeStreamRate: true,
      });
    }
    expect(await fetchAwsRules(layer.endpoint)).toEqual({
      transactionConflicts: true,
      getRecordsRate: true,
      readersPerShard: true,
      describeStreamRate: true,
      tableUpdates: true,
      iam: true,
    });
  });

  it('says what is wrong with a bad switch over HTTP, and resets its counters', async () => {
    await expect(setAwsRules(layer.endpoint, { readers: false } as never)).rejects.toThrow(
      AwsRulesControlError,
    );
    await expect(setAwsRules(layer.endpoint, { readers: false } as never)).rejects.toThrow(
      /Unknown rule "readers"/,
    );
    await resetAwsRulesStats(layer.endpoint);
    const stats = await fetchAwsRulesStats(layer.endpoint);
    expect(stats.requests.total).toBe(0);
    expect(stats.refused.total).toBe(0);
  });

  it('lets an iterator it cannot tie to a shard through, counted as unattributed', async () => {
    await resetAwsRulesStats(layer.endpoint);
    const answer = await reader(streams, 'not-an-iterator-of-any-kind-at-all-but-long-enough')();
    expect(answer.outcome).toBe('ValidationException'); // DynamoDB Local's own answer
    expect((await fetchAwsRulesStats(layer.endpoint)).streams.unattributedGetRecords).toBe(1);
  });
});

describe('a scripted stream behind the strict layer', () => {
  it('routes Streams requests to streamsUpstream and limits its shards one by one', async () => {
    const stream = await startScriptedStream({
      ddbEndpoint: emulatorEndpoint(),
      tableName: `rules-scripted-${randomUUID().slice(0, 8)}`,
      keySchema: { partitionKey: { name: 'id', type: 'S' } },
      shardCount: 2,
    });
    const scriptedLayer = await AwsRulesProxy.start({
      upstream: emulatorEndpoint(),
      streamsUpstream: stream.endpoint,
      clock,
    });
    const client = new DynamoDBStreamsClient({
      endpoint: scriptedLayer.endpoint,
      region,
      credentials,
      maxAttempts: 1,
    });
    try {
      for (let i = 0; i < 20; i += 1) await stream.put({ id: `user-${i}` });
      const [one, two] = stream.openShards();
      if (!one || !two) throw new Error('expected two shards');

      const described = await client.send(new DescribeStreamCommand({ StreamArn: stream.streamArn }));
      expect(described.StreamDescription?.Shards?.map((shard) => shard.ShardId)).toEqual([
        one.shardId,
        two.shardId,
      ]);

      const readOne = reader(client, await iterator(client, stream.streamArn, one.shardId));
      const readTwo = reader(client, await iterator(client, stream.streamArn, two.shardId));
      const firstOne = await readOne();
      expect(firstOne).toEqual({ outcome: 'ok', records: stream.records(one.shardId).length });
      for (let i = 0; i < 4; i += 1) expect((await readOne()).outcome).toBe('ok');
      expect((await readOne()).outcome).toBe('LimitExceededException');
      expect((await readTwo()).outcome).toBe('ok');

      const stats = scriptedLayer.stats();
      expect(stats.refused.getRecordsRate.byShard).toEqual({ [one.shardId]: 1 });
      expect(stats.streams).toMatchObject({
        getRecordsByShard: { [one.shardId]: 5, [two.shardId]: 1 },
        unattributedGetRecords: 0,
      });
      expect(stream.calls()).toMatchObject({ DescribeStream: 1, GetShardIterator: 2, GetRecords: 6 });
    } finally {
      client.destroy();
      await scriptedLayer.close();
      await stream.stop();
    }
  });
});
