/**
 * The lease loop of one worker: renews what it holds, and on every taker pass reads the lease table once,
 * notices leases stolen from it, takes expired or unowned ones and steals to balance. The latest snapshot
 * is shared with the rest of the worker (parent checks, shard sync) so they need no reads of their own.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { isFinished, type Lease } from './lease.js';
import { LeaseExpiryTracker } from './lease-expiry.js';
import type { LeaseRefresher } from './lease-refresher.js';
import { planLeaseTaking } from './lease-taker.js';

export interface LeaseCoordinatorOptions {
  workerId: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
  takerIntervalMs: number;
  maxLeasesPerWorker: number;
  maxLeasesToStealAtOnce: number;
}

export interface HeldLease {
  readonly leaseKey: string;
  counter: number;
  /** Local time the last successful renewal (or the take) was *sent*: validity is counted from there. */
  renewedAt: number;
  readonly checkpoint: string;
  readonly parentShardIds: readonly string[];
}

export class LeaseCoordinator {
  private readonly held = new Map<string, HeldLease>();
  private readonly tracker: LeaseExpiryTracker;
  private snapshot: Lease[] = [];
  private snapshotAt = Number.NEGATIVE_INFINITY;
  private taking = true;
  private readonly stopController = new AbortController();
  private loops: Promise<void>[] = [];
  private lastTableContactAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly refresher: LeaseRefresher,
    private readonly options: LeaseCoordinatorOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: WorkerMetrics,
  ) {
    this.tracker = new LeaseExpiryTracker(options.leaseDurationMs);
  }

  start(): void {
    this.loops = [
      this.every(this.options.renewIntervalMs, () => this.renewAll()),
      this.every(this.options.takerIntervalMs, () => this.takerPass()),
    ];
  }

  /** Stops both loops (leases stay owned in the table; call releaseAll first for a graceful exit). */
  async stop(): Promise<void> {
    this.stopController.abort();
    await Promise.allSettled(this.loops);
  }

  stopTaking(): void {
    this.taking = false;
  }

  /** True while this worker may act on the lease: held, and renewed within the lease duration. */
  isHeld(leaseKey: string): boolean {
    const lease = this.held.get(leaseKey);
    return lease !== undefined && this.clock.now() - lease.renewedAt < this.options.leaseDurationMs;
  }

  heldLeases(): HeldLease[] {
    return [...this.held.values()].filter((lease) => this.isHeld(lease.leaseKey));
  }

  latestSnapshot(): { leases: readonly Lease[]; takenAt: number } {
    return { leases: this.snapshot, takenAt: this.snapshotAt };
  }

  /** Whether the lease table answered recently (readiness). */
  tableReachable(): boolean {
    return (
      this.clock.now() - this.lastTableContactAt <
      Math.max(this.options.leaseDurationMs, 3 * this.options.takerIntervalMs)
    );
  }

  /** A shard reached SHARD_END: stop renewing; the finished lease stays for cleanup. */
  markFinished(leaseKey: string): void {
    this.held.delete(leaseKey);
    this.updateGauge();
  }

  /** Gives every held lease back so peers take them at their next pass. */
  async releaseAll(): Promise<void> {
    const leases = [...this.held.values()];
    this.held.clear();
    this.updateGauge();
    await Promise.all(
      leases.map(async (lease) => {
        try {
          const released = await this.refresher.evictLease(lease.leaseKey, this.options.workerId);
          this.log.info({ shardId: lease.leaseKey, released }, 'lease released');
        } catch (error) {
          this.log.warn(
            { shardId: lease.leaseKey, err: error },
            'could not release lease; it will expire instead',
          );
        }
      }),
    );
  }

  /** One taker pass; public so start-up and tests can run one at once. */
  async takerPass(): Promise<void> {
    const startedAt = this.clock.now();
    const leases = await this.refresher.listLeases();
    this.metrics.leaseTableScans.inc({ operation: 'scan' });
    const now = this.clock.now();
    this.lastTableContactAt = now;
    this.snapshot = leases;
    this.snapshotAt = startedAt;
    this.tracker.observe(leases, now);

    const inTable = new Map(leases.map((lease) => [lease.leaseKey, lease]));
    for (const key of [...this.held.keys()]) {
      const lease = inTable.get(key);
      if (!lease) this.lose(key, 'lease item no longer in the lease table');
      else if (lease.leaseOwner !== this.options.workerId)
        this.lose(key, `now owned by ${lease.leaseOwner ?? 'nobody'}`);
    }
    if (!this.taking) return;

    const plan = planLeaseTaking({
      leases,
      workerId: this.options.workerId,
      heldKeys: new Set(this.heldLeases().map((lease) => lease.leaseKey)),
      isExpired: (lease) => this.tracker.isExpired(lease, now),
      maxLeasesPerWorker: this.options.maxLeasesPerWorker,
      maxLeasesToStealAtOnce: this.options.maxLeasesToStealAtOnce,
    });
    for (const lease of plan.take) await this.take(lease, false);
    for (const lease of plan.steal) await this.take(lease, true);
  }

  private async take(lease: Lease, steal: boolean): Promise<void> {
    if (!this.taking || isFinished(lease)) return;
    const sentAt = this.clock.now();
    const taken = await this.refresher.takeLease(lease, this.options.workerId);
    this.metrics.leaseTableScans.inc({ operation: 'take' });
    if (!taken) return;
    this.held.set(taken.leaseKey, {
      leaseKey: taken.leaseKey,
      counter: taken.leaseCounter,
      renewedAt: sentAt,
      checkpoint: taken.checkpoint,
      parentShardIds: taken.parentShardIds,
    });
    (steal ? this.metrics.leaseSteals : this.metrics.leaseTakes).inc();
    this.log.info(
      {
        shardId: taken.leaseKey,
        previousOwner: lease.leaseOwner ?? null,
        checkpoint: taken.checkpoint,
        steal,
      },
      steal ? 'lease stolen to balance' : 'lease taken',
    );
    this.updateGauge();
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.held.values()].map((lease) => this.renew(lease)));
  }

  private async renew(lease: HeldLease): Promise<void> {
    const sentAt = this.clock.now();
    try {
      const counter = await this.refresher.renewLease(lease.leaseKey, this.options.workerId, lease.counter);
      this.metrics.leaseTableScans.inc({ operation: 'renew' });
      this.lastTableContactAt = this.clock.now();
      if (this.held.get(lease.leaseKey) !== lease) return; // released or finished meanwhile
      if (counter === undefined) {
        this.lose(lease.leaseKey, 'renewal condition failed');
        return;
      }
      lease.counter = counter;
      lease.renewedAt = sentAt;
    } catch (error) {
      this.log.warn({ shardId: lease.leaseKey, err: error }, 'lease renewal failed; will retry');
      if (!this.isHeld(lease.leaseKey) && this.held.get(lease.leaseKey) === lease) {
        this.lose(lease.leaseKey, 'not renewed within the lease duration');
      }
    }
  }

  private lose(leaseKey: string, reason: string): void {
    if (!this.held.delete(leaseKey)) return;
    this.metrics.leaseLosses.inc();
    this.log.warn({ shardId: leaseKey, reason }, 'lease lost');
    this.updateGauge();
  }

  private updateGauge(): void {
    this.metrics.leasesHeld.set(this.held.size);
  }

  private async every(intervalMs: number, body: () => Promise<void>): Promise<void> {
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      const started = this.clock.now();
      try {
        await body();
      } catch (error) {
        this.log.warn({ err: error }, 'lease loop pass failed; will retry');
      }
      await this.clock.sleep(Math.max(0, intervalMs - (this.clock.now() - started)), signal);
    }
  }
}
