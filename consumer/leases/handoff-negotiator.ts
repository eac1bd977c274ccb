/**
 * Cooperative balancing and graceful hand-offs, both ways:
 *
 * - asking: a worker short of leases asks the most loaded one for a lease (`handoffTo` on the item) instead of
 *   stealing it; it remembers what it asked for, so it reads its own leases until the answer comes, and steals
 *   the classic way only from an owner that does not answer within a lease duration;
 * - answering: an owner that sees a request in its renewal's answer has the lease's consumer finish its batch
 *   and checkpoint (the scheduler does, from the assignments), then assigns the lease to the requester;
 * - leaving: at shutdown every held lease is assigned to the least loaded live peer, or released unowned.
 *
 * Requests of other workers, seen in scans, count as their owner's-to-be when planning, so nobody asks for
 * more than it needs; one left unserved for two lease durations is ignored. Only owners that answer
 * (`answersHandoffs`: Streamfleet workers) are asked or stolen from; a KCL 1.x worker's leases are taken as they
 * expire.
 */

import type { Clock } from '../../core/vocabulary/clock.js';
import { isThrottlingError, isTransactionConflict } from '../../core/vocabulary/errors.js';
import { answersHandoffs, isFinished, type Lease } from '../../core/vocabulary/lease.js';
import { retry } from '../../core/vocabulary/retry.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { HeldLease, HeldLeases } from './held-leases.js';
import type { LeaseRefresher } from './lease-refresher.js';

/** Added to the lease duration before a request counts as unanswered. */
export const STOLEN_LEASE_MARGIN_MS = 1_000;

export interface HandoffNegotiatorDeps {
  refresher: LeaseRefresher;
  held: HeldLeases;
  workerId: string;
  leaseDurationMs: number;
  clock: Clock;
  events: WorkerEvents;
  metrics: WorkerMetrics;
  /** After a hand-off the snapshot no longer says who holds what: the next taker pass reads the table. */
  requestScan: () => void;
}

export interface PendingHandoffs {
  /** The snapshot as it will be once pending hand-offs are done. */
  leases: Lease[];
  /** Leases this worker asked for and counts as its own when planning. */
  requestedKeys: string[];
  /** Leases this worker asked for whose owner did not answer within a lease duration: steal them. */
  unanswered: Lease[];
}

export class HandoffNegotiator {
  /** Hand-offs this worker asked peers for: lease key → local time first seen asked. */
  private readonly requested = new Map<string, number>();
  /** Requests of other workers seen in scans: lease key → requester and local time first seen. */
  private readonly othersRequests = new Map<string, { to: string; since: number }>();
  /** Answers in progress: the lease's consumer is stopping; resolved by `consumerStopped`. */
  private readonly stopping = new Map<string, () => void>();
  private readonly inProgress = new Set<Promise<void>>();

  constructor(private readonly deps: HandoffNegotiatorDeps) {}

  /** Whether a request of this worker is pending (its own leases are then read every pass). */
  asking(): boolean {
    return this.requested.size > 0;
  }

  /** A lease this worker asked for was taken (or the take failed): the request is over. */
  settle(leaseKey: string): void {
    this.requested.delete(leaseKey);
  }

  /**
   * The snapshot as it will be once pending hand-offs are done, for planning: a lease asked for by a live
   * worker counts as that worker's. Expired leases stay as they are: whoever plans takes them at once.
   */
  pending(leases: readonly Lease[], isExpired: (lease: Lease) => boolean, now: number): PendingHandoffs {
    const me = this.deps.workerId;
    const seenMine = new Set<string>();
    const seenOthers = new Set<string>();
    const requestedKeys: string[] = [];
    const unanswered: Lease[] = [];
    const planned = leases.map((lease) => {
      const to = lease.handoffTo;
      // A request left on a lease that a KCL 1.x worker has taken since (its take keeps other attributes) will
      // never be answered: it neither counts nor leads to a steal from an owner that still renews.
      if (to === undefined || !answersHandoffs(lease) || isFinished(lease) || isExpired(lease)) return lease;
      if (to === me) {
        seenMine.add(lease.leaseKey);
        const since = this.requested.get(lease.leaseKey) ?? now;
        this.requested.set(lease.leaseKey, since);
        requestedKeys.push(lease.leaseKey);
        if (now - since > this.deps.leaseDurationMs + STOLEN_LEASE_MARGIN_MS) unanswered.push(lease);
        return { ...lease, leaseOwner: me };
      }
      seenOthers.add(lease.leaseKey);
      const seen = this.othersRequests.get(lease.leaseKey);
      const since = seen?.to === to ? seen.since : now;
      this.othersRequests.set(lease.leaseKey, { to, since });
      return now - since > 2 * this.deps.leaseDurationMs ? lease : { ...lease, leaseOwner: to };
    });
    for (const key of this.requested.keys()) if (!seenMine.has(key)) this.requested.delete(key);
    for (const key of this.othersRequests.keys()) if (!seenOthers.has(key)) this.othersRequests.delete(key);
    return { leases: planned, requestedKeys, unanswered };
  }

  /** Asks the lease's owner to hand it here at its next renewal. */
  async ask(lease: Lease): Promise<void> {
    if (!(await this.deps.refresher.requestHandoff(lease, this.deps.workerId))) return;
    this.requested.set(lease.leaseKey, this.deps.clock.now());
    this.deps.metrics.leaseSteals.inc();
    this.deps.events.emit(
      'lease.handoff-requested',
      { shardId: lease.leaseKey, owner: lease.leaseOwner },
      'lease hand-off requested to balance',
    );
  }

  /** A peer asked for a held lease: its consumer stops (batch and checkpoint done), then it is assigned. */
  answer(lease: HeldLease, to: string): void {
    const { held, events } = this.deps;
    events.emit(
      'lease.handoff-asked',
      { shardId: lease.leaseKey, to },
      'lease asked for by a peer: finishing the batch, then handing it over',
    );
    const stopped = new Promise<void>((resolve) => this.stopping.set(lease.leaseKey, resolve));
    held.markHandingOff(lease, to);
    this.track(
      (async () => {
        await stopped;
        if (held.get(lease.leaseKey) !== lease) return; // lost, or handed off at shutdown, meanwhile
        held.release(lease.leaseKey);
        // As after a loss: the snapshot (and the sentinels chosen from it) no longer says who holds what, and a
        // peer that joined since has no sentinel here; read the table at the next pass.
        this.deps.requestScan();
        await this.assign(lease.leaseKey, to, 'balance');
      })(),
    );
  }

  /** The scheduler stopped the consumer of a lease being handed off (or had none running). */
  consumerStopped(leaseKey: string): void {
    const resolve = this.stopping.get(leaseKey);
    this.stopping.delete(leaseKey);
    resolve?.();
  }

  /**
   * Graceful shutdown: hands every held lease to the least loaded live peers, which adopt them within one
   * taker pass; with no peer known, releases them (unowned) for whoever scans next.
   */
  async leave(peersByLoad: readonly string[]): Promise<void> {
    const leases = this.deps.held.all();
    for (const lease of leases) this.deps.held.release(lease.leaseKey);
    for (const resolve of this.stopping.values()) resolve();
    this.stopping.clear();
    await Promise.all(
      leases.map((lease, i) => {
        const peer =
          lease.handingOffTo ?? (peersByLoad.length > 0 ? peersByLoad[i % peersByLoad.length] : undefined);
        return this.assign(lease.leaseKey, peer, 'shutdown');
      }),
    );
  }

  /** Hand-offs still on their way (awaited when the lease loop stops). */
  async settled(): Promise<void> {
    for (const resolve of this.stopping.values()) resolve();
    await Promise.allSettled([...this.inProgress]);
  }

  /**
   * Hand-offs and releases are how a peer gets a shard at once: one refused for a moment (a conflict with a
   * transaction of another process, throttling) is retried a few times before the lease is left to expire.
   */
  private async assign(leaseKey: string, to: string | undefined, why: 'balance' | 'shutdown'): Promise<void> {
    const { refresher, workerId, clock, events, held } = this.deps;
    try {
      const done = await retry(
        () =>
          to === undefined
            ? refresher.evictLease(leaseKey, workerId)
            : refresher.assignLease(leaseKey, workerId, to),
        {
          clock,
          policy: { baseDelayMs: 25, maxDelayMs: 500, maxAttempts: 8 },
          isRetriable: (error) => isTransactionConflict(error) || isThrottlingError(error),
        },
      );
      events.emit(
        'lease.handed-off',
        { shardId: leaseKey, to: to ?? null, done, why },
        why === 'balance' ? 'lease handed off to balance' : to ? 'lease handed off' : 'lease released',
      );
    } catch (error) {
      events.emit(
        'lease.handoff-failed',
        { shardId: leaseKey, error },
        'could not hand off lease; it will expire instead',
      );
    } finally {
      held.released(leaseKey);
    }
  }

  private track(task: Promise<void>): void {
    this.inProgress.add(task);
    void task.finally(() => this.inProgress.delete(task));
  }
}
