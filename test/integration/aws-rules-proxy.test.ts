/**
 * The strict layer as an HTTP proxy: bodies (chunked ones included) and answers pass unchanged, large
 * GetRecords answers are followed to their next iterator, the control API answers under its prefix, and
 * an unreachable upstream looks like a network failure. Real SDK v3 clients, DynamoDB Local behind.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsRulesProxy } from '../../local/aws-rules/index.js';
import { freePort } from '../../local/dynamodb-local.js';
import { emulatorEndpoint } from '../support/aws-rules.js';

const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const AUTHORIZATION =
  'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0';

let layer: AwsRulesProxy;
let ddb: DynamoDBClient;

beforeAll(async () => {
  layer = await AwsRulesProxy.start({ upstream: emulatorEndpoint(), readersPerShard: 1 });
  ddb = new DynamoDBClient({ endpoint: layer.endpoint, region, credentials, maxAttempts: 1 });
});

afterAll(async () => {
  ddb?.destroy();
  await layer?.close();
});

async function createTable(stream = false): Promise<{ table: string; streamArn: string }> {
  const table = `rules-proxy-${randomUUID().slice(0, 8)}`;
  const created = await ddb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      ...(stream
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
        : {}),
    }),
  );
  return { table, streamArn: created.TableDescription?.LatestStreamArn ?? '' };
}

/** Posts `body` to the layer in chunks (no Content-Length), as a raw HTTP client would. */
function postChunked(
  operation: string,
  chunks: string[],
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const call = httpRequest(
      new URL(layer.endpoint),
      {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'transfer-encoding': 'chunked',
          'x-amz-target': `DynamoDB_20120810.${operation}`,
          authorization: AUTHORIZATION,
        },
      },
      (response) => {
        const parts: Buffer[] = [];
        response.on('data', (chunk: Buffer) => parts.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(parts).toString('utf8'),
          }),
        );
      },
    );
    call.on('error', reject);
    for (const chunk of chunks) call.write(chunk);
    call.end();
  });
}

function inChunks(value: unknown): string[] {
  const text = JSON.stringify(value);
  const third = Math.ceil(text.length / 3);
  return [text.slice(0, third), text.slice(third, 2 * third), text.slice(2 * third)];
}

describe('the strict layer as a proxy', () => {
  it('forwards chunked request bodies, streamed through or judged, and relays the answer headers', async () => {
    const { table } = await createTable();
    const put = await postChunked(
      'TransactWriteItems',
      inChunks({
        TransactItems: [{ Put: { TableName: table, Item: { id: { S: 'a' }, v: { S: 'chunked' } } } }],
      }),
    );
    expect(put).toMatchObject({ status: 200, body: '{}' });

    const get = await postChunked('GetItem', inChunks({ TableName: table, Key: { id: { S: 'a' } } }));
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body)).toEqual({ Item: { id: { S: 'a' }, v: { S: 'chunked' } } });
    expect(get.headers).toHaveProperty('x-amzn-requestid');
    expect(get.headers).toHaveProperty('x-amz-crc32');

    const stats = layer.stats();
    expect(stats.requests.byTable[table]).toBe(3);
    expect(stats.transactions.committed).toBeGreaterThanOrEqual(1);
  });

  it('counts batch requests by the tables of their RequestItems', async () => {
    const [one, two] = [await createTable(), await createTable()];
    if (!one || !two) throw new Error('tables');
    await ddb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [one.table]: [{ PutRequest: { Item: { id: { S: 'x' } } } }],
          [two.table]: [{ PutRequest: { Item: { id: { S: 'y' } } } }],
        },
      }),
    );
    const read = await ddb.send(
      new BatchGetItemCommand({
        RequestItems: {
          [one.table]: { Keys: [{ id: { S: 'x' } }] },
          [two.table]: { Keys: [{ id: { S: 'y' } }] },
        },
      }),
    );
    expect(read.Responses?.[two.table]).toEqual([{ id: { S: 'y' } }]);
    const { byTable } = layer.stats().requests;
    expect([byTable[one.table], byTable[two.table]]).toEqual([3, 3]);
  });

  it('follows a reader through a GetRecords answer far larger than the part it searches', async () => {
    const { table, streamArn } = await createTable(true);
    const filler = 'x'.repeat(2_000);
    for (let batch = 0; batch < 8; batch += 1) {
      await ddb.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [table]: Array.from({ length: 25 }, (_, i) => ({
              PutRequest: { Item: { id: { S: `item-${batch}-${i}` }, filler: { S: filler } } },
            })),
          },
        }),
      );
    }
    const streams = new DynamoDBStreamsClient({
      endpoint: layer.endpoint,
      region,
      credentials,
      maxAttempts: 1,
    });
    try {
      const described = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
      const shardId = described.StreamDescription?.Shards?.[0]?.ShardId ?? '';
      const start = await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: start.ShardIterator }));
      expect(page.Records).toHaveLength(200);
      // This layer allows one reader per shard: the next call is refused unless it is known to be the
      // same reader, which only the NextShardIterator at the end of that ~400 kB answer tells.
      const next = await streams.send(new GetRecordsCommand({ ShardIterator: page.NextShardIterator }));
      expect(next.Records).toEqual([]);
      const stats = layer.stats();
      expect(stats.refused.readersPerShard.total).toBe(0);
      expect(stats.streams.unattributedGetRecords).toBe(0);
    } finally {
      streams.destroy();
    }
  });

  it('answers its own API under /__aws-rules/ and nothing else there', async () => {
    const missing = await fetch(new URL('/__aws-rules/nothing', layer.endpoint));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: expect.stringContaining('/__aws-rules/stats') });
    const bad = await fetch(new URL('/__aws-rules/rules', layer.endpoint), {
      method: 'PUT',
      body: 'not json',
    });
    expect(bad.status).toBe(400);
  });

  it('drops the connection, as a network failure would, when upstream cannot be reached', async () => {
    const orphan = await AwsRulesProxy.start({ upstream: `http://127.0.0.1:${await freePort()}` });
    const client = new DynamoDBClient({ endpoint: orphan.endpoint, region, credentials, maxAttempts: 1 });
    try {
      const error = await client
        .send(new GetItemCommand({ TableName: 'any-table', Key: { id: { S: 'a' } } }))
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect(
        (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode,
      ).toBeUndefined();
      expect(orphan.stats().requests.byOperation).toEqual({ GetItem: 1 });
    } finally {
      client.destroy();
      await orphan.close();
    }
  });
});
