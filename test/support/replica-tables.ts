/**
 * Source and replica tables filled with BatchWriteItem (a replica item is its source item plus the workers'
 * bookkeeping attributes), and differences planted at random keys: for the replication-check tests and the
 * verify bench.
 */
import { type AttributeValue, BatchWriteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DEFAULT_PARTITION_KEY, type TableKey } from '../../core/tables/tables.js';
import { keyText, REPLICA_BOOKKEEPING } from '../../core/verification/item-compare.js';
import { SegmentPicker } from '../../core/verification/sampling.js';

type Item = Record<string, AttributeValue>;

export const USERS_KEY: TableKey = { partitionKey: DEFAULT_PARTITION_KEY };

const CITIES = ['Lisbon', 'Porto', 'Oslo', 'Lima', 'Pune', 'Osaka'];

/** The i-th user item (~110 bytes). */
export function userItem(i: number, prefix = 'user'): Item {
  return {
    email: { S: `${prefix}-${i}@example.com` },
    name: { S: `User ${i}` },
    city: { S: CITIES[i % CITIES.length] as string },
    visits: { N: String(i % 97) },
  };
}

/** The replica's copy of a source item, as a worker writes it. */
export function replicaOf(item: Item, worker = 'worker-1'): Item {
  return {
    ...item,
    [REPLICA_BOOKKEEPING.processedBy]: { S: worker },
    [REPLICA_BOOKKEEPING.sequence]: { N: '100000000000000000001' },
  };
}

type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

/** BatchWriteItem, 25 a request, `concurrency` in flight, unprocessed items retried. */
export async function batchWrite(
  client: DynamoDBClient,
  table: string,
  requests: readonly WriteRequest[],
  concurrency = 8,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < requests.length) {
      const from = next;
      next = Math.min(requests.length, next + 25);
      let pending = requests.slice(from, next) as WriteRequest[];
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 20 * 2 ** attempt)));
        const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
        pending = (out.UnprocessedItems?.[table] ?? []) as WriteRequest[];
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** Users `from`..`to − 1` into the source and their copies into the replica. */
export async function fillPair(
  client: DynamoDBClient,
  tables: { source: string; replica: string },
  range: { from?: number; to: number },
  prefix = 'user',
): Promise<void> {
  const items = Array.from({ length: range.to - (range.from ?? 0) }, (_, k) =>
    userItem((range.from ?? 0) + k, prefix),
  );
  await batchWrite(
    client,
    tables.source,
    items.map((Item) => ({ PutRequest: { Item } })),
  );
  await batchWrite(
    client,
    tables.replica,
    items.map((item) => ({ PutRequest: { Item: replicaOf(item) } })),
  );
}

export interface PlantedDifferences {
  /** Key texts as verdicts show them (`keyText`). */
  missing: string[];
  differing: string[];
  extra: string[];
}

/**
 * Plants differences at random among users 0..count−1: `missing` replica items deleted, `differing` replica
 * items changed, and `extra` replica items with no source (their source item deleted). Distinct keys.
 */
export async function plantDifferences(
  client: DynamoDBClient,
  tables: { source: string; replica: string },
  plan: { count: number; missing: number; differing: number; extra: number; random: () => number },
  prefix = 'user',
): Promise<PlantedDifferences> {
  const picker = new SegmentPicker(plan.count, plan.random);
  const take = (n: number) => Array.from({ length: n }, () => userItem(picker.next() as number, prefix));
  const missing = take(plan.missing);
  const differing = take(plan.differing);
  const extra = take(plan.extra);
  const key = (item: Item) => ({ email: item.email as AttributeValue });
  await batchWrite(client, tables.replica, [
    ...missing.map((item) => ({ DeleteRequest: { Key: key(item) } })),
    ...differing.map((item) => ({
      PutRequest: { Item: replicaOf({ ...item, city: { S: 'Nowhere' } }) },
    })),
  ]);
  await batchWrite(
    client,
    tables.source,
    extra.map((item) => ({ DeleteRequest: { Key: key(item) } })),
  );
  const texts = (items: Item[]) => items.map((item) => keyText(item, USERS_KEY)).sort();
  return { missing: texts(missing), differing: texts(differing), extra: texts(extra) };
}
