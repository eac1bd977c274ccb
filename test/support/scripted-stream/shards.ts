/**
 * TEST FIXTURE — the pure shard model of the scripted DynamoDB Streams endpoint: shards with hash
 * ranges and lineage, their records, closing (rollover or split), trimming, and iterator positions.
 * No I/O here; `api.ts` turns it into DynamoDB Streams operations.
 *
 * A position is the index of the next record in a shard's `records` (which keeps trimmed records so
 * indexes stay stable); records before `trimIndex` are gone.
 */
import { createHash } from 'node:crypto';
import { containsHash, type HashKeyRange, halve, splitEvenly } from './hash-range.js';
import type { WireItem } from './images.js';
import type { SequenceClock } from './sequence.js';

export type EventName = 'INSERT' | 'MODIFY' | 'REMOVE';

/** A stream record exactly as GetRecords sends it in JSON. */
export interface WireStreamRecord {
  readonly eventID: string;
  readonly eventName: EventName;
  readonly eventVersion: '1.1';
  readonly eventSource: 'aws:dynamodb';
  readonly awsRegion: string;
  readonly dynamodb: {
    /** Epoch seconds. */
    readonly ApproximateCreationDateTime: number;
    readonly Keys: WireItem;
    readonly NewImage?: WireItem;
    readonly OldImage?: WireItem;
    readonly SequenceNumber: string;
    readonly SizeBytes: number;
    readonly StreamViewType: 'NEW_AND_OLD_IMAGES';
  };
}

export interface Shard {
  readonly shardId: string;
  readonly parentShardId: string | undefined;
  readonly hashRange: HashKeyRange;
  readonly generation: number;
  readonly startingSequenceNumber: string;
  endingSequenceNumber: string | undefined;
  readonly records: WireStreamRecord[];
  trimIndex: number;
  /** Dropped from the stream, as a closed shard is 24 h after its end. */
  expired: boolean;
  /** Returned by DescribeStream at least once. */
  listed: boolean;
}

export const ITERATOR_TYPES = [
  'TRIM_HORIZON',
  'LATEST',
  'AT_SEQUENCE_NUMBER',
  'AFTER_SEQUENCE_NUMBER',
] as const;
export type IteratorType = (typeof ITERATOR_TYPES)[number];

export type Positioned = { readonly position: number } | { readonly trimmed: true };

export interface Batch {
  readonly records: WireStreamRecord[];
  readonly next: number;
  /** The shard is closed and everything in it has been read: no next iterator. */
  readonly drained: boolean;
}

export class ShardMap {
  private readonly shards: Shard[] = [];
  private readonly byId = new Map<string, Shard>();
  private created = 0;

  constructor(
    private readonly sequences: SequenceClock,
    shardCount: number,
    private readonly idSeed: string,
    private readonly idBase: number = Date.now(),
  ) {
    for (const range of splitEvenly(shardCount)) this.add(range, undefined, 0);
  }

  all(): readonly Shard[] {
    return this.shards;
  }

  get(shardId: string): Shard | undefined {
    return this.byId.get(shardId);
  }

  open(): Shard[] {
    return this.shards.filter((shard) => isOpen(shard));
  }

  /** The open shard whose range contains `hash`; open ranges always cover the whole hash space. */
  ownerOf(hash: bigint): Shard {
    const owner = this.shards.find((shard) => isOpen(shard) && containsHash(shard.hashRange, hash));
    if (!owner) throw new Error(`No open shard owns hash ${hash}`);
    return owner;
  }

  append(
    hash: bigint,
    build: (sequenceNumber: string) => WireStreamRecord,
  ): { shard: Shard; record: WireStreamRecord } {
    const shard = this.ownerOf(hash);
    const record = build(this.sequences.next());
    shard.records.push(record);
    return { shard, record };
  }

  /** Ends `shardId` and opens one child with the same range (rollover) or two with its halves (split). */
  close(shardId: string, childCount: 1 | 2): Shard[] {
    const parent = this.mustGet(shardId);
    if (!isOpen(parent)) throw new Error(`Shard ${shardId} is already closed`);
    parent.endingSequenceNumber = this.sequences.next();
    this.sequences.advanceEpoch();
    const ranges = childCount === 1 ? [parent.hashRange] : halve(parent.hashRange);
    return ranges.map((range) => this.add(range, parent.shardId, parent.generation + 1));
  }

  /** Trims the records up to and including `upToSequenceNumber` (all records when absent). */
  trim(shardId: string, upToSequenceNumber?: string): number {
    const shard = this.mustGet(shardId);
    const limit = upToSequenceNumber === undefined ? undefined : BigInt(upToSequenceNumber);
    const count =
      limit === undefined ? shard.records.length : shard.records.filter((r) => sequenceOf(r) <= limit).length;
    shard.trimIndex = Math.max(shard.trimIndex, count);
    return shard.trimIndex;
  }

  expire(shardId: string): void {
    const shard = this.mustGet(shardId);
    if (isOpen(shard)) throw new Error(`Shard ${shardId} is open; only closed shards age out of a stream`);
    shard.expired = true;
  }

  /** One DescribeStream page, in creation order (shard ids sort that way). */
  page(
    exclusiveStartShardId: string | undefined,
    limit: number,
    hidden: (shard: Shard) => boolean,
  ): { shards: Shard[]; lastEvaluatedShardId: string | undefined } {
    const visible = this.shards.filter(
      (shard) =>
        !shard.expired &&
        !hidden(shard) &&
        (exclusiveStartShardId === undefined || shard.shardId > exclusiveStartShardId),
    );
    const shards = visible.slice(0, limit);
    const more = visible.length > limit;
    return { shards, lastEvaluatedShardId: more ? shards.at(-1)?.shardId : undefined };
  }

  private add(hashRange: HashKeyRange, parentShardId: string | undefined, generation: number): Shard {
    const shard: Shard = {
      shardId: this.nextShardId(),
      parentShardId,
      hashRange,
      generation,
      startingSequenceNumber: this.sequences.next(),
      endingSequenceNumber: undefined,
      records: [],
      trimIndex: 0,
      expired: false,
      listed: false,
    };
    this.shards.push(shard);
    this.byId.set(shard.shardId, shard);
    return shard;
  }

  /** `shardId-<20 digits, increasing>-<8 hex>`, the shape real DynamoDB Streams uses. */
  private nextShardId(): string {
    const index = this.created++;
    const digits = String(this.idBase + index).padStart(20, '0');
    const suffix = createHash('md5').update(`${this.idSeed}/${index}`).digest('hex').slice(0, 8);
    return `shardId-${digits}-${suffix}`;
  }

  private mustGet(shardId: string): Shard {
    const shard = this.byId.get(shardId);
    if (!shard) throw new Error(`Unknown shard ${shardId}`);
    return shard;
  }
}

export function isOpen(shard: Shard): boolean {
  return shard.endingSequenceNumber === undefined;
}

export function sequenceOf(record: WireStreamRecord): bigint {
  return BigInt(record.dynamodb.SequenceNumber);
}

/** Where an iterator of `type` starts; AT/AFTER positions before the trim horizon are trimmed. */
export function startPosition(shard: Shard, type: IteratorType, sequenceNumber?: string): Positioned {
  switch (type) {
    case 'TRIM_HORIZON':
      return { position: shard.trimIndex };
    case 'LATEST':
      return { position: shard.records.length };
    case 'AT_SEQUENCE_NUMBER':
      return fromSequence(shard, (seq) => seq >= BigInt(sequenceNumber ?? '0'));
    case 'AFTER_SEQUENCE_NUMBER':
      return fromSequence(shard, (seq) => seq > BigInt(sequenceNumber ?? '0'));
  }
}

function fromSequence(shard: Shard, isAtOrPast: (seq: bigint) => boolean): Positioned {
  const index = shard.records.findIndex((record) => isAtOrPast(sequenceOf(record)));
  const position = index === -1 ? shard.records.length : index;
  return position < shard.trimIndex ? { trimmed: true } : { position };
}

/** Up to `limit` records from `position`; `undefined` when the position has been trimmed away. */
export function readBatch(shard: Shard, position: number, limit: number): Batch | undefined {
  if (position < shard.trimIndex) return undefined;
  const records = shard.records.slice(position, position + limit);
  const next = position + records.length;
  return { records, next, drained: !isOpen(shard) && next >= shard.records.length };
}
