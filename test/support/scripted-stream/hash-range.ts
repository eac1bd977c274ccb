/**
 * TEST FIXTURE — hash-key ranges of the scripted DynamoDB Streams endpoint.
 *
 * Like real streams (and Kinesis), each open shard owns an inclusive range of a 128-bit hash space;
 * a record goes to the open shard whose range contains the MD5 of its partition key. Real DynamoDB
 * Streams does not expose the ranges; the fixture keeps them so tests can predict where keys land.
 */
import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export const HASH_KEY_MAX = (1n << 128n) - 1n;

/** Inclusive on both ends. */
export interface HashKeyRange {
  readonly start: bigint;
  readonly end: bigint;
}

export const FULL_HASH_RANGE: HashKeyRange = { start: 0n, end: HASH_KEY_MAX };

/** `count` adjacent ranges covering the whole hash space. */
export function splitEvenly(count: number): HashKeyRange[] {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`Shard count must be a positive integer: ${count}`);
  const width = (HASH_KEY_MAX + 1n) / BigInt(count);
  return Array.from({ length: count }, (_, index) => {
    const start = width * BigInt(index);
    const end = index === count - 1 ? HASH_KEY_MAX : start + width - 1n;
    return { start, end };
  });
}

/** Lower and upper half of a range. */
export function halve(range: HashKeyRange): [HashKeyRange, HashKeyRange] {
  if (range.end <= range.start) throw new Error('A single-hash range cannot be split');
  const middle = range.start + (range.end - range.start) / 2n;
  return [
    { start: range.start, end: middle },
    { start: middle + 1n, end: range.end },
  ];
}

export function containsHash(range: HashKeyRange, hash: bigint): boolean {
  return hash >= range.start && hash <= range.end;
}

/** MD5 of the partition key value (type-tagged), read as an unsigned 128-bit integer. */
export function hashPartitionKey(value: AttributeValue): bigint {
  const digest = createHash('md5').update(partitionKeyText(value)).digest('hex');
  return BigInt(`0x${digest}`);
}

function partitionKeyText(value: AttributeValue): string {
  if (value.S !== undefined) return `S:${value.S}`;
  if (value.N !== undefined) return `N:${value.N}`;
  if (value.B !== undefined) return `B:${Buffer.from(value.B).toString('base64')}`;
  throw new Error('A partition key must be a string, number or binary value');
}
