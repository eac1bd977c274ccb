/**
 * The at-least-once path: each of a processor's writes is its own request (PutItem, UpdateItem, DeleteItem),
 * many in flight, and the checkpoint follows later like any batch's. No transaction: half the write capacity
 * of a transactional write on AWS, and no limit on a batch's writes. The writes are not fenced, so a worker
 * that lost its lease and has not noticed yet can still write: a processor choosing this path makes each
 * write idempotent and order-safe with a condition (`onConditionFailed: 'skip'`). The lease is checked before
 * every request.
 */
import {
  DeleteItemCommand,
  type DeleteItemCommandInput,
  PutItemCommand,
  type PutItemCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  errorName,
  isConditionalCheckFailure,
  WriteConditionFailedError,
} from '../../core/vocabulary/errors.js';
import {
  backOffOrThrow,
  type RefusedWrite,
  type WriteContext,
  type WriteOutcome,
  type WriterOptions,
} from './write-context.js';
import type { PlannedWrite } from './writes.js';

type One = 'applied' | 'skipped' | 'lease-lost' | RefusedWrite;

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

export class IndividualWriter {
  constructor(private readonly options: WriterOptions) {}

  async write(
    writes: readonly PlannedWrite[],
    concurrency: number,
    context: Omit<WriteContext, 'checkpoint'>,
  ): Promise<WriteOutcome> {
    let applied = 0;
    let skipped = 0;
    let leaseLost = false;
    let refused: RefusedWrite | undefined;
    await inParallel(
      writes,
      concurrency,
      async (write) => {
        const outcome = await this.writeOne(write, context);
        if (outcome === 'lease-lost') leaseLost = true;
        else if (outcome === 'applied') applied++;
        else if (outcome === 'skipped') skipped++;
        else refused ??= outcome;
      },
      () => leaseLost,
    );
    if (leaseLost) return { status: 'lease-lost' };
    if (refused) return { status: 'refused', committedThrough: undefined, refused, reason: refused.reason };
    return { status: 'written', applied, skipped, checkpointed: false };
  }

  private send(write: PlannedWrite, signal: AbortSignal): Promise<unknown> {
    const { client } = this.options;
    const item = write.item;
    if (item.Put)
      return client.send(new PutItemCommand(item.Put as PutItemCommandInput), { abortSignal: signal });
    if (item.Update)
      return client.send(new UpdateItemCommand(item.Update as UpdateItemCommandInput), {
        abortSignal: signal,
      });
    return client.send(new DeleteItemCommand(item.Delete as DeleteItemCommandInput), { abortSignal: signal });
  }

  private async writeOne(write: PlannedWrite, context: Omit<WriteContext, 'checkpoint'>): Promise<One> {
    const { metrics } = this.options;
    for (let attempt = 0; ; attempt++) {
      if (!context.isHeld()) return 'lease-lost';
      try {
        await this.send(write, context.signal);
        metrics.replicaWrites.inc({ outcome: 'applied' });
        return 'applied';
      } catch (error) {
        if (isConditionalCheckFailure(error)) {
          if (write.onConditionFailed !== 'skip')
            throw new WriteConditionFailedError(context.shardId, write.tableName, write.sequenceNumber);
          metrics.replicaWrites.inc({ outcome: 'stale-skipped' });
          return 'skipped';
        }
        if (errorName(error) === 'ValidationException') return { write, reason: (error as Error).message };
        await backOffOrThrow(this.options, error, attempt, context, write.kind, write.tableName);
      }
    }
  }
}
