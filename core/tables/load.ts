/**
 * The recipe's producer: `users` items with email, name and city, written in BatchWriteItem chunks at a
 * bounded rate. One invocation writes one batch (`batch` × `itemsPerBatch` … + `itemsPerBatch` − 1), so a
 * workflow's Map state spreads a larger load over invocations and a retried batch rewrites the same items.
 */

import { type AttributeValue, BatchWriteItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { systemClock } from '../vocabulary/clock.js';
import { InvalidInputError, TransientError } from '../vocabulary/errors.js';
import { backoffDelay, UNPROCESSED_ITEMS_BACKOFF } from '../vocabulary/retry.js';
import { describeValue, requireInteger } from '../vocabulary/validation.js';
import { asTransientWhenRetriable, type KeyAttribute, type TableKey } from './tables.js';

export interface LoadSpec {
  /** How many invocations (Map iterations) share the load. 1..1000. */
  batches: number;
  /** Items one invocation writes. 1..5000. */
  itemsPerBatch: number;
  /** Upper bound on items per second within one invocation. Default 100. */
  ratePerSecond: number;
  /** Emails are `PREFIX-INDEX@example.com`. Default `user`. */
  prefix: string;
}

/** Longest an invocation may spend writing: well inside Lambda's 15 minutes. */
export const MAX_BATCH_SECONDS = 600;

const CITIES = [
  'Lisbon',
  'Porto',
  'Madrid',
  'Seattle',
  'Dublin',
  'Berlin',
  'Tokyo',
  'Austin',
  'Nairobi',
  'Lima',
];
const NAMES = [
  'Ada',
  'Grace',
  'Alan',
  'Edsger',
  'Barbara',
  'Ken',
  'Margaret',
  'Donald',
  'Frances',
  'Niklaus',
];

export function parseLoad(value: unknown, field = 'load'): LoadSpec {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected an object, got ${describeValue(value)}`);
  }
  const input = value as Record<string, unknown>;
  // Required, not defaulted: the setup workflow plans its Map over `load.batches` before any function runs.
  const batches = requireInteger(`${field}.batches`, input.batches, { min: 1, max: 1000 });
  const itemsPerBatch = requireInteger(`${field}.itemsPerBatch`, input.itemsPerBatch ?? 100, {
    min: 1,
    max: 5000,
  });
  const ratePerSecond = requireInteger(`${field}.ratePerSecond`, input.ratePerSecond ?? 100, {
    min: 1,
    max: 10_000,
  });
  if (itemsPerBatch / ratePerSecond > MAX_BATCH_SECONDS) {
    throw new InvalidInputError(
      `${field}.ratePerSecond`,
      `${itemsPerBatch} items at ${ratePerSecond}/s would take longer than ${MAX_BATCH_SECONDS} s per invocation; raise the rate or use more batches`,
    );
  }
  const prefix = input.prefix ?? 'user';
  if (typeof prefix !== 'string' || !/^[a-z0-9][a-z0-9-]{0,40}$/.test(prefix)) {
    throw new InvalidInputError(
      `${field}.prefix`,
      `expected 1-41 of a-z, 0-9 and '-', got ${describeValue(prefix)}`,
    );
  }
  return { batches, itemsPerBatch, ratePerSecond, prefix };
}

function keyValue(attribute: KeyAttribute, text: string, index: number): AttributeValue {
  if (attribute.type === 'N') return { N: String(index) };
  if (attribute.type === 'B') return { B: Buffer.from(text) };
  return { S: text };
}

/** Item number `index` of the load: deterministic, so a retried batch writes the same items again. */
export function loadItem(index: number, prefix: string, key: TableKey): Record<string, AttributeValue> {
  const email = `${prefix}-${index}@example.com`;
  const item: Record<string, AttributeValue> = {
    email: { S: email },
    name: { S: `${NAMES[index % NAMES.length]} ${index}` },
    city: { S: CITIES[index % CITIES.length] ?? 'Lisbon' },
  };
  item[key.partitionKey.name] = keyValue(key.partitionKey, email, index);
  if (key.sortKey) item[key.sortKey.name] = keyValue(key.sortKey, `${index}`, index);
  return item;
}

export interface LoadResult {
  batch: number;
  firstIndex: number;
  written: number;
  durationMs: number;
}

export async function writeLoadBatch(
  dynamodb: DynamoDBClient,
  input: { tableName: string; key: TableKey; load: LoadSpec; batch: number },
): Promise<LoadResult> {
  const { load, tableName, key } = input;
  const batch = requireInteger('batch', input.batch, { min: 0, max: load.batches - 1 });
  const firstIndex = batch * load.itemsPerBatch;
  const started = Date.now();
  let written = 0;
  for (let offset = 0; offset < load.itemsPerBatch; offset += 25) {
    const count = Math.min(25, load.itemsPerBatch - offset);
    let requests = Array.from({ length: count }, (_, i) => ({
      PutRequest: { Item: loadItem(firstIndex + offset + i, load.prefix, key) },
    }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt >= 10) {
        throw new TransientError(
          `BatchWriteItem to ${tableName} kept returning unprocessed items; run the batch again.`,
        );
      }
      try {
        const result = await dynamodb.send(
          new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
        );
        const unprocessed = result.UnprocessedItems?.[tableName] ?? [];
        written += requests.length - unprocessed.length;
        requests = unprocessed as typeof requests;
      } catch (error) {
        throw asTransientWhenRetriable(error);
      }
      if (requests.length > 0) await systemClock.sleep(backoffDelay(attempt, UNPROCESSED_ITEMS_BACKOFF));
    }
    // Rate limit: never ahead of ratePerSecond since the start of this invocation.
    const due = started + (written / load.ratePerSecond) * 1000;
    const ahead = due - Date.now();
    if (ahead > 0) await systemClock.sleep(ahead);
  }
  return { batch, firstIndex, written, durationMs: Date.now() - started };
}
