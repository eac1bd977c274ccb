/**
 * What the two ways of writing a processor's writes share: where the checkpoint may move, how long to back
 * off, and what an error from DynamoDB means for the batch.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/vocabulary/clock.js';
import {
  errorName,
  isRetriableAwsError,
  isThrottlingError,
  ResourceError,
} from '../../core/vocabulary/errors.js';
import type { LeaseProgress } from '../../core/vocabulary/lease.js';
import { backoffDelay, type RetryPolicy } from '../../core/vocabulary/retry.js';
import type { LeaseItemGate } from '../leases/lease-item-gate.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { PlannedWrite } from './writes.js';

/** Where the shard's checkpoint may move once everything before it is done. */
export interface BatchPosition {
  /** Sequence number of the last record covered. */
  sequenceNumber: string;
  progress?: LeaseProgress;
}

export interface WriteContext {
  shardId: string;
  /** Local check that this worker still holds the lease; checked before every request. */
  isHeld: () => boolean;
  signal: AbortSignal;
  /** Where the checkpoint moves with the last transaction (the transactional path). */
  checkpoint: BatchPosition;
}

export interface WriterOptions {
  client: DynamoDBClient;
  leaseTableName: string;
  instanceName: string;
  /** This worker's one-write-at-a-time gate per lease item, shared with the lease refresher. */
  gate: LeaseItemGate;
  clock: Clock;
  metrics: WorkerMetrics;
  events: WorkerEvents;
}

/** DynamoDB refused a write for good (ValidationException): its record is a poison record. */
export interface RefusedWrite {
  write: PlannedWrite;
  reason: string;
}

export type WriteOutcome =
  | {
      status: 'written';
      applied: number;
      skipped: number;
      /** The checkpoint is at `context.checkpoint`, moved with the writes; otherwise the caller writes it. */
      checkpointed: boolean;
    }
  | { status: 'lease-lost' }
  /**
   * A write was refused for good. `committedThrough`: the checkpoint moved with earlier transactions up to this
   * sequence number (nothing after it was committed). `write`: the refused write, when DynamoDB said which.
   */
  | {
      status: 'refused';
      committedThrough: string | undefined;
      refused: RefusedWrite | undefined;
      reason: string;
    };

export const WRITE_BACKOFF: RetryPolicy = {
  baseDelayMs: 50,
  maxDelayMs: 5_000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * After a failed request: a missing table is fatal for the batch (a person must act), what AWS calls
 * retriable is retried after a jittered pause, anything else is rethrown (the batch fails and is retried).
 */
export async function backOffOrThrow(
  options: WriterOptions,
  error: unknown,
  attempt: number,
  context: Pick<WriteContext, 'shardId' | 'signal'>,
  api: string,
  tableName: string,
): Promise<void> {
  if (errorName(error) === 'ResourceNotFoundException') {
    throw new ResourceError(
      `${api} failed: table ${tableName} or ${options.leaseTableName} (the lease table) does not exist. ` +
        'Re-create it; the checkpoint stays before the unwritten records.',
      { cause: error },
    );
  }
  if (isThrottlingError(error)) options.metrics.throttles.inc({ api });
  if (!isRetriableAwsError(error) || context.signal.aborted) throw error;
  const delay = backoffDelay(attempt, WRITE_BACKOFF);
  options.events.emit(
    'write.failed',
    { shardId: context.shardId, api, error, delayMs: delay },
    `${api} failed; backing off`,
  );
  await options.clock.sleep(delay, context.signal);
}
