/**
 * Order-safe writes into the replica table.
 *
 * Every replica item carries `_streamfleet_seq`: the sequence number of the change that wrote it, zero-padded
 * to a fixed width so DynamoDB's string comparison is numeric order. Every put and delete is conditional on
 * `attribute_not_exists(_streamfleet_seq) OR _streamfleet_seq < :seq`, so a replayed or late write never
 * replaces a newer version; a failed condition means "the replica already has this or newer" and is skipped.
 *
 * Two modes (REPLICATION_WRITE_MODE):
 * - fenced (default): TransactWriteItems of up to 99 guarded writes plus a ConditionCheck that this worker
 *   still owns the shard's lease. A worker that lost its lease cannot write at all, which also closes the
 *   one hole the guard leaves: re-creating an item that a newer REMOVE already deleted.
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
import {
  errorName,
  isConditionalCheckFailure,
  isRetriableAwsError,
  isThrottlingError,
  ResourceError,
} from '../../core/errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { backoffDelay, type RetryPolicy } from '../retry.js';
import { toOrderedSequence } from '../sequence.js';
import { approximateItemSize, type Image, type ItemChange } from './change.js';

export const SEQUENCE_ATTRIBUTE = '_streamfleet_seq';
export const PROCESSED_BY_ATTRIBUTE = 'processed_by';

const GUARD = 'attribute_not_exists(#seq) OR #seq < :seq';
const MAX_TRANSACTION_ITEMS = 99; // plus the lease ConditionCheck = DynamoDB's limit of 100
const MAX_TRANSACTION_BYTES = 3_500_000; // DynamoDB's limit is 4 MB per transaction
const WRITE_BACKOFF: RetryPolicy = {
  baseDelayMs: 50,
  maxDelayMs: 5_000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

export interface WriteContext {
  shardId: string;
  /** Local check that this worker still holds the lease; checked before every request. */
  isHeld: () => boolean;
  signal: AbortSignal;
}

export interface PoisonChange {
  change: ItemChange;
  reason: string;
}

export type WriteOutcome =
  | { status: 'ok'; applied: number; stale: number; poison: PoisonChange[] }
  | { status: 'lease-lost' };

export interface ReplicaWriter {
  write(changes: readonly ItemChange[], context: WriteContext): Promise<WriteOutcome>;
}

export interface ReplicaWriterOptions {
  client: DynamoDBClient;
  targetTableName: string;
  leaseTableName: string;
  instanceName: string;
  concurrency: number;
  clock: Clock;
  metrics: WorkerMetrics;
  log: Logger;
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
    this.options.log.warn(
      { shardId: context.shardId, err: error, delayMs: delay },
      `${api} failed; backing off`,
    );
    await this.options.clock.sleep(delay, context.signal);
  }

  protected async pause(attempt: number, context: WriteContext, api: string, reason: string): Promise<void> {
    const delay = backoffDelay(attempt, WRITE_BACKOFF);
    this.options.log.debug(
      { shardId: context.shardId, reason, delayMs: delay },
      `${api} cancelled; retrying`,
    );
    await this.options.clock.sleep(delay, context.signal);
  }

  /** Writes units (transactions or single items) in parallel and adds their outcomes up; stops on lease loss. */
  protected async writeAll<T>(
    units: readonly T[],
    writeUnit: (unit: T) => Promise<WriteOutcome>,
  ): Promise<WriteOutcome> {
    const total = { status: 'ok' as const, applied: 0, stale: 0, poison: [] as PoisonChange[] };
    let leaseLost = false;
    await inParallel(
      units,
      this.options.concurrency,
      async (unit) => {
        const result = await writeUnit(unit);
        if (result.status === 'lease-lost') {
          leaseLost = true;
          return;
        }
        total.applied += result.applied;
        total.stale += result.stale;
        total.poison.push(...result.poison);
      },
      () => leaseLost,
    );
    return leaseLost ? { status: 'lease-lost' } : total;
  }

  protected putOrDelete(change: ItemChange): { put: Image } | { delete: Image } {
    return change.kind === 'put'
      ? { put: replicaItem(change, this.options.instanceName) }
      : { delete: change.keys };
  }
}

export class FencedReplicaWriter extends GuardedWriter {
  write(changes: readonly ItemChange[], context: WriteContext): Promise<WriteOutcome> {
    return this.writeAll(chunkForTransactions(changes), (chunk) => this.writeChunk(chunk, context));
  }

  private transactItem(change: ItemChange): TransactWriteItem {
    const target = this.putOrDelete(change);
    const table = this.options.targetTableName;
    return 'put' in target
      ? { Put: { TableName: table, Item: target.put, ...guardValues(change) } }
      : { Delete: { TableName: table, Key: target.delete, ...guardValues(change) } };
  }

  private async writeChunk(chunk: ItemChange[], context: WriteContext): Promise<WriteOutcome> {
    const { client, metrics, leaseTableName, instanceName } = this.options;
    let pending = chunk;
    let applied = 0;
    let stale = 0;
    const poison: PoisonChange[] = [];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (!context.isHeld()) return { status: 'lease-lost' };
      const fence: TransactWriteItem = {
        ConditionCheck: {
          TableName: leaseTableName,
          Key: { leaseKey: { S: context.shardId } },
          ConditionExpression: 'leaseOwner = :me',
          ExpressionAttributeValues: { ':me': { S: instanceName } },
        },
      };
      try {
        await client.send(
          new TransactWriteItemsCommand({
            TransactItems: [fence, ...pending.map((c) => this.transactItem(c))],
          }),
          {
            abortSignal: context.signal,
          },
        );
        applied += pending.length;
        metrics.replicaWrites.inc({ outcome: 'applied' }, pending.length);
        pending = [];
      } catch (error) {
        const name = errorName(error);
        if (name === 'TransactionCanceledException') {
          const reasons =
            (error as { CancellationReasons?: { Code?: string; Message?: string }[] }).CancellationReasons ??
            [];
          if (reasons[0]?.Code === 'ConditionalCheckFailed') return { status: 'lease-lost' };
          const keep: ItemChange[] = [];
          pending.forEach((change, i) => {
            const reason = reasons[i + 1];
            const code = reason?.Code ?? 'None';
            if (code === 'ConditionalCheckFailed') {
              stale++;
              metrics.replicaWrites.inc({ outcome: 'stale-skipped' });
            } else if (code === 'ValidationError') {
              poison.push({ change, reason: reason?.Message ?? 'ValidationError' });
            } else {
              keep.push(change);
            }
          });
          // Items refused for good are out; what is left failed on a conflict or throttling: back off.
          const progressed = keep.length < pending.length;
          pending = keep;
          if (!progressed && pending.length > 0) {
            if (
              reasons.some(
                (r) => r.Code?.startsWith('Throttling') || r.Code === 'ProvisionedThroughputExceeded',
              )
            ) {
              metrics.throttles.inc({ api: 'TransactWriteItems' });
            }
            await this.pause(
              attempt,
              context,
              'TransactWriteItems',
              reasons.map((r) => r.Code ?? 'None').join(','),
            );
          }
          continue;
        }
        if (name === 'ValidationException') {
          // The request as a whole was refused (e.g. an item over 400 KB): isolate the culprit one by one.
          if (pending.length === 1) {
            poison.push({ change: pending[0] as ItemChange, reason: (error as Error).message });
            pending = [];
            continue;
          }
          for (const change of pending) {
            const single = await this.writeChunk([change], context);
            if (single.status === 'lease-lost') return single;
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
    return { status: 'ok', applied, stale, poison };
  }
}

export class ConditionalReplicaWriter extends GuardedWriter {
  write(changes: readonly ItemChange[], context: WriteContext): Promise<WriteOutcome> {
    return this.writeAll(changes, async (change): Promise<WriteOutcome> => {
      const outcome = await this.writeOne(change, context);
      if (outcome === 'lease-lost') return { status: 'lease-lost' };
      return {
        status: 'ok',
        applied: outcome === 'applied' ? 1 : 0,
        stale: outcome === 'stale' ? 1 : 0,
        poison: typeof outcome === 'object' ? [outcome] : [],
      };
    });
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
