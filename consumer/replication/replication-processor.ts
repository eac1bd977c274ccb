/**
 * Replication, the built-in stream application: every change of the source table is applied to a target
 * table (`users` → `users_replica`), with `processed_by` stamped on each item. It is an ordinary record
 * processor written against the public contract only (no worker internals): a batch becomes one guarded write
 * per item, and the worker commits them.
 *
 * - Coalesced: one write per item per batch (the last change of each key wins: its new image is the whole
 *   item; a REMOVE deletes it), so repeated changes cost one write.
 * - Order-safe: each replica item carries `_streamfleet_seq`, the sequence number of the change that wrote it
 *   in a fixed-width form (string order = numeric order), and every put and delete is conditional on
 *   `attribute_not_exists(_streamfleet_seq) OR _streamfleet_seq < :seq`; a failed condition means the replica
 *   already has this change or a newer one, so the write is skipped (`onConditionFailed: 'skip'`).
 * - fenced (default): the writes go the transactional path, with the checkpoint, fenced by the lease: a worker
 *   that lost its lease cannot write at all, which also closes the one hole the guard leaves (re-creating an
 *   item that a newer REMOVE already deleted). Each write carries its change's sequence number, so a batch of
 *   more than 99 items is committed in several transactions in sequence order, each moving the checkpoint.
 * - conditional: the writes go one by one, `writeConcurrency` in flight: half the write capacity of a
 *   transactional write on AWS, at the price of that hole for a worker that lost its lease unawares.
 */
import {
  type AttributeValue,
  DescribeTableCommand,
  DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { ConfigurationError, errorName, ResourceError } from '../../core/vocabulary/errors.js';
import { REPLICA_BOOKKEEPING } from '../../core/vocabulary/replica-item.js';
import { compareSequenceNumbers, toOrderedSequence } from '../../core/vocabulary/sequence.js';
import type {
  ChangeRecord,
  ProcessorContext,
  ProcessRecordsInput,
  ProcessRecordsResult,
  RecordProcessor,
  TransactionWrite,
} from '../processor/record-processor.js';
import { type ReplicationSettings, readReplicationSettings, WriteMode } from './settings.js';

export const SEQUENCE_ATTRIBUTE = REPLICA_BOOKKEEPING.sequence;
export const PROCESSED_BY_ATTRIBUTE = REPLICA_BOOKKEEPING.processedBy;

type Image = Record<string, AttributeValue>;

const GUARD = 'attribute_not_exists(#seq) OR #seq < :seq';

/** One item's change, the newest of its batch. */
export interface ItemChange {
  /** Canonical form of the key, equal for equal keys. */
  id: string;
  keys: Image;
  kind: 'put' | 'delete';
  /** The item after the change (absent for deletes). */
  newImage: Image | undefined;
  sequenceNumber: string;
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

/** A change that has no new image to copy: the stream does not carry new images. */
export class MissingImageError extends Error {
  override readonly name = 'MissingImageError';
}

function toItemChange(record: ChangeRecord): ItemChange {
  const data = record.raw.dynamodb;
  const keys = (data?.Keys ?? {}) as Image;
  if (record.eventName === 'REMOVE') {
    return {
      id: canonicalKey(keys),
      keys,
      kind: 'delete',
      newImage: undefined,
      sequenceNumber: record.sequenceNumber,
    };
  }
  if (!data?.NewImage) {
    throw new MissingImageError(
      `Stream record ${record.sequenceNumber} (${record.eventName}) has no NewImage: the stream view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES.`,
    );
  }
  return {
    id: canonicalKey(keys),
    keys,
    kind: 'put',
    newImage: data.NewImage as Image,
    sequenceNumber: record.sequenceNumber,
  };
}

/** One change per item, the latest by sequence number, in first-seen order. Pure. */
export function coalesce(records: readonly ChangeRecord[]): ItemChange[] {
  const byId = new Map<string, ItemChange>();
  for (const record of records) {
    const change = toItemChange(record);
    const previous = byId.get(change.id);
    if (!previous || compareSequenceNumbers(change.sequenceNumber, previous.sequenceNumber) > 0)
      byId.set(change.id, change);
  }
  return [...byId.values()];
}

/** The replica item: the new image, plus who wrote it and the sequence number of the change. */
export function replicaItem(change: ItemChange, instanceName: string): Image {
  return {
    ...(change.newImage as Image),
    [PROCESSED_BY_ATTRIBUTE]: { S: instanceName },
    [SEQUENCE_ATTRIBUTE]: { S: toOrderedSequence(change.sequenceNumber) },
  };
}

/** The guarded write of one change: skipped when the replica already has it or something newer. */
export function replicaWrite(change: ItemChange, tableName: string, instanceName: string): TransactionWrite {
  const guard = {
    ConditionExpression: GUARD,
    ExpressionAttributeNames: { '#seq': SEQUENCE_ATTRIBUTE },
    ExpressionAttributeValues: { ':seq': { S: toOrderedSequence(change.sequenceNumber) } },
  };
  const item: TransactWriteItem =
    change.kind === 'put'
      ? { Put: { TableName: tableName, Item: replicaItem(change, instanceName), ...guard } }
      : { Delete: { TableName: tableName, Key: change.keys, ...guard } };
  return { item, sequenceNumber: change.sequenceNumber, onConditionFailed: 'skip' };
}

export type ReplicationOptions = {
  /** The table to replicate into; it must exist, with the source's key schema. */
  targetTableName: string;
  /** `fenced` (default) or `conditional`. */
  writeMode?: WriteMode;
  /** Conditional mode: writes in flight per shard (default 32). Fenced mode accepts only 1. */
  writeConcurrency?: number;
};

/** The built-in replication as a record processor; `startWorker({ processor: replicationProcessor({ … }) })`. */
export function replicationProcessor(options: ReplicationOptions): RecordProcessor {
  const settings = readReplicationSettings(options, 'options', { applicationName: '' });
  return new ReplicationProcessor(settings);
}

/** Replication with settings already checked (the container reads them from its environment). */
export class ReplicationProcessor implements RecordProcessor {
  private workerId = '';

  constructor(readonly settings: ReplicationSettings) {}

  async prepare(context: ProcessorContext): Promise<void> {
    const { targetTableName } = this.settings;
    this.workerId = context.workerId;
    if (context.applicationName === targetTableName) {
      throw new ConfigurationError(
        'applicationName',
        `"${context.applicationName}" names the lease table and must differ from the source and target tables.`,
      );
    }
    if (context.streamViewType !== 'NEW_AND_OLD_IMAGES' && context.streamViewType !== 'NEW_IMAGE') {
      throw new ResourceError(
        `Stream ${context.streamArn} has view type ${context.streamViewType}; replication needs the new image. ` +
          'Set the table stream to NEW_AND_OLD_IMAGES (aws dynamodb update-table --stream-specification ...).',
      );
    }
    const client = new DynamoDBClient({ region: context.region, maxAttempts: 3 });
    try {
      await client.send(new DescribeTableCommand({ TableName: targetTableName }));
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') {
        throw new ResourceError(
          `Table ${targetTableName} (TARGET_TABLE_NAME) does not exist. Create it with the source table's key schema first.`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      client.destroy();
    }
  }

  processRecords(input: ProcessRecordsInput): ProcessRecordsResult {
    const { targetTableName, writeMode, writeConcurrency } = this.settings;
    const writes = coalesce(input.records).map((change) =>
      replicaWrite(change, targetTableName, this.workerId),
    );
    return writeMode === WriteMode.FENCED
      ? { writes, commit: 'transaction' }
      : { writes, commit: 'individual', writeConcurrency };
  }
}
