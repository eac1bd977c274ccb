/**
 * The record processor contract: what a stream application writes, and all it needs to know of the worker.
 * Named as in the Kinesis Client Library (`ShardRecordProcessor`: initialize, processRecords, leaseLost,
 * shardEnded, shutdownRequested). Types only; the package exports them as they are written here.
 */
import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import type { _Record as RawStreamRecord } from '@aws-sdk/client-dynamodb-streams';

/** A DynamoDB value as JavaScript holds it (`@aws-sdk/util-dynamodb`'s unmarshalled form). */
export type NativeValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Set<string>
  | Set<number>
  | Set<bigint>
  | Set<Uint8Array>
  | NativeValue[]
  | { [name: string]: NativeValue };

/** An item (or a key) as plain values: `{ email: 'ada@example.com', visits: 3 }`. */
export type NativeItem = Record<string, NativeValue>;

/** One change of one item, as the stream delivered it. */
export interface ChangeRecord {
  /** INSERT, MODIFY or REMOVE. */
  readonly eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  /** The record's position in its shard: a decimal string; compare with `compareSequenceNumbers`. */
  readonly sequenceNumber: string;
  /** When DynamoDB wrote the change (the stream gives it to the second). */
  readonly approximateCreationTime: Date;
  /** The item's key attributes. */
  readonly keys: NativeItem;
  /** The item after the change (absent for REMOVE, and unless the stream carries new images). */
  readonly newImage: NativeItem | undefined;
  /** The item before the change (absent for INSERT, and unless the stream carries old images). */
  readonly oldImage: NativeItem | undefined;
  /** The record as DynamoDB Streams returned it, with its typed attribute values. */
  readonly raw: RawStreamRecord;
}

/** What every call about a shard names. */
export interface ShardInput {
  readonly shardId: string;
}

export interface InitializationInput extends ShardInput {
  /** Where reading resumes: after this sequence number, or TRIM_HORIZON / LATEST for a new shard. */
  readonly checkpoint: string;
}

export interface ProcessRecordsInput extends ShardInput {
  /** The batch, in the shard's order (at most `maxRecords`; never empty). */
  readonly records: readonly ChangeRecord[];
  /**
   * Aborts when this worker lost the shard's lease (another worker now reads it), when the call outlives
   * `processorTimeoutMs`, or when the worker must stop at once. A graceful stop lets the batch finish.
   * Writes returned after it aborted are not committed.
   */
  readonly signal: AbortSignal;
  /** 1 for the first attempt of these records, 2 for the first retry, and so on. */
  readonly attempt: number;
}

/**
 * One item of the transaction the worker commits with the checkpoint. `item` is a `TransactWriteItems`
 * element as `@aws-sdk/client-dynamodb` types it: a Put, an Update, a Delete or a ConditionCheck, on any table
 * the worker's role may write.
 */
export interface TransactionWrite {
  readonly item: TransactWriteItem;
  /**
   * The sequence number of the newest record this write reflects. It lets the worker commit a batch whose
   * writes do not fit one transaction in several, in sequence order, each moving the checkpoint to its last
   * write's sequence number (so every state between two transactions must be one you accept after a crash);
   * and it names the record if DynamoDB refuses the item. Default: the batch's last record.
   */
  readonly sequenceNumber?: string;
  /**
   * What a failed `ConditionExpression` on this item means. `fail` (default): the batch fails (and is retried,
   * then the poison-record policy applies). `skip`: the write is obsolete (an idempotency key already used, a
   * newer version already there): it is left out and the rest is committed.
   */
  readonly onConditionFailed?: 'fail' | 'skip';
}

/** A record the processor will never be able to process; the worker applies the poison-record policy to it. */
export interface PoisonRecord {
  readonly sequenceNumber: string;
  /** Why, in words an operator can act on: written to the dead-letter table and the `record.poison` event. */
  readonly reason: string;
}

/**
 * What `processRecords` may return. Nothing (`undefined`): the batch is done; the worker checkpoints after it
 * (at most once every `checkpointIntervalMs`). With `writes`: the worker commits them for you.
 */
export interface ProcessRecordsResult {
  /**
   * DynamoDB writes the batch makes. The worker commits them in `TransactWriteItems` together with the
   * checkpoint, fenced by the lease (a worker that lost the lease cannot commit): their effect happens once,
   * even across crashes and lease moves. A transaction holds 100 items, one of which is the lease item, and
   * 4 MB: writes that do not fit are committed in several transactions when they carry `sequenceNumber`s
   * (see TransactionWrite); otherwise the batch is split and `processRecords` called again on each part, and
   * a single record whose writes still do not fit is a poison record.
   */
  readonly writes?: readonly (TransactionWrite | TransactWriteItem)[];
  /**
   * `transaction` (default): as above. `individual`: each write is its own request (`Put`, `Update`, `Delete`
   * as PutItem, UpdateItem, DeleteItem; no ConditionCheck), `writeConcurrency` at a time in no set order, and
   * the checkpoint follows like a batch without writes: at-least-once, so make each write idempotent and
   * order-safe with a condition (`onConditionFailed: 'skip'`; `orderedSequenceNumber` gives a sequence number
   * that compares as text). No transaction cost, no limit on the number of writes.
   */
  readonly commit?: 'transaction' | 'individual';
  /** `individual` writes in flight at once (default 32, 1..256). */
  readonly writeConcurrency?: number;
  /** Records of this batch that can never be processed: the poison-record policy applies to each. */
  readonly poisonRecords?: readonly PoisonRecord[];
}

/** What `prepare` learns about the worker it runs in. */
export interface ProcessorContext {
  readonly applicationName: string;
  readonly streamArn: string;
  /** NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES or KEYS_ONLY. */
  readonly streamViewType: string;
  /** This worker's id (`instanceName`). */
  readonly workerId: string;
  readonly region: string;
}

/**
 * A stream application. One processor object serves every shard the worker holds; each call names its shard.
 * Calls for one shard never overlap, except that a `processRecords` call that outlived `processorTimeoutMs`
 * may still be running (its signal aborted) when the batch is tried again.
 *
 * Delivery is at-least-once, in order per shard (so per item): a batch is checkpointed after
 * `processRecords` resolves; after a crash or a lease move, records after the checkpoint are delivered again.
 * A throw is retried with backoff and jitter; after `processorMaxAttempts` attempts the batch is split to find
 * the record at fault, and the poison-record policy applies to it (`stop`, or `dead-letter`). Nothing is
 * skipped silently.
 */
export interface RecordProcessor {
  /** Once per worker, before any shard is read: check what the processor needs; a throw stops the start. */
  prepare?(context: ProcessorContext): Promise<void> | void;
  /** Before the first batch of a shard this worker took. */
  initialize?(input: InitializationInput): Promise<void> | void;
  processRecords(
    input: ProcessRecordsInput,
  ): Promise<ProcessRecordsResult | undefined> | ProcessRecordsResult | undefined;
  /** The lease moved to another worker: nothing more of this shard comes here; its writes would be refused. */
  leaseLost?(input: ShardInput): Promise<void> | void;
  /** Every record of a closed shard was processed and checkpointed (`SHARD_END`); its children follow. */
  shardEnded?(input: ShardInput): Promise<void> | void;
  /** The worker is stopping gracefully: the last batch is processed and checkpointed; flush what you buffer. */
  shutdownRequested?(input: ShardInput): Promise<void> | void;
  /** Once per worker, after its last shard stopped: release what `prepare` opened. */
  close?(): Promise<void> | void;
}
