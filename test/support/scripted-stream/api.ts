/**
 * TEST FIXTURE — the four DynamoDB Streams operations of the scripted endpoint, on top of the pure
 * shard model: input validation, iterators, paging, and the scripted faults. JSON in, JSON out;
 * failures are thrown as `StreamsApiError` and rendered by the HTTP layer.
 *
 * Iterators are self-describing tokens shaped like real ones (`<stream arn>|1|<opaque>`). Each one
 * remembers the iterator generation it was issued in; `expireIterators()` starts a new generation,
 * so every iterator handed out before answers ExpiredIteratorException.
 */
import type { Faults } from './faults.js';
import { type KeySchemaSpec, keyAttributes } from './images.js';
import { type Operation, StreamsApiError } from './protocol.js';
import { isSequenceNumber } from './sequence.js';
import {
  ITERATOR_TYPES,
  type IteratorType,
  readBatch,
  type Shard,
  type ShardMap,
  startPosition,
} from './shards.js';

export type JsonObject = Record<string, unknown>;

export interface StreamIdentity {
  readonly streamArn: string;
  readonly streamLabel: string;
  readonly tableName: string;
  readonly keySchema: KeySchemaSpec;
  /** Epoch seconds. */
  readonly createdAt: number;
}

interface IteratorState {
  readonly shardId: string;
  readonly position: number;
  readonly generation: number;
}

export class StreamsApi {
  private iteratorGeneration = 0;

  constructor(
    private readonly stream: StreamIdentity,
    private readonly shards: ShardMap,
    private readonly faults: Faults,
  ) {}

  /** Every iterator issued so far answers ExpiredIteratorException from now on. */
  expireIterators(): void {
    this.iteratorGeneration += 1;
  }

  handle(operation: Operation, input: JsonObject): JsonObject {
    const fault = this.faults.before(operation);
    if (fault) throw fault;
    switch (operation) {
      case 'DescribeStream':
        return this.describeStream(input);
      case 'ListStreams':
        return this.listStreams(input);
      case 'GetShardIterator':
        return this.getShardIterator(input);
      case 'GetRecords':
        return this.getRecords(input);
    }
  }

  private describeStream(input: JsonObject): JsonObject {
    this.requireStream(requiredString(input, 'StreamArn'));
    const limit = limitOf(input, 100, 100);
    const inconsistent = this.faults.listingInconsistent();
    const hidden = (shard: Shard): boolean =>
      inconsistent && shard.parentShardId !== undefined && !shard.listed;
    const page = this.shards.page(optionalString(input, 'ExclusiveStartShardId'), limit, hidden);
    for (const shard of page.shards) shard.listed = true;
    const { streamArn, streamLabel, tableName, createdAt, keySchema } = this.stream;
    return {
      StreamDescription: {
        StreamArn: streamArn,
        StreamLabel: streamLabel,
        StreamStatus: 'ENABLED',
        StreamViewType: 'NEW_AND_OLD_IMAGES',
        CreationRequestDateTime: createdAt,
        TableName: tableName,
        KeySchema: keyAttributes(keySchema).map((attribute, index) => ({
          AttributeName: attribute.name,
          KeyType: index === 0 ? 'HASH' : 'RANGE',
        })),
        Shards: page.shards.map(describeShard),
        ...(page.lastEvaluatedShardId ? { LastEvaluatedShardId: page.lastEvaluatedShardId } : {}),
      },
    };
  }

  private listStreams(input: JsonObject): JsonObject {
    limitOf(input, 100, 100);
    const tableName = optionalString(input, 'TableName');
    const after = optionalString(input, 'ExclusiveStartStreamArn');
    const { streamArn, streamLabel, tableName: ownTable } = this.stream;
    const matches = (tableName === undefined || tableName === ownTable) && after !== streamArn;
    return {
      Streams: matches ? [{ StreamArn: streamArn, TableName: ownTable, StreamLabel: streamLabel }] : [],
    };
  }

  private getShardIterator(input: JsonObject): JsonObject {
    this.requireStream(requiredString(input, 'StreamArn'));
    const shard = this.requireShard(requiredString(input, 'ShardId'));
    const type = iteratorTypeOf(input);
    const sequenceNumber = optionalString(input, 'SequenceNumber');
    if (type === 'AT_SEQUENCE_NUMBER' || type === 'AFTER_SEQUENCE_NUMBER') {
      if (!isSequenceNumber(sequenceNumber)) {
        throw new StreamsApiError('ValidationException', `${type} needs a valid SequenceNumber`);
      }
    }
    const start = startPosition(shard, type, sequenceNumber);
    if ('trimmed' in start) {
      throw new StreamsApiError(
        'TrimmedDataAccessException',
        `Sequence number ${sequenceNumber} of shard ${shard.shardId} is beyond the trim horizon`,
      );
    }
    return { ShardIterator: this.encodeIterator(shard.shardId, start.position) };
  }

  private getRecords(input: JsonObject): JsonObject {
    const state = this.decodeIterator(requiredString(input, 'ShardIterator'));
    const limit = limitOf(input, 1000, 1000);
    if (state.generation < this.iteratorGeneration) {
      throw new StreamsApiError('ExpiredIteratorException', 'Iterator expired');
    }
    const shard = this.requireShard(state.shardId);
    const batch = readBatch(shard, state.position, limit);
    if (!batch) {
      throw new StreamsApiError(
        'TrimmedDataAccessException',
        `The iterator of shard ${shard.shardId} points at records beyond the trim horizon`,
      );
    }
    return {
      Records: batch.records,
      ...(batch.drained ? {} : { NextShardIterator: this.encodeIterator(shard.shardId, batch.next) }),
    };
  }

  private requireStream(streamArn: string): void {
    if (streamArn !== this.stream.streamArn) {
      throw new StreamsApiError(
        'ResourceNotFoundException',
        `Requested resource not found: Stream: ${streamArn}`,
      );
    }
  }

  private requireShard(shardId: string): Shard {
    const shard = this.shards.get(shardId);
    if (!shard || shard.expired) {
      throw new StreamsApiError(
        'ResourceNotFoundException',
        `Requested resource not found: Shard: ${shardId}`,
      );
    }
    return shard;
  }

  private encodeIterator(shardId: string, position: number): string {
    const state: IteratorState = { shardId, position, generation: this.iteratorGeneration };
    return `${this.stream.streamArn}|1|${Buffer.from(JSON.stringify(state)).toString('base64url')}`;
  }

  private decodeIterator(token: string): IteratorState {
    const invalid = new StreamsApiError('ValidationException', 'Invalid ShardIterator');
    const [arn, version, opaque, ...rest] = token.split('|');
    if (arn !== this.stream.streamArn || version !== '1' || opaque === undefined || rest.length > 0)
      throw invalid;
    try {
      const state: unknown = JSON.parse(Buffer.from(opaque, 'base64url').toString('utf8'));
      if (isIteratorState(state)) return state;
    } catch {
      // fall through to the validation error
    }
    throw invalid;
  }
}

function describeShard(shard: Shard): JsonObject {
  return {
    ShardId: shard.shardId,
    SequenceNumberRange: {
      StartingSequenceNumber: shard.startingSequenceNumber,
      ...(shard.endingSequenceNumber ? { EndingSequenceNumber: shard.endingSequenceNumber } : {}),
    },
    ...(shard.parentShardId ? { ParentShardId: shard.parentShardId } : {}),
  };
}

function isIteratorState(value: unknown): value is IteratorState {
  if (typeof value !== 'object' || value === null) return false;
  const { shardId, position, generation } = value as Record<string, unknown>;
  return typeof shardId === 'string' && Number.isInteger(position) && Number.isInteger(generation);
}

function iteratorTypeOf(input: JsonObject): IteratorType {
  const type = requiredString(input, 'ShardIteratorType');
  const known = ITERATOR_TYPES.find((candidate) => candidate === type);
  if (!known) throw new StreamsApiError('ValidationException', `Unknown ShardIteratorType ${type}`);
  return known;
}

function requiredString(input: JsonObject, name: string): string {
  const value = optionalString(input, name);
  if (value === undefined || value === '') {
    throw new StreamsApiError('ValidationException', `1 validation error detected: ${name} must not be null`);
  }
  return value;
}

function optionalString(input: JsonObject, name: string): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new StreamsApiError('SerializationException', `${name} must be a string`);
  return value;
}

/** `Limit`, between 1 and `max`, `fallback` when absent. */
function limitOf(input: JsonObject, max: number, fallback: number): number {
  const value = input.Limit;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new StreamsApiError('SerializationException', 'Limit must be an integer');
  }
  if (value < 1 || value > max) {
    throw new StreamsApiError(
      'ValidationException',
      `1 validation error detected: Value '${value}' at 'limit' failed to satisfy constraint: ` +
        `Member must have value between 1 and ${max}`,
    );
  }
  return value;
}
