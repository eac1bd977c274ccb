/**
 * Stream positions. Sequence numbers are decimal strings of varying length, so they are compared as big
 * integers, never as strings ("9" > "10" as strings).
 */
export const Sentinel = {
  TRIM_HORIZON: 'TRIM_HORIZON',
  LATEST: 'LATEST',
  SHARD_END: 'SHARD_END',
} as const;
export type Sentinel = (typeof Sentinel)[keyof typeof Sentinel];

/** A lease's checkpoint: a sequence number or one of the sentinels. */
export type Checkpoint = string;

const DECIMAL = /^\d{1,64}$/;

export function isSequenceNumber(value: string): boolean {
  return DECIMAL.test(value);
}

export function isSentinel(value: string): value is Sentinel {
  return value === Sentinel.TRIM_HORIZON || value === Sentinel.LATEST || value === Sentinel.SHARD_END;
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function compareSequenceNumbers(a: string, b: string): number {
  if (!isSequenceNumber(a) || !isSequenceNumber(b)) throw new TypeError(`Not sequence numbers: ${a}, ${b}`);
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Width of the fixed-width form. AWS documents stream sequence numbers as at most 40 digits; 48 leaves room.
 * Zero-padded to this width, string order equals numeric order, so DynamoDB conditions can compare them.
 */
export const ORDERED_SEQUENCE_WIDTH = 48;

export function toOrderedSequence(sequenceNumber: string): string {
  if (!isSequenceNumber(sequenceNumber)) throw new TypeError(`Not a sequence number: ${sequenceNumber}`);
  const trimmed = sequenceNumber.replace(/^0+(?=\d)/, '');
  if (trimmed.length > ORDERED_SEQUENCE_WIDTH)
    throw new RangeError(`Sequence number too long: ${sequenceNumber}`);
  return trimmed.padStart(ORDERED_SEQUENCE_WIDTH, '0');
}
