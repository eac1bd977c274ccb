/**
 * Progress a shard consumer saw that is not in the lease table yet (a shard found caught up by an empty read
 * writes nothing of its own). The renewer takes it and records it with the renewal it sends anyway, so an idle
 * shard's `caughtUpAt` stays fresh at no extra request. Newer values win; nothing here is needed for
 * correctness, only for the lag that verification reads from the lease table.
 */
import type { LeaseProgress } from '../../core/vocabulary/lease.js';

export class PendingProgress {
  private readonly byShard = new Map<string, LeaseProgress>();

  note(shardId: string, progress: LeaseProgress): void {
    const known = this.byShard.get(shardId) ?? {};
    this.byShard.set(shardId, {
      caughtUpAt: newest(known.caughtUpAt, progress.caughtUpAt),
      lastRecordCreatedAt: newest(known.lastRecordCreatedAt, progress.lastRecordCreatedAt),
    });
  }

  /** Hands over what is pending for the shard (to be written now); `note` it again if the write fails. */
  take(shardId: string): LeaseProgress | undefined {
    const progress = this.byShard.get(shardId);
    this.byShard.delete(shardId);
    return progress;
  }

  forget(shardId: string): void {
    this.byShard.delete(shardId);
  }
}

function newest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}
