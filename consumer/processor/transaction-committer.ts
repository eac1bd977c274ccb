/**
 * The transactional path: a processor's writes committed in TransactWriteItems together with the shard's
 * lease item, which is both the fence (the transaction goes through only while `leaseOwner` is this worker)
 * and the checkpoint (moved past what the transaction wrote). A worker that lost its lease cannot commit; a
 * crash leaves either a whole transaction with its checkpoint or nothing. So a batch's effect happens once.
 *
 * On AWS two transactions that share an item conflict, and a single write on an item a transaction holds is
 * refused (DynamoDB developer guide, "Transaction conflict handling"): every transaction of a shard includes its
 * lease item, so one is in flight per shard at a time, through the lease item's gate, which the renewal of
 * that lease also takes.
 */
import { type TransactWriteItem, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { errorName, isTransactionConflict, WriteConditionFailedError } from '../../core/vocabulary/errors.js';
import { backoffDelay } from '../../core/vocabulary/retry.js';
import { GatePriority } from '../leases/lease-item-gate.js';
import { checkpointUpdate } from '../leases/lease-updates.js';
import {
  type BatchPosition,
  backOffOrThrow,
  type RefusedWrite,
  WRITE_BACKOFF,
  type WriteContext,
  type WriteOutcome,
  type WriterOptions,
} from './write-context.js';
import type { PlannedWrite } from './writes.js';

interface CancellationReason {
  Code?: string;
  Message?: string;
}

type OneOutcome =
  | { status: 'written'; applied: number; skipped: number; checkpointed: boolean }
  | { status: 'lease-lost' }
  | { status: 'refused'; refused: RefusedWrite | undefined; reason: string };

export class TransactionCommitter {
  constructor(private readonly options: WriterOptions) {}

  /**
   * Commits `transactions` (planned by `planTransactions`) in order. Each moves the checkpoint to its last
   * write's sequence number; the last one to `context.checkpoint`, with its progress.
   */
  async commit(transactions: readonly PlannedWrite[][], context: WriteContext): Promise<WriteOutcome> {
    let applied = 0;
    let skipped = 0;
    let checkpointed = false;
    let committedThrough: string | undefined;
    const last = transactions.at(-1);
    const queue = [...transactions];
    for (let writes = queue.shift(); writes; writes = queue.shift()) {
      const final = queue.length === 0 && writes.at(-1) === last?.at(-1);
      const position: BatchPosition = final
        ? context.checkpoint
        : { sequenceNumber: (writes.at(-1) as PlannedWrite).sequenceNumber };
      const outcome = await this.commitOne(writes, position, context);
      if (outcome.status === 'lease-lost') return outcome;
      if (outcome.status === 'refused') {
        // Refused as a whole: DynamoDB does not say which write. Writes of different records may be committed
        // apart (the processor said so by naming their records), so halve the transaction until the refused
        // write stands alone, committing the halves that go through with their checkpoints.
        const halves = outcome.refused === undefined ? splitAtRecord(writes) : undefined;
        if (halves) {
          queue.unshift(...halves);
          continue;
        }
        return { ...outcome, committedThrough };
      }
      applied += outcome.applied;
      skipped += outcome.skipped;
      if (outcome.checkpointed) committedThrough = position.sequenceNumber;
      checkpointed = final && outcome.checkpointed;
    }
    return { status: 'written', applied, skipped, checkpointed };
  }

  private leaseItem(shardId: string, position: BatchPosition): TransactWriteItem {
    const { leaseTableName, instanceName } = this.options;
    return {
      Update: checkpointUpdate(
        leaseTableName,
        shardId,
        instanceName,
        position.sequenceNumber,
        position.progress,
      ),
    };
  }

  private async commitOne(
    writes: readonly PlannedWrite[],
    position: BatchPosition,
    context: WriteContext,
  ): Promise<OneOutcome> {
    const { client, metrics, gate, clock, leaseTableName } = this.options;
    let pending = [...writes];
    let skipped = 0;
    for (let attempt = 0; ; attempt++) {
      if (!context.isHeld()) return { status: 'lease-lost' };
      if (pending.length === 0) {
        // Every write turned out obsolete: nothing to commit, and the checkpoint is left to the caller.
        return { status: 'written', applied: 0, skipped, checkpointed: false };
      }
      const items = [this.leaseItem(context.shardId, position), ...pending.map((write) => write.item)];
      try {
        await gate.run(context.shardId, GatePriority.WRITE, () =>
          client.send(new TransactWriteItemsCommand({ TransactItems: items }), {
            abortSignal: context.signal,
          }),
        );
        metrics.replicaWrites.inc({ outcome: 'applied' }, pending.length);
        metrics.checkpoints.inc();
        return { status: 'written', applied: pending.length, skipped, checkpointed: true };
      } catch (error) {
        const name = errorName(error);
        if (name === 'TransactionCanceledException') {
          const reasons = (error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
          if (reasons[0]?.Code === 'ConditionalCheckFailed') {
            // The fence: the lease item is no longer ours, so none of these items was written.
            metrics.replicaWrites.inc({ outcome: 'fenced' }, pending.length);
            return { status: 'lease-lost' };
          }
          const keep: PlannedWrite[] = [];
          for (const [i, write] of pending.entries()) {
            const reason = reasons[i + 1];
            const code = reason?.Code ?? 'None';
            if (code === 'ConditionalCheckFailed') {
              if (write.onConditionFailed !== 'skip')
                throw new WriteConditionFailedError(context.shardId, write.tableName, write.sequenceNumber);
              skipped++;
              metrics.replicaWrites.inc({ outcome: 'stale-skipped' });
            } else if (code === 'ValidationError') {
              const message = reason?.Message ?? 'ValidationError';
              return { status: 'refused', refused: { write, reason: message }, reason: message };
            } else keep.push(write);
          }
          // Obsolete writes are out; what is left failed on a conflict or throttling: back off, send it again.
          const progressed = keep.length < pending.length;
          pending = keep;
          if (!progressed) {
            const codes = reasons.map((r) => r.Code ?? 'None');
            if (codes.some((c) => c.startsWith('Throttling') || c === 'ProvisionedThroughputExceeded'))
              metrics.throttles.inc({ api: 'TransactWriteItems' });
            if (isTransactionConflict(error)) metrics.transactionConflicts.inc({ api: 'TransactWriteItems' });
            await clock.sleep(backoffDelay(attempt, WRITE_BACKOFF), context.signal);
          }
          continue;
        }
        if (name === 'ValidationException') {
          // The request as a whole was refused (an item over 400 KB, say): DynamoDB does not say which write.
          const message = (error as Error).message;
          // One write, or writes all of one record the processor named: that record is the one refused.
          const first = pending[0];
          const oneRecord =
            first !== undefined &&
            pending.every((w) => w.attributed && w.sequenceNumber === first.sequenceNumber);
          const only = pending.length === 1 || oneRecord ? first : undefined;
          return {
            status: 'refused',
            refused: only ? { write: only, reason: message } : undefined,
            reason: message,
          };
        }
        await backOffOrThrow(
          this.options,
          error,
          attempt,
          context,
          'TransactWriteItems',
          pending[0]?.tableName ?? leaseTableName,
        );
      }
    }
  }
}

/**
 * Two halves of a transaction's writes, cut between two records (never inside the writes of one), or
 * undefined when they are all one record's. Only writes whose record the processor named may be cut apart.
 */
function splitAtRecord(writes: readonly PlannedWrite[]): [PlannedWrite[], PlannedWrite[]] | undefined {
  if (!writes.every((write) => write.attributed)) return undefined;
  const cuts: number[] = [];
  for (let i = 1; i < writes.length; i++)
    if (writes[i]?.sequenceNumber !== writes[i - 1]?.sequenceNumber) cuts.push(i);
  if (cuts.length === 0) return undefined;
  const cut = cuts[Math.floor((cuts.length - 1) / 2)] as number;
  return [writes.slice(0, cut), writes.slice(cut)];
}
