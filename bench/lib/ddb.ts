/** Tables and data for the benchmarks, on the bench's own DynamoDB Local. */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { listShards } from '../../core/vocabulary/shard.js';
import { createEmailTable } from '../../test/support/fleet.js';

export const KEY = 'email';

export function streamsClient(endpoint: string): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** A table keyed by `email`; with `stream`, a NEW_AND_OLD_IMAGES stream whose ARN is returned. */
export const createTable = createEmailTable;

/** A lease-like table with one item, for the bare loop's ConditionCheck fence. */
export async function createFenceTable(
  client: DynamoDBClient,
  name: string,
  leaseKey: string,
  owner: string,
): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await client.send(
    new BatchWriteItemCommand({
      RequestItems: {
        [name]: [{ PutRequest: { Item: { leaseKey: { S: leaseKey }, leaseOwner: { S: owner } } } }],
      },
    }),
  );
}

export async function deleteTables(client: DynamoDBClient, names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map((name) => client.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined)),
  );
}

/** The benchmark item: ~220 bytes, like a small user profile, stamped with when it was written. */
export function makeItem(i: number, writtenAt: number, prefix = 'u'): Record<string, AttributeValue> {
  const id = String(i).padStart(7, '0');
  return {
    [KEY]: { S: `${prefix}${id}@bench.example` },
    name: { S: `User ${id}` },
    city: { S: ['Lisbon', 'Oslo', 'Lima', 'Pune', 'Osaka'][i % 5] as string },
    age: { N: String(18 + (i % 60)) },
    bio: { S: `bench item ${id} `.padEnd(120, 'x') },
    writtenAt: { N: String(Math.round(writtenAt)) },
  };
}

/** Writes `count` new items with BatchWriteItem (25 a request, `concurrency` in flight). */
export async function preload(
  client: DynamoDBClient,
  table: string,
  count: number,
  concurrency = 8,
  prefix = 'u',
): Promise<{ ms: number }> {
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + 25);
      let requests = Array.from({ length: next - from }, (_, k) => ({
        PutRequest: { Item: makeItem(from + k, Date.now(), prefix) },
      }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 20 * 2 ** attempt)));
        const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
        requests = (out.UnprocessedItems?.[table] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { ms: performance.now() - started };
}

/** Item count by a consistent Scan (Select COUNT). */
export async function countItems(client: DynamoDBClient, table: string): Promise<number> {
  let count = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: table, Select: 'COUNT', ConsistentRead: true, ExclusiveStartKey: start }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

/** Shard ids of a stream (DynamoDB Local: one, open). */
export async function streamShards(client: DynamoDBStreamsClient, streamArn: string): Promise<string[]> {
  return (await listShards(client, streamArn)).map((shard) => shard.shardId);
}
