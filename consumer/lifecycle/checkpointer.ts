/**
 * Conditional checkpoint writes: only the lease owner can move a shard's checkpoint. Retries what AWS says
 * is retriable while the lease is still held; a failed condition is "lease lost", returned as a value.
 */

import type { Clock } from '../../core/vocabulary/clock.js';
import type { LeaseProgress } from '../../core/vocabulary/lease.js';
import { type RetryPolicy, retry } from '../../core/vocabulary/retry.js';
import type { LeaseRefresher } from '../leases/lease-refresher.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';

const CHECKPOINT_BACKOFF: RetryPolicy = {
  baseDelayMs: 50,
  maxDelayMs: 2_000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

export type CheckpointResult = 'checkpointed' | 'lease-lost';

export class Checkpointer {
  constructor(
    private readonly refresher: LeaseRefresher,
    private readonly owner: string,
    private readonly clock: Clock,
    private readonly metrics: WorkerMetrics,
    private readonly events: WorkerEvents,
  ) {}

  async checkpoint(
    shardId: string,
    checkpoint: string,
    isHeld: () => boolean,
    progress?: LeaseProgress,
  ): Promise<CheckpointResult> {
    const write = async (): Promise<CheckpointResult> => {
      if (!isHeld()) return 'lease-lost';
      const ok = await this.refresher.checkpoint(shardId, this.owner, checkpoint, progress);
      if (!ok) return 'lease-lost';
      this.metrics.checkpoints.inc();
      return 'checkpointed';
    };
    return retry(write, {
      clock: this.clock,
      policy: CHECKPOINT_BACKOFF,
      onRetry: (error, _attempt, delayMs) =>
        this.events.emit(
          'checkpoint.failed',
          { shardId, checkpoint, error, delayMs },
          'checkpoint failed; retrying',
        ),
    });
  }
}
