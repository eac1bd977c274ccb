/**
 * The scripted DynamoDB Streams endpoint (a test fixture), driven by the real AWS SDK client, with
 * writes landing in DynamoDB Local. Each test has its own source table.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  ListStreamsCommand,
  type Shard,
  type ShardIteratorType,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  type AppendedRecord,
  compareSequenceNumbers,
  type ScriptedStream,
  startScriptedStream,
} from '../support/scripted-stream.js';

const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const TIMEOUT = 15_000;

const streams: ScriptedStream[] = [];
const clients: Array<{ destroy(): void }> = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await Promise.all(streams.splice(0).map((stream) => stream.stop()));
});

async function startStream(shardCount = 1): Promise<ScriptedStream> {
  const stream = await startScriptedStream({
    ddbEndpoint: inject('ddbEndpoint'),
    tableName: `users-scripted-${randomUUID().slice(0, 8)}`,
    keySchema: { partitionKey: { name: 'id', type: 'S' } },
    shardCount,
  });
  streams.push(stream);
  return stream;
}

function streamsClient(stream: ScriptedStream, maxAttempts = 1): DynamoDBStreamsClient {
  const client = new DynamoDBStreamsClient({ endpoint: stream.endpoint, region, credentials, maxAttempts });
  clients.push(client);
  return client;
}

async function listShards(
  client: DynamoDBStreamsClient,
  streamArn: string,
  limit?: number,
): Promise<{ shards: Shard[]; pages: number }> {
  const shards: Shard[] = [];
  let pages = 0;
  let exclusiveStartShardId: string | undefined;
  do {
    const { StreamDescription } = await client.send(
      new DescribeStreamCommand({
        StreamArn: streamArn,
        Limit: limit,
        ExclusiveStartShardId: exclusiveStartShardId,
      }),
    );
    pages += 1;
    shards.push(...(StreamDescription?.Shards ?? []));
    exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
  } while (exclusiveStartShardId);
  return { shards, pages };
}

async function iterator(
  client: DynamoDBStreamsClient,
  stream: ScriptedStream,
  shardId: string,
  type: ShardIteratorType = 'TRIM_HORIZON',
  sequenceNumber?: string,
): Promise<string> {
  const { ShardIterator } = await client.send(
    new GetShardIteratorCommand({
      StreamArn: stream.streamArn,
      ShardId: shardId,
      ShardIteratorType: type,
      SequenceNumber: sequenceNumber,
    }),
  );
  if (!ShardIterator) throw new Error('GetShardIterator answered no iterator');
  return ShardIterator;
}

/** Reads until the shard ends (no NextShardIterator) or an empty batch on an open shard. */
async function readShard(
  client: DynamoDBStreamsClient,
  shardIterator: string,
  limit: number,
): Promise<{ records: StreamRecord[]; ended: boolean }> {
  const records: StreamRecord[] = [];
  let next: string | undefined = shardIterator;
  while (next) {
    const answer: GetRecordsCommandOutput = await client.send(
      new GetRecordsCommand({ ShardIterator: next, Limit: limit }),
    );
    records.push(...(answer.Records ?? []));
    next = answer.NextShardIterator;
    if ((answer.Records ?? []).length === 0) break;
  }
  return { records, ended: next === undefined };
}

async function errorOf(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('Expected the call to fail');
}

function sequenceNumbers(records: StreamRecord[]): string[] {
  return records.map((record) => record.dynamodb?.SequenceNumber ?? '');
}

function idsOf(records: StreamRecord[]): unknown[] {
  return records.map((record) => unmarshall(record.dynamodb?.Keys ?? {}).id);
}

function byId(a: Record<string, unknown>, b: Record<string, unknown>): number {
  return String(a.id).localeCompare(String(b.id));
}

describe('scripted DynamoDB Streams endpoint', () => {
  it(
    'pages DescribeStream over 250 shards, listing every shard once',
    async () => {
      const stream = await startStream(250);
      const client = streamsClient(stream);

      const paged = await listShards(client, stream.streamArn, 100);
      expect(paged.pages).toBe(3);
      const ids = paged.shards.map((shard) => shard.ShardId);
      expect(new Set(ids).size).toBe(250);
      expect(ids).toEqual(stream.shards().map((shard) => shard.shardId));
      expect((await listShards(client, stream.streamArn, 7)).shards).toHaveLength(250);

      const { StreamDescription } = await client.send(
        new DescribeStreamCommand({ StreamArn: stream.streamArn }),
      );
      expect(StreamDescription).toMatchObject({
        StreamStatus: 'ENABLED',
        StreamViewType: 'NEW_AND_OLD_IMAGES',
        TableName: stream.tableName,
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      });
      expect(StreamDescription?.Shards).toHaveLength(100);

      const tooMany = await errorOf(
        client.send(new DescribeStreamCommand({ StreamArn: stream.streamArn, Limit: 101 })),
      );
      expect(tooMany.name).toBe('ValidationException');
      expect(tooMany.$metadata?.httpStatusCode).toBe(400);
      const unknownArn = `${stream.streamArn.slice(0, -3)}999`;
      expect((await errorOf(client.send(new DescribeStreamCommand({ StreamArn: unknownArn })))).name).toBe(
        'ResourceNotFoundException',
      );

      const listed = await client.send(new ListStreamsCommand({ TableName: stream.tableName }));
      expect(listed.Streams).toEqual([
        { StreamArn: stream.streamArn, TableName: stream.tableName, StreamLabel: stream.streamLabel },
      ]);
      expect((await client.send(new ListStreamsCommand({ TableName: 'other' }))).Streams).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'serves writes in order per shard and lands them as real items in the source table',
    async () => {
      const stream = await startStream(4);
      const client = streamsClient(stream);
      const appended: AppendedRecord[] = [];
      const keep = (record: AppendedRecord | undefined): void => {
        if (record) appended.push(record);
      };
      for (let i = 0; i < 30; i += 1) keep(await stream.put({ id: `u${i}`, name: `user ${i}`, score: i }));
      for (let i = 0; i < 5; i += 1) keep(await stream.update({ id: `u${i}`, score: 100 + i }));
      for (let i = 25; i < 28; i += 1) keep(await stream.remove({ id: `u${i}` }));
      expect(await stream.put({ id: 'u10', name: 'user 10', score: 10 })).toBeUndefined(); // changes nothing
      expect(await stream.remove({ id: 'missing' })).toBeUndefined();
      expect(appended).toHaveLength(38);

      const ddb = new DynamoDBClient({ endpoint: inject('ddbEndpoint'), region, credentials });
      clients.push(ddb);
      const { Items } = await ddb.send(new ScanCommand({ TableName: stream.tableName }));
      const table = (Items ?? []).map((item) => unmarshall(item)).sort(byId);
      expect(table).toHaveLength(27);
      expect(table).toEqual(stream.items().sort(byId));
      expect(table.find((item) => item.id === 'u3')).toEqual({ id: 'u3', name: 'user 3', score: 103 });

      let total = 0;
      for (const shard of stream.openShards()) {
        const { records, ended } = await readShard(client, await iterator(client, stream, shard.shardId), 7);
        expect(ended).toBe(false); // open shard: an empty batch still carries a NextShardIterator
        const expected = appended.filter((record) => record.shardId === shard.shardId);
        expect(records.map((record) => record.eventID)).toEqual(expected.map((record) => record.eventID));
        const numbers = sequenceNumbers(records).map(BigInt);
        expect(numbers).toEqual([...numbers].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        total += records.length;
      }
      expect(total).toBe(appended.length);

      const update = appended.find((record) => record.eventName === 'MODIFY');
      const removal = appended.find((record) => record.eventName === 'REMOVE');
      if (!update || !removal) throw new Error('expected a MODIFY and a REMOVE');
      const [modify] = (
        await readShard(
          client,
          await iterator(client, stream, update.shardId, 'AT_SEQUENCE_NUMBER', update.sequenceNumber),
          1,
        )
      ).records;
      expect(modify).toMatchObject({
        eventName: 'MODIFY',
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: region,
      });
      expect(modify?.dynamodb?.ApproximateCreationDateTime).toBeInstanceOf(Date);
      expect(modify?.dynamodb?.SizeBytes).toBeGreaterThan(0);
      expect(modify?.dynamodb?.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
      expect(unmarshall(modify?.dynamodb?.OldImage ?? {})).toEqual({ id: 'u0', name: 'user 0', score: 0 });
      expect(unmarshall(modify?.dynamodb?.NewImage ?? {})).toEqual({ id: 'u0', name: 'user 0', score: 100 });
      const [remove] = (
        await readShard(
          client,
          await iterator(client, stream, removal.shardId, 'AT_SEQUENCE_NUMBER', removal.sequenceNumber),
          1,
        )
      ).records;
      expect(remove?.dynamodb?.NewImage).toBeUndefined();
      expect(unmarshall(remove?.dynamodb?.Keys ?? {})).toEqual({ id: 'u25' });
    },
    TIMEOUT,
  );

  it(
    'positions iterators AT, AFTER a sequence number and at LATEST',
    async () => {
      const stream = await startStream(1);
      const client = streamsClient(stream);
      const written: AppendedRecord[] = [];
      for (const id of ['a', 'b', 'c']) {
        const record = await stream.put({ id });
        if (record) written.push(record);
      }
      const [, second] = written;
      if (!second) throw new Error('expected three records');
      const at = await readShard(
        client,
        await iterator(client, stream, second.shardId, 'AT_SEQUENCE_NUMBER', second.sequenceNumber),
        10,
      );
      expect(idsOf(at.records)).toEqual(['b', 'c']);
      const after = await readShard(
        client,
        await iterator(client, stream, second.shardId, 'AFTER_SEQUENCE_NUMBER', second.sequenceNumber),
        10,
      );
      expect(idsOf(after.records)).toEqual(['c']);

      const latest = await iterator(client, stream, second.shardId, 'LATEST');
      const empty = await client.send(new GetRecordsCommand({ ShardIterator: latest }));
      expect(empty.Records).toEqual([]);
      expect(empty.NextShardIterator).toBeDefined();
      await stream.put({ id: 'd' });
      const fresh = await client.send(new GetRecordsCommand({ ShardIterator: empty.NextShardIterator }));
      expect(idsOf(fresh.Records ?? [])).toEqual(['d']);

      const bad = await errorOf(
        client.send(
          new GetShardIteratorCommand({
            StreamArn: stream.streamArn,
            ShardId: second.shardId,
            ShardIteratorType: 'AT_SEQUENCE_NUMBER',
          }),
        ),
      );
      expect(bad.name).toBe('ValidationException');
      const noShard = await errorOf(iterator(client, stream, 'shardId-00000000000000000000-00000000'));
      expect(noShard.name).toBe('ResourceNotFoundException');
      const outOfRange = await errorOf(
        client.send(new GetRecordsCommand({ ShardIterator: latest, Limit: 1001 })),
      );
      expect(outOfRange.name).toBe('ValidationException');
    },
    TIMEOUT,
  );

  it(
    'ends a closed shard without NextShardIterator and rolls over to a child with ParentShardId',
    async () => {
      const stream = await startStream(1);
      const client = streamsClient(stream);
      for (const id of ['a', 'b', 'c']) await stream.put({ id });
      const [parent] = stream.openShards();
      if (!parent) throw new Error('expected one open shard');
      const before = await iterator(client, stream, parent.shardId);

      const [child] = stream.closeShard(parent.shardId, 1);
      if (!child) throw new Error('expected a child');
      const first = await client.send(new GetRecordsCommand({ ShardIterator: before, Limit: 2 }));
      expect(idsOf(first.Records ?? [])).toEqual(['a', 'b']);
      expect(first.NextShardIterator).toBeDefined();
      const last = await client.send(
        new GetRecordsCommand({ ShardIterator: first.NextShardIterator, Limit: 2 }),
      );
      expect(idsOf(last.Records ?? [])).toEqual(['c']);
      expect(last.NextShardIterator).toBeUndefined(); // SHARD_END
      const latestOfClosed = await client.send(
        new GetRecordsCommand({ ShardIterator: await iterator(client, stream, parent.shardId, 'LATEST') }),
      );
      expect(latestOfClosed).toMatchObject({ Records: [] });
      expect(latestOfClosed.NextShardIterator).toBeUndefined();

      const { shards } = await listShards(client, stream.streamArn);
      expect(shards).toHaveLength(2);
      const [listedParent, listedChild] = shards;
      const closedParent = stream.shards()[0];
      expect(closedParent?.open).toBe(false);
      expect(listedParent?.SequenceNumberRange?.EndingSequenceNumber).toBe(
        closedParent?.endingSequenceNumber,
      );
      expect(listedParent?.SequenceNumberRange?.EndingSequenceNumber).toBeDefined();
      expect(listedChild).toEqual({
        ShardId: child.shardId,
        ParentShardId: parent.shardId,
        SequenceNumberRange: { StartingSequenceNumber: child.startingSequenceNumber },
      });
      expect(child.hashRange).toEqual(parent.hashRange);

      const moved = await stream.put({ id: 'd' });
      expect(moved?.shardId).toBe(child.shardId);
      const fromChild = await readShard(client, await iterator(client, stream, child.shardId), 100);
      expect(idsOf(fromChild.records)).toEqual(['d']);

      stream.expireShard(parent.shardId);
      expect((await listShards(client, stream.streamArn)).shards.map((shard) => shard.ShardId)).toEqual([
        child.shardId,
      ]);
      expect((await errorOf(iterator(client, stream, parent.shardId))).name).toBe(
        'ResourceNotFoundException',
      );
    },
    TIMEOUT,
  );

  it(
    'splits a shard into two children owning the halves of its range; later keys go to their child',
    async () => {
      const stream = await startStream(1);
      const client = streamsClient(stream);
      const [parent] = stream.openShards();
      if (!parent) throw new Error('expected one open shard');
      const children = stream.closeShard(parent.shardId, 2);
      const [lower, upper] = children;
      if (!lower || !upper) throw new Error('expected two children');
      expect(lower.hashRange.start).toBe(parent.hashRange.start);
      expect(lower.hashRange.end + 1n).toBe(upper.hashRange.start);
      expect(upper.hashRange.end).toBe(parent.hashRange.end);
      expect(children.map((shard) => shard.parentShardId)).toEqual([parent.shardId, parent.shardId]);

      const landed = new Map<string, string[]>();
      for (let i = 0; i < 24; i += 1) {
        const record = await stream.put({ id: `k${i}` });
        const owner = stream.hashOf({ id: `k${i}` }) <= lower.hashRange.end ? lower : upper;
        expect(record?.shardId).toBe(owner.shardId);
        landed.set(owner.shardId, [...(landed.get(owner.shardId) ?? []), `k${i}`]);
      }
      expect(landed.get(lower.shardId)?.length).toBeGreaterThan(0);
      expect(landed.get(upper.shardId)?.length).toBeGreaterThan(0);

      const fromUpper = await readShard(client, await iterator(client, stream, upper.shardId), 100);
      expect(idsOf(fromUpper.records)).toEqual(landed.get(upper.shardId));
      const listed = (await listShards(client, stream.streamArn)).shards;
      expect(
        listed.filter((shard) => shard.ParentShardId === parent.shardId).map((shard) => shard.ShardId),
      ).toEqual([lower.shardId, upper.shardId]);
    },
    TIMEOUT,
  );

  it(
    'answers TrimmedDataAccessException for positions behind the trim horizon',
    async () => {
      const stream = await startStream(1);
      const client = streamsClient(stream);
      const written: AppendedRecord[] = [];
      for (const id of ['a', 'b', 'c', 'd', 'e']) {
        const record = await stream.put({ id });
        if (record) written.push(record);
      }
      const [, second, third] = written;
      if (!second || !third) throw new Error('expected five records');
      const old = await iterator(client, stream, third.shardId);

      stream.trim(third.shardId, third.sequenceNumber);
      const staleRead = await errorOf(client.send(new GetRecordsCommand({ ShardIterator: old })));
      expect(staleRead.name).toBe('TrimmedDataAccessException');
      expect(staleRead.$metadata?.httpStatusCode).toBe(400);
      const staleAt = await errorOf(
        iterator(client, stream, third.shardId, 'AT_SEQUENCE_NUMBER', second.sequenceNumber),
      );
      expect(staleAt.name).toBe('TrimmedDataAccessException');

      const horizon = await readShard(client, await iterator(client, stream, third.shardId), 100);
      expect(idsOf(horizon.records)).toEqual(['d', 'e']);
      const afterTrimmed = await readShard(
        client,
        await iterator(client, stream, third.shardId, 'AFTER_SEQUENCE_NUMBER', third.sequenceNumber),
        100,
      );
      expect(idsOf(afterTrimmed.records)).toEqual(['d', 'e']);

      stream.trimStream(written.at(-1)?.sequenceNumber ?? '0');
      expect((await readShard(client, await iterator(client, stream, third.shardId), 100)).records).toEqual(
        [],
      );
    },
    TIMEOUT,
  );

  it(
    'throttles with LimitExceededException for a number of calls or a span of time',
    async () => {
      const stream = await startStream(1);
      const client = streamsClient(stream);
      stream.throttle({ calls: 2 });
      for (let i = 0; i < 2; i += 1) {
        const error = await errorOf(client.send(new DescribeStreamCommand({ StreamArn: stream.streamArn })));
        expect(error.name).toBe('LimitExceededException');
        expect(error.$metadata?.httpStatusCode).toBe(400);
      }
      await client.send(new DescribeStreamCommand({ StreamArn: stream.streamArn }));
      expect(stream.errors().LimitExceededException).toBe(2);

      stream.throttle({ forMs: 300 }, ['GetRecords']);
      const shardIterator = await iterator(client, stream, stream.openShards()[0]?.shardId ?? '');
      const throttled = await errorOf(client.send(new GetRecordsCommand({ ShardIterator: shardIterator })));
      expect(throttled.name).toBe('LimitExceededException');
      await new Promise((resolve) => setTimeout(resolve, 350));
      await client.send(new GetRecordsCommand({ ShardIterator: shardIterator }));
      expect(stream.calls()).toMatchObject({ DescribeStream: 3, GetShardIterator: 1, GetRecords: 2 });
    },
    TIMEOUT,
  );

  it(
    'expires every iterator issued so far',
    async () => {
      const stream = await startStream(1);
      const client = streamsClient(stream);
      await stream.put({ id: 'a' });
      const shardId = stream.openShards()[0]?.shardId ?? '';
      const first = await iterator(client, stream, shardId);
      const { NextShardIterator } = await client.send(new GetRecordsCommand({ ShardIterator: first }));

      stream.expireIterators();
      for (const stale of [first, NextShardIterator]) {
        const error = await errorOf(client.send(new GetRecordsCommand({ ShardIterator: stale })));
        expect(error.name).toBe('ExpiredIteratorException');
      }
      const renewed = await readShard(client, await iterator(client, stream, shardId), 100);
      expect(idsOf(renewed.records)).toEqual(['a']);
    },
    TIMEOUT,
  );

  it(
    'fails the next calls with a 500 InternalServerError, which the SDK retries',
    async () => {
      const stream = await startStream(1);
      stream.failNext(1);
      const error = await errorOf(streamsClient(stream).send(new ListStreamsCommand({})));
      expect(error.name).toBe('InternalServerError');
      expect(error.$metadata?.httpStatusCode).toBe(500);

      stream.failNext(2, 'InternalServerError', ['ListStreams']);
      const retried = await streamsClient(stream, 3).send(new ListStreamsCommand({}));
      expect(retried.Streams).toHaveLength(1);
      expect(stream.calls().ListStreams).toBe(4);
      expect(stream.errors().InternalServerError).toBe(3);
    },
    TIMEOUT,
  );

  it(
    'lists a closed parent before its children while the listing is inconsistent',
    async () => {
      const stream = await startStream(1);
      const client = streamsClient(stream);
      const [parent] = stream.openShards();
      if (!parent) throw new Error('expected one open shard');
      stream.closeShard(parent.shardId, 2);
      stream.inconsistentListing({ calls: 2 });

      for (let i = 0; i < 2; i += 1) {
        const { shards } = await listShards(client, stream.streamArn);
        expect(shards.map((shard) => shard.ShardId)).toEqual([parent.shardId]);
        expect(shards[0]?.SequenceNumberRange?.EndingSequenceNumber).toBeDefined();
      }
      const { shards } = await listShards(client, stream.streamArn);
      expect(shards).toHaveLength(3);
      expect(shards.filter((shard) => shard.ParentShardId === parent.shardId)).toHaveLength(2);

      stream.inconsistentListing({ forMs: 5_000 }); // children already listed once stay listed
      expect((await listShards(client, stream.streamArn)).shards).toHaveLength(3);
    },
    TIMEOUT,
  );

  it(
    'issues sequence numbers whose string order differs from their numeric order',
    async () => {
      const stream = await startStream(1);
      const first = await stream.put({ id: 'a' });
      const second = await stream.put({ id: 'b' });
      if (!first || !second) throw new Error('expected two records');
      const [child] = stream.closeShard(first.shardId, 1);
      const third = await stream.put({ id: 'c' });
      if (!third || !child) throw new Error('expected a record in the child');
      expect(third.shardId).toBe(child.shardId);

      expect(third.sequenceNumber.length).toBe(first.sequenceNumber.length + 1);
      expect(BigInt(third.sequenceNumber) > BigInt(first.sequenceNumber)).toBe(true);
      expect(third.sequenceNumber < first.sequenceNumber).toBe(true); // string order is wrong
      expect(compareSequenceNumbers(first.sequenceNumber, third.sequenceNumber)).toBe(-1);
      expect([third.sequenceNumber, first.sequenceNumber].sort()).toEqual([
        third.sequenceNumber,
        first.sequenceNumber,
      ]);
      expect(Number(first.sequenceNumber)).toBe(Number(second.sequenceNumber)); // beyond 2^53
      expect(
        BigInt(child.startingSequenceNumber) > BigInt(stream.shards()[0]?.endingSequenceNumber ?? '0'),
      ).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'is reachable through AWS_ENDPOINT_URL_DYNAMODB_STREAMS',
    async () => {
      const stream = await startStream(2);
      const previous = process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS;
      process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS = stream.endpoint;
      try {
        const client = new DynamoDBStreamsClient({ region, credentials, maxAttempts: 1 });
        clients.push(client);
        const { shards } = await listShards(client, stream.streamArn);
        expect(shards).toHaveLength(2);
      } finally {
        if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS;
        else process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS = previous;
      }
    },
    TIMEOUT,
  );
});
