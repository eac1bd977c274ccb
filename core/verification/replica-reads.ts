/**
 * The two reads the replication checks make, each metered in read units: one page of a (parallel) Scan, and
 * items by key with BatchGetItem (100 keys a request, several requests in flight, unprocessed keys retried
 * with backoff). Every call asks for `ReturnConsumedCapacity: 'TOTAL'`; see core/tables/read-units.ts for the
 * computed fallback.
 */

import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  batchGetUnits,
  ReadConsistency,
  type ReadMeter,
  reportedUnits,
  scanPageUnits,
} from '../tables/read-units.js';
import { asTransientWhenRetriable, type TableKey } from '../tables/tables.js';
import { TransientError } from '../vocabulary/errors.js';
import { backoffDelay, UNPROCESSED_ITEMS_BACKOFF } from '../vocabulary/retry.js';
import { stableText } from '../vocabulary/stable-text.js';
import { type Item, keyOf } from './item-compare.js';

export interface ReadContext {
  dynamodb: DynamoDBClient;
  meter: ReadMeter;
  sleep(ms: number): Promise<void>;
}

export interface ScanPage {
  items: Item[];
  /** Where the next page starts; undefined at the end of the table (or segment). */
  lastKey: Item | undefined;
}

export async function scanPage(
  ctx: ReadContext,
  request: {
    table: string;
    segment?: { index: number; total: number };
    startKey?: Item;
    limit: number;
    consistency: ReadConsistency;
  },
): Promise<ScanPage> {
  try {
    const page = await ctx.dynamodb.send(
      new ScanCommand({
        TableName: request.table,
        ConsistentRead: request.consistency === ReadConsistency.Strong,
        Limit: request.limit,
        ReturnConsumedCapacity: 'TOTAL',
        ...(request.startKey ? { ExclusiveStartKey: request.startKey } : {}),
        ...(request.segment ? { Segment: request.segment.index, TotalSegments: request.segment.total } : {}),
      }),
    );
    const items = page.Items ?? [];
    ctx.meter.add(request.table, {
      reported: reportedUnits(page.ConsumedCapacity, request.table),
      computed: scanPageUnits(items, request.consistency),
    });
    return { items, lastKey: page.LastEvaluatedKey };
  } catch (error) {
    throw asTransientWhenRetriable(error);
  }
}

const BATCH_GET_KEYS = 100;
const UNPROCESSED_ATTEMPTS = 8;

async function batchGetChunk(
  ctx: ReadContext,
  table: string,
  keys: Item[],
  consistency: ReadConsistency,
): Promise<Item[]> {
  const found: Item[] = [];
  let pending = keys;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt === UNPROCESSED_ATTEMPTS) {
      throw new TransientError(
        `BatchGetItem left ${pending.length} keys of ${table} unprocessed ${UNPROCESSED_ATTEMPTS} times: the table is throttling reads. Run the check again later, or lower its read budget.`,
      );
    }
    if (attempt > 0) await ctx.sleep(backoffDelay(attempt, UNPROCESSED_ITEMS_BACKOFF));
    let page: BatchGetItemCommandOutput;
    try {
      page = await ctx.dynamodb.send(
        new BatchGetItemCommand({
          RequestItems: {
            [table]: { Keys: pending, ConsistentRead: consistency === ReadConsistency.Strong },
          },
          ReturnConsumedCapacity: 'TOTAL',
        }),
      );
    } catch (error) {
      throw asTransientWhenRetriable(error);
    }
    const items = page.Responses?.[table] ?? [];
    const unprocessed = page.UnprocessedKeys?.[table]?.Keys ?? [];
    found.push(...items);
    ctx.meter.add(table, {
      reported: reportedUnits(page.ConsumedCapacity, table),
      computed: batchGetUnits(items, pending.length - unprocessed.length, consistency),
    });
    pending = unprocessed;
  }
  return found;
}

/**
 * The items of `table` at these keys, as a map from key text to item (absent keys are absent). At most
 * `concurrency` requests in flight.
 */
export async function getByKeys(
  ctx: ReadContext,
  request: {
    table: string;
    key: TableKey;
    keys: readonly Item[];
    consistency: ReadConsistency;
    concurrency?: number;
  },
): Promise<Map<string, Item>> {
  const chunks: Item[][] = [];
  for (let i = 0; i < request.keys.length; i += BATCH_GET_KEYS)
    chunks.push(request.keys.slice(i, i + BATCH_GET_KEYS));
  const found = new Map<string, Item>();
  let next = 0;
  const lanes = Array.from({ length: Math.min(chunks.length, request.concurrency ?? 4) }, async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++] as Item[];
      for (const item of await batchGetChunk(ctx, request.table, chunk, request.consistency))
        found.set(stableText(keyOf(item, request.key)), item);
    }
  });
  await Promise.all(lanes);
  return found;
}
