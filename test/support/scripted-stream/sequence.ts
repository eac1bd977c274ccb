/**
 * TEST FIXTURE — sequence numbers of the scripted DynamoDB Streams endpoint.
 *
 * Every number is a decimal string `1` + a zero-padded global counter. The counter grows with every
 * number handed out, so numbers increase with time across the whole stream. The string's length is
 * `BASE_DIGITS + epoch`, where the epoch goes up by one each time a shard is closed (a reshard): all
 * numbers of a child shard are therefore numerically larger AND one or more digits longer than all
 * numbers of its parent (with a single lineage, generation g has exactly 21 + g digits).
 *
 * That is deliberate: `'100000000000000000500' > '1000000000000000000600'` as strings, yet the
 * first is ten times smaller as a number, and both exceed 2^53 so `Number()` rounds them together.
 * A consumer that compares sequence numbers as strings or as JavaScript numbers gets caught;
 * compare them as big integers (see `compareSequenceNumbers`).
 */

export const BASE_DIGITS = 21;

/** Gap between consecutive numbers, so nobody relies on them being contiguous. */
const STEP = 100n;

export class SequenceClock {
  private epoch = 0;
  private counter = 0n;

  /** Hands out the next number: larger than every number handed out before. */
  next(): string {
    this.counter += STEP;
    return formatSequenceNumber(this.epoch, this.counter);
  }

  /** Starts a new reshard epoch: every later number is one digit longer. */
  advanceEpoch(): void {
    this.epoch += 1;
  }

  get digits(): number {
    return BASE_DIGITS + this.epoch;
  }
}

export function formatSequenceNumber(epoch: number, counter: bigint): string {
  const width = BASE_DIGITS + epoch - 1;
  const body = counter.toString();
  if (body.length > width) throw new Error(`Sequence counter ${body} does not fit in ${width} digits`);
  return `1${body.padStart(width, '0')}`;
}

export function isSequenceNumber(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9]{1,128}$/.test(value);
}

/** The only correct comparison: as big integers. */
export function compareSequenceNumbers(a: string, b: string): -1 | 0 | 1 {
  const x = BigInt(a);
  const y = BigInt(b);
  if (x < y) return -1;
  return x > y ? 1 : 0;
}
