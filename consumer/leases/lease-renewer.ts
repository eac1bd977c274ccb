/**
 * The renewer: every renew interval, one conditional write per held lease, no reads. It carries the shard's
 * pending progress (an idle shard's `caughtUpAt`) at no extra request, and retries within the pass what AWS
 * refuses for a moment (a transaction of another process on the item, throttling), so such a refusal never
 * costs a healthy owner its lease. The worker's own transactions never collide with it: both pass the lease
 * item's gate (lease-item-gate.ts). A renewal's answer is also how the owner learns that a peer asked for the
 * lease (`handoffTo`).
 */

import type { Clock } from '../../core/vocabulary/clock.js';
import { isThrottlingError, isTransactionConflict } from '../../core/vocabulary/errors.js';
import { type RetryPolicy, retry } from '../../core/vocabulary/retry.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { HeldLease, HeldLeases } from './held-leases.js';
import type { LeaseRefresher } from './lease-refresher.js';
import type { PendingProgress } from './pending-progress.js';

/** The other transaction lasts tens of milliseconds: try again soon, until the next renewal is due. */
const RENEWAL_RETRY: RetryPolicy = {
  baseDelayMs: 25,
  maxDelayMs: 500,
  maxAttempts: Number.POSITIVE_INFINITY,
};

export interface LeaseRenewerDeps {
  refresher: LeaseRefresher;
  held: HeldLeases;
  workerId: string;
  renewIntervalMs: number;
  clock: Clock;
  events: WorkerEvents;
  metrics: WorkerMetrics;
  progress: PendingProgress | undefined;
  /** The lease table answered (readiness). */
  touch: () => void;
  /** A renewal's answer says `to` asked for the lease. */
  onAsked: (lease: HeldLease, to: string) => void;
  signal: AbortSignal;
}

export class LeaseRenewer {
  constructor(private readonly deps: LeaseRenewerDeps) {}

  /**
   * Renews every held lease; a lease whose renewal fails past its validity is lost. Throws (after trying every
   * lease) the first error a renewal met, so the pass counts as failed.
   */
  async renewAll(): Promise<void> {
    const errors = await Promise.all(this.deps.held.all().map((lease) => this.renew(lease)));
    const failed = errors.find((error) => error !== undefined);
    if (failed !== undefined) throw failed;
  }

  /** Undefined when renewed (or lost for good reasons); the error otherwise. */
  private async renew(lease: HeldLease): Promise<unknown> {
    const { refresher, held, workerId, clock, events, metrics } = this.deps;
    const progress = this.deps.progress?.take(lease.leaseKey);
    let sentAt = clock.now();
    const deadline = sentAt + this.deps.renewIntervalMs;
    try {
      const renewed = await retry(
        () => {
          sentAt = clock.now();
          return refresher.renewLease(lease.leaseKey, workerId, lease.counter, progress);
        },
        {
          clock,
          policy: RENEWAL_RETRY,
          signal: this.deps.signal,
          isRetriable: (error) =>
            (isTransactionConflict(error) || isThrottlingError(error)) &&
            held.get(lease.leaseKey) === lease &&
            clock.now() < deadline,
          onRetry: (error) => {
            if (isTransactionConflict(error)) metrics.transactionConflicts.inc({ api: 'UpdateItem' });
          },
        },
      );
      this.deps.touch();
      if (held.get(lease.leaseKey) !== lease) return undefined; // handed off or finished meanwhile
      if (renewed === undefined) {
        held.lose(lease.leaseKey, 'renewal condition failed');
        return undefined;
      }
      held.renewed(lease, renewed.counter, sentAt);
      const to = renewed.handoffTo;
      if (to !== undefined && to !== workerId && lease.handingOffTo === undefined)
        this.deps.onAsked(lease, to);
      return undefined;
    } catch (error) {
      if (progress) this.deps.progress?.note(lease.leaseKey, progress);
      events.emit(
        'lease.renewal-failed',
        { shardId: lease.leaseKey, error },
        'lease renewal failed; will retry',
      );
      if (!held.isHeld(lease.leaseKey) && held.get(lease.leaseKey) === lease) {
        held.lose(lease.leaseKey, 'not renewed within the lease duration');
      }
      return error;
    }
  }
}
