/**
 * Order-safe writes into the replica table.
 *
 * Every replica item carries `_streamfleet_seq`: the sequence number of the change that wrote it, zero-padded
 * to a fixed width so DynamoDB's string comparison is numeric order. Every put and delete is conditional on
 * `attribute_not_exists(_streamfleet_seq) OR _streamfleet_seq < :seq`, so a replayed or late write never
 * replaces a newer version; a failed condition means "the replica already has this or newer" and is skipped.
 *
 * Two modes (REPLICATION_WRITE_MODE):
 * - fenced (default): TransactWriteItems of up to 99 guarded writes plus the shard's lease item, conditioned
 *   on this worker still owning it. A worker that lost its lease cannot write at all, which also closes the
 *   one hole the guard leaves: re-creating an item that a newer REMOVE already deleted. The lease item is
 *   not just checked but updated: each transaction moves the checkpoint past what it wrote, so a batch costs
 *   no separate checkpoint request. Every transaction includes the lease item, and on AWS two transactions
 *   that share an item conflict: so one transaction is in flight per shard (the next batch is read while it
 *   commits), and it takes the lease item's gate, so the renewal of that lease never collides with it.
 * - conditional: one guarded PutItem/DeleteItem per item, many in flight. On AWS a transactional write costs
 *   twice the capacity of a plain one and conditional writes scale with concurrency; the price is that a
 *   worker that lost its lease (and has not noticed yet) can re-create an item deleted since.
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/clock.js';
import {
  errorName,
  isConditionalCheckFailure,
  isRetriableAwsError,
  isThrottlingError,
  isTransactionConflict,
  ResourceError,
} from '../../core/errors.js';
import type { LeaseProgress } from '../../core/lease.js';
import { REPLICA_BOOKKEEPING } from '../../core/replica-item.js';
import { backoffDelay, type RetryPolicy } from '../../core/retry.js';
import { compareSequenceNumbers, toOrderedSequence } from '../../core/sequence.js';
import { GatePriority, type LeaseItemGate } from '../leases/lease-item-gate.js';
import { checkpointUpdate, leaseOwnerCheck } from '../leases/lease-refresher.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { approximateItemSize, type Image, type ItemChange } from './change.js';

export const SEQUENCE_ATTRIBUTE = REPLICA_BOOKKEEPING.sequence;
export const PROCESSED_BY_ATTRIBUTE = REPLICA_BOOKKEEPING.processedBy;

const GUARD = 'attribute_not_exists(#seq) OR #seq < :seq';
const MAX_TRANSACTION_ITEMS = 99; // plus the lease ConditionCheck = DynamoDB's limit of 100
const MAX_TRANSACTION_BYTES = 3_500_000; // DynamoDB's limit is 4 MB per transaction
const WRITE_BACKOFF: RetryPolicy = {
  baseDelayMs: 50,
  maxDelayMs: 5_000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/** Where the shard's checkpoint may move once every change of the batch is written. */
export interface BatchPosition {
  /** Sequence number of the batch's last record. */
  sequenceNumber: string;
  progress?: LeaseProgress;
}

export interface WriteContext {
  shardId: string;
  /** Local check that this worker still holds the lease; checked before every request. */
  isHeld: () => boolean;
  signal: AbortSignal;
  /** A writer that can checkpoint with its own writes (fenced) moves the checkpoint to here. */
  checkpoint?: BatchPosition;
}

export interface PoisonChange {
  change: ItemChange;
  reason: string;
}

export type WriteOutcome =
  | {
      status: 'ok';
      applied: number;
      stale: number;
      poison: PoisonChange[];
      /** The checkpoint is at `context.checkpoint`, written with the changes; otherwise the caller writes it. */
      checkpointed: boolean;
    }
  | { status: 'lease-lost' };

type WrittenUnit = Omit<Extract<WriteOutcome, { status: 'ok' }>, 'status' | 'checkpointed'>;

export interface ReplicaWriter {
  write(changes: readonly ItemChange[], context: WriteContext): Promise<WriteOutcome>;
}

export interface ReplicaWriterOptions {
  client: DynamoDBClient;
  targetTableName: string;
  leaseTableName: string;
  instanceName: string;
  /** Item writes in flight per shard (conditional mode; the fenced mode writes one transaction at a time). */
  concurrency: number;
  /** This worker's one-write-at-a-time gate per lease item, shared with the lease refresher. */
  gate: LeaseItemGate;
  clock: Clock;
  metrics: WorkerMetrics;
  events: WorkerEvents;
}

/** The replica item: the new image, plus who wrote it and the sequence number of the change. */
export function replicaItem(change: ItemChange, instanceName: string): Image {
  return {
    ...(change.newImage as Image),
    [PROCESSED_BY_ATTRIBUTE]: { S: instanceName },
    [SEQUENCE_ATTRIBUTE]: { S: toOrderedSequence(change.sequenceNumber) },
  };
}

function guardValues(change: ItemChange) {
  return {
    ConditionExpression: GUARD,
    ExpressionAttributeNames: { '#seq': SEQUENCE_ATTRIBUTE },
    ExpressionAttributeValues: { ':seq': { S: toOrderedSequence(change.sequenceNumber) } },
  };
}

/** Splits changes into transactions within DynamoDB's item-count and size limits. */
export function chunkForTransactions(
  changes: readonly ItemChange[],
  maxItems = MAX_TRANSACTION_ITEMS,
  maxBytes = MAX_TRANSACTION_BYTES,
): ItemChange[][] {
  const chunks: ItemChange[][] = [];
  let current: ItemChange[] = [];
  let bytes = 0;
  for (const change of changes) {
    const size = approximateItemSize(change.newImage ?? change.keys) + 200;
    if (current.length > 0 && (current.length >= maxItems || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(change);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Runs `work` over `items` with at most `limit` in flight; stops starting new ones once `stop()` is true. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
  stop: () => boolean,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !stop()) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

abstract class GuardedWriter implements ReplicaWriter {
  constructor(protected readonly options: ReplicaWriterOptions) {}

  abstract write(changes: readonly ItemChange[], context: WriteContext): Promise<WriteOutcome>;

  protected async backoff(
    error: unknown,
    attempt: number,
    context: WriteContext,
    api: string,
  ): Promise<void> {
    if (errorName(error) === 'ResourceNotFoundException') {
      throw new ResourceError(
        `${api} failed: table ${this.options.targetTableName} (TARGET_TABLE_NAME) or ${this.options.leaseTableName} ` +
          '(the lease table) does not exist. Re-create it; the checkpoint stays before the unwritten records.',
        { cause: error },
      );
    }
    if (isThrottlingError(error)) this.options.metrics.throttles.inc({ api });
    if (!isRetriableAwsError(error) || context.signal.aborted) throw error;
    const delay = backoffDelay(attempt, WRITE_BACKOFF);
    this.options.events.emit(
      'write.failed',
      { shardId: context.shardId, api, error, delayMs: delay },
      `${api} failed; backing off`,
    );
    await this.options.clock.sleep(delay, context.signal);
  }

  /** A transaction cancelled for a conflict or throttling (reasons given): back off, then send it again. */
  protected async pause(attempt: number, context: WriteContext): Promise<void> {
    await this.options.clock.sleep(backoffDelay(attempt, WRITE_BACKOFF), context.signal);
  }

  /** Writes units (transactions or single items) `concurrency` at a time and adds their outcomes up; stops on lease loss. */
  protected async writeAll<T>(
    units: readonly T[],
    concurrency: number,
    writeUnit: (unit: T, index: number) => Promise<WrittenUnit | 'lease-lost'>,
  ): Promise<{ total: WrittenUnit; leaseLost: boolean }> {
    const total: WrittenUnit = { applied: 0, stale: 0, poison: [] };
    let leaseLost = false;
    const indexes = units.map((_, i) => i);
    await inParallel(
      indexes,
      concurrency,
      async (index) => {
        const result = await writeUnit(units[index] as T, index);
        if (result === 'lease-lost') {
          leaseLost = true;
          return;
        }
        total.applied += result.applied;
        total.stale += result.stale;
        total.poison.push(...result.poison);
      },
      () => leaseLost,
    );
    return { total, leaseLost };
  }

  protected putOrDelete(change: ItemChange): { put: Image } | { delete: Image } {
    return change.kind === 'put'
      ? { put: replicaItem(change, this.options.instanceName) }
      : { delete: change.keys };
  }
}

/** The lease-item half of a fenced transaction: the fence, and (while allowed) the checkpoint. */
interface LeaseAction {
  /** Checkpoint written with the chunk; the bare fence when absent. */
  position: BatchPosition | undefined;
}

export class FencedReplicaWriter extends GuardedWriter {
  async write(changes: readonly ItemChange[], context: WriteContext): Promise<WriteOutcome> {
    // In sequence order, so that after each transaction every change up to its last sequence number is written
    // and the checkpoint can move there: a record before it either was written, or belongs to an item whose
    // later change (after the checkpoint) will be read and written again after a restart.
    const ordered = [...changes].sort((a, b) => compareSequenceNumbers(a.sequenceNumber, b.sequenceNumber));
    const chunks = chunkForTransactions(ordered);
    // A record the target refuses must not be checkpointed past before the processor has dealt with it (dead
    // letter, or stop): from the first one on, transactions carry the bare fence only.
    const run = { checkpointing: context.checkpoint !== undefined, checkpointed: false };
    const { total, leaseLost } = await this.writeAll(chunks, 1, (chunk, index) => {
      const last = index === chunks.length - 1;
      const position = last
        ? context.checkpoint
        : { sequenceNumber: (chunk.at(-1) as ItemChange).sequenceNumber };
      return this.writeChunk(chunk, context, run, last, position);
    });
    if (leaseLost) return { status: 'lease-lost' };
    return { status: 'ok', ...total, checkpointed: run.checkpointed };
  }

  private transactItem(change: ItemChange): TransactWriteItem {
    const target = this.putOrDelete(change);
    const table = this.options.targetTableName;
    return 'put' in target
      ? { Put: { TableName: table, Item: target.put, ...guardValues(change) } }
      : { Delete: { TableName: table, Key: target.delete, ...guardValues(change) } };
  }

  private leaseItem(shardId: string, action: LeaseAction): TransactWriteItem {
    const { leaseTableName, instanceName } = this.options;
    return action.position
      ? {
          Update: checkpointUpdate(
            leaseTableName,
            shardId,
            instanceName,
            action.position.sequenceNumber,
            action.position.progress,
          ),
        }
      : { ConditionCheck: leaseOwnerCheck(leaseTableName, shardId, instanceName) };
  }

  private async writeChunk(
    chunk: ItemChange[],
    context: WriteContext,
    run: { checkpointing: boolean; checkpointed: boolean },
    last: boolean,
    position: BatchPosition | undefined,
  ): Promise<WrittenUnit | 'lease-lost'> {
    const { client, metrics, gate } = this.options;
    let pending = chunk;
    let applied = 0;
    let stale = 0;
    const poison: PoisonChange[] = [];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (!context.isHeld()) return 'lease-lost';
      const action: LeaseAction = { position: run.checkpointing ? position : undefined };
      const items = [this.leaseItem(context.shardId, action), ...pending.map((c) => this.transactItem(c))];
      try {
        await gate.run(context.shardId, GatePriority.WRITE, () =>
          client.send(new TransactWriteItemsCommand({ TransactItems: items }), {
            abortSignal: context.signal,
          }),
        );
        applied += pending.length;
        metrics.replicaWrites.inc({ outcome: 'applied' }, pending.length);
        if (action.position) metrics.checkpoints.inc();
        if (last && action.position) run.checkpointed = true;
        pending = [];
      } catch (error) {
        const name = errorName(error);
        if (name === 'TransactionCanceledException') {
          const reasons =
            (error as { CancellationReasons?: { Code?: string; Message?: string }[] }).CancellationReasons ??
            [];
          if (reasons[0]?.Code === 'ConditionalCheckFailed') {
            // The fence: the lease item is no longer ours, so none of these items was written.
            metrics.replicaWrites.inc({ outcome: 'fenced' }, pending.length);
            return 'lease-lost';
          }
          const keep: ItemChange[] = [];
          pending.forEach((change, i) => {
            const reason = reasons[i + 1];
            const code = reason?.Code ?? 'None';
            if (code === 'ConditionalCheckFailed') {
              stale++;
              metrics.replicaWrites.inc({ outcome: 'stale-skipped' });
            } else if (code === 'ValidationError') {
              poison.push({ change, reason: reason?.Message ?? 'ValidationError' });
              run.checkpointing = false;
            } else {
              keep.push(change);
            }
          });
          // Items refused for good are out; what is left failed on a conflict or throttling: back off.
          const progressed = keep.length < pending.length;
          pending = keep;
          if (!progressed && pending.length > 0) {
            const codes = reasons.map((r) => r.Code ?? 'None');
            if (
              codes.some((code) => code.startsWith('Throttling') || code === 'ProvisionedThroughputExceeded')
            )
              metrics.throttles.inc({ api: 'TransactWriteItems' });
            if (isTransactionConflict(error)) metrics.transactionConflicts.inc({ api: 'TransactWriteItems' });
            await this.pause(attempt, context);
          }
          continue;
        }
        if (name === 'ValidationException') {
          // The request as a whole was refused (e.g. an item over 400 KB): isolate the culprit one by one.
          run.checkpointing = false;
          if (pending.length === 1) {
            poison.push({ change: pending[0] as ItemChange, reason: (error as Error).message });
            pending = [];
            continue;
          }
          for (const change of pending) {
            const single = await this.writeChunk([change], context, run, false, undefined);
            if (single === 'lease-lost') return single;
            applied += single.applied;
            stale += single.stale;
            poison.push(...single.poison);
          }
          pending = [];
          continue;
        }
        await this.backoff(error, attempt, context, 'TransactWriteItems');
      }
    }
    return { applied, stale, poison };
  }
}

export class ConditionalReplicaWriter extends GuardedWriter {
  async write(changes: readonly ItemChange[], context: WriteContext): Promise<WriteOutcome> {
    const { total, leaseLost } = await this.writeAll(
      changes,
      this.options.concurrency,
      async (change): Promise<WrittenUnit | 'lease-lost'> => {
        const outcome = await this.writeOne(change, context);
        if (outcome === 'lease-lost') return outcome;
        return {
          applied: outcome === 'applied' ? 1 : 0,
          stale: outcome === 'stale' ? 1 : 0,
          poison: typeof outcome === 'object' ? [outcome] : [],
        };
      },
    );
    if (leaseLost) return { status: 'lease-lost' };
    return { status: 'ok', ...total, checkpointed: false };
  }

  private async writeOne(
    change: ItemChange,
    context: WriteContext,
  ): Promise<'applied' | 'stale' | 'lease-lost' | PoisonChange> {
    const { client, metrics, targetTableName } = this.options;
    const target = this.putOrDelete(change);
    for (let attempt = 0; ; attempt++) {
      if (!context.isHeld()) return 'lease-lost';
      try {
        const command =
          'put' in target
            ? new PutItemCommand({ TableName: targetTableName, Item: target.put, ...guardValues(change) })
            : new DeleteItemCommand({
                TableName: targetTableName,
                Key: target.delete as Record<string, AttributeValue>,
                ...guardValues(change),
              });
        // biome-ignore lint/suspicious/noExplicitAny: the SDK's send overloads do not accept a union of commands.
        await client.send(command as any, { abortSignal: context.signal });
        metrics.replicaWrites.inc({ outcome: 'applied' });
        return 'applied';
      } catch (error) {
        if (isConditionalCheckFailure(error)) {
          metrics.replicaWrites.inc({ outcome: 'stale-skipped' });
          return 'stale';
        }
        if (errorName(error) === 'ValidationException') return { change, reason: (error as Error).message };
        await this.backoff(error, attempt, context, 'PutItem');
      }
    }
  }
}
