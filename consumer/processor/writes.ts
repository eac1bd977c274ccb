/**
 * The writes a processor returned, checked and put in the order the worker commits them, and cut into
 * transactions within DynamoDB's limits. Pure.
 *
 * TransactWriteItems takes at most 100 items and 4 MB in all (DynamoDB developer guide, "Amazon DynamoDB
 * Transactions: How it works"); one item is the shard's lease item (the fence and the checkpoint), so a
 * transaction carries at most 99 writes. Writes that share a sequence number are committed together or not at
 * all: a transaction ends only where the next write reflects a later record, and its checkpoint moves to
 * the last sequence number it covers.
 */
import type { AttributeValue, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { InvalidWriteError } from '../../core/vocabulary/errors.js';
import { compareSequenceNumbers, isSequenceNumber } from '../../core/vocabulary/sequence.js';
import type { TransactionWrite } from './record-processor.js';

export const MAX_TRANSACTION_WRITES = 99; // plus the lease item = DynamoDB's limit of 100
export const MAX_TRANSACTION_BYTES = 3_500_000; // DynamoDB's limit is 4 MB; our sizes are estimates

export type WriteKind = 'Put' | 'Update' | 'Delete' | 'ConditionCheck';

/** A write as the worker commits it. */
export interface PlannedWrite {
  readonly item: TransactWriteItem;
  readonly kind: WriteKind;
  readonly tableName: string;
  /** The newest record it reflects (the batch's last record unless the processor said otherwise). */
  readonly sequenceNumber: string;
  /** True when the processor named `sequenceNumber` itself: a refusal can then be laid at that record. */
  readonly attributed: boolean;
  readonly onConditionFailed: 'fail' | 'skip';
  /** Estimated request size in bytes. */
  readonly bytes: number;
}

const KINDS: readonly WriteKind[] = ['Put', 'Update', 'Delete', 'ConditionCheck'];

function isTransactionWrite(write: TransactionWrite | TransactWriteItem): write is TransactionWrite {
  return typeof write === 'object' && write !== null && 'item' in write;
}

/** Rough DynamoDB size of a value in bytes (name lengths included), to keep transactions under 4 MB. */
export function approximateValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return value.N.length;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.SS) return value.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (value.NS) return value.NS.reduce((n, s) => n + s.length, 0);
  if (value.BS) return value.BS.reduce((n, b) => n + b.byteLength, 0);
  if (value.L) return 3 + value.L.reduce((n, v) => n + 1 + approximateValueSize(v), 0);
  if (value.M) return 3 + approximateItemSize(value.M);
  return 1;
}

/** Rough DynamoDB size of an item (names + values); 100 for none. */
export function approximateItemSize(image: Record<string, AttributeValue> | undefined): number {
  if (!image) return 100;
  let size = 0;
  for (const [name, value] of Object.entries(image))
    size += Buffer.byteLength(name) + approximateValueSize(value);
  return size;
}

function writeBytes(body: Record<string, unknown>): number {
  const item = (body.Item ?? body.Key) as Record<string, AttributeValue> | undefined;
  const values = body.ExpressionAttributeValues as Record<string, AttributeValue> | undefined;
  const text = ['UpdateExpression', 'ConditionExpression']
    .map((key) => (typeof body[key] === 'string' ? (body[key] as string).length : 0))
    .reduce((a, b) => a + b, 0);
  return approximateItemSize(item) + (values ? approximateItemSize(values) : 0) + text + 200;
}

/**
 * Checks each write and gives it its sequence number. `lastSequenceNumber` is the batch's last record; a
 * write may not claim a later one. Throws InvalidWriteError naming the shard, the write and what is wrong.
 */
export function planWrites(
  writes: readonly (TransactionWrite | TransactWriteItem)[],
  shardId: string,
  lastSequenceNumber: string,
): PlannedWrite[] {
  return writes.map((write, index) => {
    const wrapped = isTransactionWrite(write) ? write : { item: write };
    const problem = (what: string) => new InvalidWriteError(shardId, index, lastSequenceNumber, what);
    const item = wrapped.item as Record<string, unknown> | undefined;
    const kinds = item && typeof item === 'object' ? KINDS.filter((kind) => item[kind] !== undefined) : [];
    if (kinds.length !== 1)
      throw problem(
        'expected exactly one of Put, Update, Delete or ConditionCheck (a TransactWriteItems item)',
      );
    const kind = kinds[0] as WriteKind;
    const body = (item as Record<string, Record<string, unknown>>)[kind] as Record<string, unknown>;
    if (typeof body.TableName !== 'string' || body.TableName === '')
      throw problem(`${kind} has no TableName`);
    const sequenceNumber = wrapped.sequenceNumber ?? lastSequenceNumber;
    if (
      typeof sequenceNumber !== 'string' ||
      !isSequenceNumber(sequenceNumber) ||
      compareSequenceNumbers(sequenceNumber, lastSequenceNumber) > 0
    ) {
      throw problem(
        `sequenceNumber ${String(sequenceNumber)} is not a sequence number of this batch (its last record is ${lastSequenceNumber})`,
      );
    }
    const onConditionFailed = wrapped.onConditionFailed ?? 'fail';
    if (onConditionFailed !== 'fail' && onConditionFailed !== 'skip')
      throw problem(`onConditionFailed must be 'fail' or 'skip', got ${String(onConditionFailed)}`);
    return {
      item: wrapped.item,
      kind,
      tableName: body.TableName,
      sequenceNumber,
      attributed: wrapped.sequenceNumber !== undefined,
      onConditionFailed,
      bytes: writeBytes(body),
    };
  });
}

export type TransactionPlan =
  | { fits: true; transactions: PlannedWrite[][] }
  /** The writes of one record (one sequence number) do not fit one transaction on their own. */
  | { fits: false; sequenceNumber: string; writes: number; bytes: number };

/**
 * Orders writes by sequence number (stable: a processor's order is kept among equals) and packs them into
 * transactions within the limits, never splitting writes that share a sequence number.
 */
export function planTransactions(
  writes: readonly PlannedWrite[],
  maxWrites = MAX_TRANSACTION_WRITES,
  maxBytes = MAX_TRANSACTION_BYTES,
): TransactionPlan {
  const ordered = writes
    .map((write, index) => ({ write, index }))
    .sort(
      (a, b) => compareSequenceNumbers(a.write.sequenceNumber, b.write.sequenceNumber) || a.index - b.index,
    )
    .map(({ write }) => write);
  const groups: PlannedWrite[][] = [];
  for (const write of ordered) {
    const group = groups.at(-1);
    if (group && group[0]?.sequenceNumber === write.sequenceNumber) group.push(write);
    else groups.push([write]);
  }
  const transactions: PlannedWrite[][] = [];
  let current: PlannedWrite[] = [];
  let bytes = 0;
  for (const group of groups) {
    const groupBytes = group.reduce((n, w) => n + w.bytes, 0);
    if (group.length > maxWrites || groupBytes > maxBytes) {
      return {
        fits: false,
        sequenceNumber: group[0]?.sequenceNumber ?? '',
        writes: group.length,
        bytes: groupBytes,
      };
    }
    if (current.length > 0 && (current.length + group.length > maxWrites || bytes + groupBytes > maxBytes)) {
      transactions.push(current);
      current = [];
      bytes = 0;
    }
    current.push(...group);
    bytes += groupBytes;
  }
  if (current.length > 0) transactions.push(current);
  return { fits: true, transactions };
}
