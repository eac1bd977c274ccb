/**
 * From stream records to item changes. Pure.
 *
 * A batch is coalesced to one change per item (the last record of each key wins: its NewImage is the whole
 * item, a REMOVE deletes it), so repeated changes cost one write, and changes to different items can be
 * written in parallel while each item keeps its order.
 */
import type { AttributeValue, _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { compareSequenceNumbers } from '../../core/sequence.js';

export type Image = Record<string, AttributeValue>;

export interface ItemChange {
  /** Canonical form of the key, equal for equal keys. */
  id: string;
  keys: Image;
  kind: 'put' | 'delete';
  /** The item after the change (absent for deletes). */
  newImage: Image | undefined;
  sequenceNumber: string;
  eventName: string;
  /** How many records of the batch this change stands for. */
  records: number;
}

function canonicalValue(value: AttributeValue): string {
  if (value.S !== undefined) return `S:${value.S}`;
  if (value.N !== undefined) return `N:${value.N}`;
  if (value.B !== undefined) return `B:${Buffer.from(value.B).toString('base64')}`;
  return JSON.stringify(value);
}

/** A stable string for an item key; key attributes are S, N or B. */
export function canonicalKey(keys: Image): string {
  return Object.keys(keys)
    .sort()
    .map((name) => `${JSON.stringify(name)}=${canonicalValue(keys[name] as AttributeValue)}`)
    .join('&');
}

export class MalformedRecordError extends Error {
  override readonly name = 'MalformedRecordError';
}

export function toChange(record: StreamRecord): ItemChange {
  const data = record.dynamodb;
  const sequenceNumber = data?.SequenceNumber;
  const keys = data?.Keys;
  if (!data || !sequenceNumber || !keys)
    throw new MalformedRecordError(`Stream record ${record.eventID} has no keys or sequence number.`);
  if (record.eventName === 'REMOVE') {
    return {
      id: canonicalKey(keys),
      keys,
      kind: 'delete',
      newImage: undefined,
      sequenceNumber,
      eventName: 'REMOVE',
      records: 1,
    };
  }
  if (!data.NewImage) {
    throw new MalformedRecordError(
      `Stream record ${sequenceNumber} (${record.eventName}) has no NewImage: the stream view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES.`,
    );
  }
  return {
    id: canonicalKey(keys),
    keys,
    kind: 'put',
    newImage: data.NewImage,
    sequenceNumber,
    eventName: record.eventName ?? 'MODIFY',
    records: 1,
  };
}

/** One change per item, the latest by sequence number; the result keeps first-seen order. */
export function coalesce(records: readonly StreamRecord[]): ItemChange[] {
  const byId = new Map<string, ItemChange>();
  for (const record of records) {
    const change = toChange(record);
    const previous = byId.get(change.id);
    if (!previous) {
      byId.set(change.id, change);
    } else if (compareSequenceNumbers(change.sequenceNumber, previous.sequenceNumber) > 0) {
      byId.set(change.id, { ...change, records: previous.records + 1 });
    } else {
      byId.set(change.id, { ...previous, records: previous.records + 1 });
    }
  }
  return [...byId.values()];
}

/** Rough DynamoDB size of an image in bytes (names + values), used to keep transactions under 4 MB. */
export function approximateItemSize(image: Image | undefined): number {
  if (!image) return 100;
  let size = 0;
  for (const [name, value] of Object.entries(image))
    size += Buffer.byteLength(name) + approximateValueSize(value);
  return size;
}

function approximateValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return value.N.length;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.SS) return value.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (value.NS) return value.NS.reduce((n, s) => n + s.length, 0);
  if (value.BS) return value.BS.reduce((n, b) => n + b.byteLength, 0);
  if (value.L) return 3 + value.L.reduce((n, v) => n + 1 + approximateValueSize(v), 0);
  if (value.M)
    return (
      3 +
      Object.entries(value.M).reduce((n, [k, v]) => n + Buffer.byteLength(k) + 1 + approximateValueSize(v), 0)
    );
  return 1;
}
