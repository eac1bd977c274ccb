/**
 * TEST FIXTURE (not product code): a scripted DynamoDB Streams endpoint.
 *
 * A small `node:http` server on 127.0.0.1 that speaks the DynamoDB Streams JSON 1.0 protocol
 * (DescribeStream, ListStreams, GetShardIterator, GetRecords), so the real `DynamoDBStreamsClient`
 * (given `endpoint`, or `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`) and the real consumer run against it
 * unchanged. It makes the stream shapes DynamoDB Local cannot: many open shards, rollovers and splits,
 * trimmed data, throttling, expired iterators, inconsistent listings, server errors.
 *
 * Writes are real: `put` / `update` / `remove` apply the change to the source table in DynamoDB Local
 * (created if absent, no stream needed) and then append a NEW_AND_OLD_IMAGES record to the open shard
 * whose hash-key range holds the partition key. INSERT / MODIFY / REMOVE follow the fixture's own view
 * of the table (it assumes it is the only writer); a write that changes nothing appends no record,
 * as in DynamoDB Streams. Writes run one at a time, in call order.
 *
 * SEQUENCE NUMBERS ARE A TRAP ON PURPOSE. They are decimal strings that grow with time across the
 * whole stream, and every reshard (`closeShard`) makes all later numbers one digit longer: a child's
 * numbers are numerically larger than its parent's but LONGER strings (with one lineage, generation g
 * has 21 + g digits). So `'100000000000000000500' > '1000000000000000000600'` as strings while the
 * first is the smaller number, and both exceed 2^53. Consumers must compare them as big integers.
 *
 * Usage:
 * ```ts
 * const stream = await startScriptedStream({
 *   ddbEndpoint: inject('ddbEndpoint'), tableName: 'users-abc',
 *   keySchema: { partitionKey: { name: 'id', type: 'S' } }, shardCount: 4,
 * });
 * const client = new DynamoDBStreamsClient({ endpoint: stream.endpoint, region: 'us-east-1', credentials });
 * const appended = await stream.put({ id: 'u1', name: 'Ada' }); // INSERT, and a real item in users-abc
 * const children = stream.closeShard(appended.shardId, 2); // split: two children with the halves
 * stream.throttle({ calls: 2 });
 * await stream.stop();
 * ```
 */

import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, type NativeAttributeValue, unmarshall } from '@aws-sdk/util-dynamodb';
import { StreamsApi } from './scripted-stream/api.js';
import { Faults, type FaultWindow } from './scripted-stream/faults.js';
import { type HashKeyRange, hashPartitionKey } from './scripted-stream/hash-range.js';
import { startJsonRpcServer } from './scripted-stream/http.js';
import {
  canonicalText,
  type Item,
  itemSize,
  type KeySchemaSpec,
  keyAttributes,
  keyOf,
  partitionValueOf,
  sameItem,
  toWireItem,
} from './scripted-stream/images.js';
import { OPERATIONS, type Operation, type StreamsErrorName } from './scripted-stream/protocol.js';
import { SequenceClock } from './scripted-stream/sequence.js';
import {
  type EventName,
  isOpen,
  type Shard,
  ShardMap,
  type WireStreamRecord,
} from './scripted-stream/shards.js';

export type { FaultWindow } from './scripted-stream/faults.js';
export type { HashKeyRange } from './scripted-stream/hash-range.js';
export type { KeyAttribute, KeySchemaSpec, WireAttributeValue, WireItem } from './scripted-stream/images.js';
export type { Operation, StreamsErrorName } from './scripted-stream/protocol.js';
export { compareSequenceNumbers } from './scripted-stream/sequence.js';
export type { EventName, WireStreamRecord } from './scripted-stream/shards.js';

export type NativeItem = Record<string, NativeAttributeValue>;

export interface ScriptedStreamOptions {
  /** A running DynamoDB Local, e.g. `inject('ddbEndpoint')`. */
  readonly ddbEndpoint: string;
  /** The source table; created (without a stream) when absent. */
  readonly tableName: string;
  readonly keySchema: KeySchemaSpec;
  /** Open shards at start, splitting the hash space evenly. Default 1. */
  readonly shardCount?: number;
  /** Default 'us-east-1'. */
  readonly region?: string;
  /** For DynamoDB Local. Default `{ accessKeyId: 'local', secretAccessKey: 'local' }`. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Account id in the stream ARN. Default '000000000000'. */
  readonly accountId?: string;
  /** Port to listen on; a free one when absent. */
  readonly port?: number;
  /** Clock for record timestamps and `forMs` fault windows. Default `Date.now`. */
  readonly now?: () => number;
}

/** Where a write landed. */
export interface AppendedRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly eventName: EventName;
  readonly eventID: string;
}

export interface ShardSnapshot {
  readonly shardId: string;
  readonly parentShardId: string | undefined;
  /** 0 for the shards the stream starts with, parent's + 1 for children. */
  readonly generation: number;
  readonly hashRange: HashKeyRange;
  readonly startingSequenceNumber: string;
  readonly endingSequenceNumber: string | undefined;
  readonly open: boolean;
  /** Records ever appended, trimmed ones included. */
  readonly recordCount: number;
  readonly trimmedCount: number;
  /** Aged out of the stream (`expireShard`): unlisted, and ResourceNotFoundException. */
  readonly expired: boolean;
}

export interface ScriptedStream {
  /** `http://127.0.0.1:<port>`, for `DynamoDBStreamsClient({ endpoint })`. */
  readonly endpoint: string;
  readonly streamArn: string;
  readonly streamLabel: string;
  readonly tableName: string;
  readonly region: string;

  /** PutItem semantics: replaces the whole item. */
  put(item: NativeItem): Promise<AppendedRecord | undefined>;
  /** Merges top-level attributes into the item (creating it when absent); must carry the key. */
  update(changes: NativeItem): Promise<AppendedRecord | undefined>;
  remove(key: NativeItem): Promise<AppendedRecord | undefined>;

  /** Ends the shard; opens one child with its range (rollover) or two with its halves (split). */
  closeShard(shardId: string, childCount: 1 | 2): ShardSnapshot[];
  /** Drops the shard's records up to and including `upToSequenceNumber` (all so far when absent). */
  trim(shardId: string, upToSequenceNumber?: string): void;
  /** Moves the trim horizon of every shard to `upToSequenceNumber`. */
  trimStream(upToSequenceNumber: string): void;
  /** Removes a closed shard from the stream, as happens 24 h after it ends. */
  expireShard(shardId: string): void;

  /** The next calls answer LimitExceededException (all operations unless narrowed). */
  throttle(window: FaultWindow, operations?: readonly Operation[]): void;
  /** Every iterator issued so far answers ExpiredIteratorException. */
  expireIterators(): void;
  /** DescribeStream hides child shards that no DescribeStream has returned yet, while the window lasts. */
  inconsistentListing(window: FaultWindow): void;
  /** The next `count` calls fail with `error` (HTTP 500 for InternalServerError, 400 otherwise). */
  failNext(count: number, error?: StreamsErrorName, operations?: readonly Operation[]): void;

  /** Requests received per operation, failed ones included. */
  calls(): Record<Operation, number>;
  /** Error answers sent, per error name. */
  errors(): Partial<Record<StreamsErrorName, number>>;
  shards(): ShardSnapshot[];
  openShards(): ShardSnapshot[];
  /** The open shard that a write of this key would go to now. */
  shardFor(key: NativeItem): ShardSnapshot;
  /** The 128-bit hash of the key's partition key value. */
  hashOf(key: NativeItem): bigint;
  /** The shard's untrimmed records, as GetRecords sends them. */
  records(shardId: string): readonly WireStreamRecord[];
  /** The fixture's view of the source table. */
  items(): NativeItem[];
  /** Environment for a worker process pointed at this stream. */
  workerEnv(): Record<string, string>;
  stop(): Promise<void>;
}

const DEFAULT_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export async function startScriptedStream(options: ScriptedStreamOptions): Promise<ScriptedStream> {
  const region = options.region ?? 'us-east-1';
  const now = options.now ?? Date.now;
  const ddb = new DynamoDBClient({
    endpoint: options.ddbEndpoint,
    region,
    credentials: options.credentials ?? DEFAULT_CREDENTIALS,
  });
  await ensureTable(ddb, options.tableName, options.keySchema);

  const streamLabel = new Date(now()).toISOString().slice(0, -1);
  const accountId = options.accountId ?? '000000000000';
  const streamArn = `arn:aws:dynamodb:${region}:${accountId}:table/${options.tableName}/stream/${streamLabel}`;
  const shards = new ShardMap(new SequenceClock(), options.shardCount ?? 1, streamArn, now());
  const faults = new Faults(now);
  const identity = {
    streamArn,
    streamLabel,
    tableName: options.tableName,
    keySchema: options.keySchema,
    createdAt: Math.floor(now() / 1000),
  };
  const api = new StreamsApi(identity, shards, faults);
  const counters = new CallCounters();
  const server = await startJsonRpcServer(
    (operation, input) => api.handle(operation, input),
    (operation, error) => counters.record(operation, error?.errorName),
    options.port,
  );
  return new ScriptedStreamFixture({ ...identity, region, now, ddb, shards, faults, api, counters, server });
}

async function ensureTable(ddb: DynamoDBClient, tableName: string, keySchema: KeySchemaSpec): Promise<void> {
  const attributes = keyAttributes(keySchema);
  try {
    await ddb.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
        KeySchema: attributes.map((a, index) => ({
          AttributeName: a.name,
          KeyType: index === 0 ? 'HASH' : 'RANGE',
        })),
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
  }
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Table ${tableName} did not become ACTIVE`);
}

class CallCounters {
  private readonly perOperation = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<
    Operation,
    number
  >;
  private readonly perError: Partial<Record<StreamsErrorName, number>> = {};

  record(operation: string, error: StreamsErrorName | undefined): void {
    if (operation in this.perOperation) this.perOperation[operation as Operation] += 1;
    if (error) this.perError[error] = (this.perError[error] ?? 0) + 1;
  }

  calls(): Record<Operation, number> {
    return { ...this.perOperation };
  }

  errors(): Partial<Record<StreamsErrorName, number>> {
    return { ...this.perError };
  }
}

interface FixtureParts {
  readonly streamArn: string;
  readonly streamLabel: string;
  readonly tableName: string;
  readonly keySchema: KeySchemaSpec;
  readonly region: string;
  readonly now: () => number;
  readonly ddb: DynamoDBClient;
  readonly shards: ShardMap;
  readonly faults: Faults;
  readonly api: StreamsApi;
  readonly counters: CallCounters;
  readonly server: { readonly endpoint: string; close(): Promise<void> };
}

class ScriptedStreamFixture implements ScriptedStream {
  readonly endpoint: string;
  readonly streamArn: string;
  readonly streamLabel: string;
  readonly tableName: string;
  readonly region: string;
  /** The fixture's view of the source table, by canonical key text. */
  private readonly view = new Map<string, Item>();
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly parts: FixtureParts) {
    this.endpoint = parts.server.endpoint;
    this.streamArn = parts.streamArn;
    this.streamLabel = parts.streamLabel;
    this.tableName = parts.tableName;
    this.region = parts.region;
  }

  put(item: NativeItem): Promise<AppendedRecord | undefined> {
    const image = marshall(item, { removeUndefinedValues: true });
    const key = keyOf(image, this.parts.keySchema);
    return this.serially(async () => {
      await this.parts.ddb.send(new PutItemCommand({ TableName: this.tableName, Item: image }));
      return this.record(key, image);
    });
  }

  update(changes: NativeItem): Promise<AppendedRecord | undefined> {
    const delta = marshall(changes, { removeUndefinedValues: true });
    const key = keyOf(delta, this.parts.keySchema);
    return this.serially(async () => {
      const image = { ...this.view.get(canonicalText(key)), ...delta };
      await this.parts.ddb.send(new PutItemCommand({ TableName: this.tableName, Item: image }));
      return this.record(key, image);
    });
  }

  remove(keyItem: NativeItem): Promise<AppendedRecord | undefined> {
    const key = keyOf(marshall(keyItem, { removeUndefinedValues: true }), this.parts.keySchema);
    return this.serially(async () => {
      await this.parts.ddb.send(new DeleteItemCommand({ TableName: this.tableName, Key: key }));
      return this.record(key, undefined);
    });
  }

  closeShard(shardId: string, childCount: 1 | 2): ShardSnapshot[] {
    return this.parts.shards.close(shardId, childCount).map(snapshot);
  }

  trim(shardId: string, upToSequenceNumber?: string): void {
    this.parts.shards.trim(shardId, upToSequenceNumber);
  }

  trimStream(upToSequenceNumber: string): void {
    for (const shard of this.parts.shards.all()) this.parts.shards.trim(shard.shardId, upToSequenceNumber);
  }

  expireShard(shardId: string): void {
    this.parts.shards.expire(shardId);
  }

  throttle(window: FaultWindow, operations?: readonly Operation[]): void {
    this.parts.faults.throttle(window, operations);
  }

  expireIterators(): void {
    this.parts.api.expireIterators();
  }

  inconsistentListing(window: FaultWindow): void {
    this.parts.faults.inconsistentListing(window);
  }

  failNext(
    count: number,
    error: StreamsErrorName = 'InternalServerError',
    operations?: readonly Operation[],
  ): void {
    this.parts.faults.failNext(count, error, operations);
  }

  calls(): Record<Operation, number> {
    return this.parts.counters.calls();
  }

  errors(): Partial<Record<StreamsErrorName, number>> {
    return this.parts.counters.errors();
  }

  shards(): ShardSnapshot[] {
    return this.parts.shards.all().map(snapshot);
  }

  openShards(): ShardSnapshot[] {
    return this.parts.shards.open().map(snapshot);
  }

  shardFor(key: NativeItem): ShardSnapshot {
    return snapshot(this.parts.shards.ownerOf(this.hashOf(key)));
  }

  hashOf(key: NativeItem): bigint {
    return hashPartitionKey(
      partitionValueOf(marshall(key, { removeUndefinedValues: true }), this.parts.keySchema),
    );
  }

  records(shardId: string): readonly WireStreamRecord[] {
    const shard = this.parts.shards.get(shardId);
    if (!shard) throw new Error(`Unknown shard ${shardId}`);
    return shard.records.slice(shard.trimIndex);
  }

  items(): NativeItem[] {
    return [...this.view.values()].map((item) => unmarshall(item));
  }

  workerEnv(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: this.endpoint,
      SOURCE_TABLE_STREAM_ARN: this.streamArn,
      AWS_REGION: this.region,
    };
  }

  async stop(): Promise<void> {
    await this.writes.catch(() => undefined);
    await this.parts.server.close();
    this.parts.ddb.destroy();
  }

  /** Runs writes one at a time, in call order; a failed write does not block later ones. */
  private serially<T>(write: () => Promise<T>): Promise<T> {
    const run = this.writes.then(write, write);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /** Updates the view and appends the stream record; nothing when the write changed nothing. */
  private record(key: Item, newImage: Item | undefined): AppendedRecord | undefined {
    const id = canonicalText(key);
    const oldImage = this.view.get(id);
    if (!oldImage && !newImage) return undefined;
    if (oldImage && newImage && sameItem(oldImage, newImage)) return undefined;
    if (newImage) this.view.set(id, newImage);
    else this.view.delete(id);

    const eventName: EventName = !oldImage ? 'INSERT' : newImage ? 'MODIFY' : 'REMOVE';
    const eventID = randomUUID().replaceAll('-', '');
    const approximateCreation = Math.floor(this.parts.now() / 1000);
    const hash = hashPartitionKey(partitionValueOf(key, this.parts.keySchema));
    const { shard, record } = this.parts.shards.append(hash, (sequenceNumber) => ({
      eventID,
      eventName,
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: this.region,
      dynamodb: {
        ApproximateCreationDateTime: approximateCreation,
        Keys: toWireItem(key),
        ...(newImage ? { NewImage: toWireItem(newImage) } : {}),
        ...(oldImage ? { OldImage: toWireItem(oldImage) } : {}),
        SequenceNumber: sequenceNumber,
        SizeBytes: itemSize(key) + itemSize(newImage) + itemSize(oldImage),
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
    }));
    return { shardId: shard.shardId, sequenceNumber: record.dynamodb.SequenceNumber, eventName, eventID };
  }
}

function snapshot(shard: Shard): ShardSnapshot {
  return {
    shardId: shard.shardId,
    parentShardId: shard.parentShardId,
    generation: shard.generation,
    hashRange: shard.hashRange,
    startingSequenceNumber: shard.startingSequenceNumber,
    endingSequenceNumber: shard.endingSequenceNumber,
    open: isOpen(shard),
    recordCount: shard.records.length,
    trimmedCount: shard.trimIndex,
    expired: shard.expired,
  };
}
