/**
 * The taker: every taker interval, cheap by default so cost per worker stays flat as shards grow.
 *
 *   1. two sentinel leases of every other worker (one BatchGetItem): a worker whose sentinels stood still
 *      for the lease duration is dead; a sentinel that changed owner (a peer handing its leases on as it
 *      stops) makes this pass a full scan, which adopts what was handed here;
 *   2. its own leases from the owner index, only while a hand-off it asked for is pending, and otherwise every
 *      few passes as a safety net: adopts leases handed to it, notices leases taken from it;
 *   3. a full, strongly consistent scan only when needed: at start, every LEASE_SCAN_INTERVAL_MS, when a
 *      worker died, when asked (a shard ended here, new leases were created, a lease was lost or handed off),
 *      while the fleet is still converging, or when the table has no owner index. Expired and unowned leases
 *      are taken, and leases asked for to balance (see handoff-negotiator.ts), only from a full scan.
 *
 * The latest full snapshot is shared with the rest of the worker (parent checks, peers to hand off to).
 */

import type { Clock } from '../../core/clock.js';
import { errorName } from '../../core/errors.js';
import { answersHandoffs, isFinished, type Lease } from '../../core/lease.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { type HandoffNegotiator, STOLEN_LEASE_MARGIN_MS } from './handoff-negotiator.js';
import type { HeldLeases } from './held-leases.js';
import { LeaseExpiryTracker } from './lease-expiry.js';
import type { LeaseRefresher } from './lease-refresher.js';
import { planLeaseTaking } from './take-plan.js';
import { chooseSentinels, judgeSentinels } from './worker-liveness.js';

export interface LeaseTakerOptions {
  workerId: string;
  leaseDurationMs: number;
  takerIntervalMs: number;
  scanIntervalMs: number;
  maxLeasesPerWorker: number;
  maxLeasesToStealAtOnce: number;
  /** False when the lease table has no owner index: every pass is then a full scan. */
  ownerIndex: boolean;
}

export interface LeaseTakerDeps {
  refresher: LeaseRefresher;
  held: HeldLeases;
  negotiator: HandoffNegotiator;
  options: LeaseTakerOptions;
  clock: Clock;
  events: WorkerEvents;
  metrics: WorkerMetrics;
  /** The lease table answered (readiness). */
  touch: () => void;
}

/** The owner index is eventually consistent: a lease just taken may not be listed under us for a moment. */
const OWNER_INDEX_GRACE_MS = 3_000;

/** Own leases are listed from the owner index at least every this many taker passes, as a safety net. */
const OWN_LEASES_CHECK_EVERY_PASSES = 5;

export class LeaseTaker {
  private readonly tracker: LeaseExpiryTracker;
  private snapshot: Lease[] = [];
  private snapshotAt = Number.NEGATIVE_INFINITY;
  private sentinels = new Map<string, string[]>();
  private scanWanted = true;
  private converging = false;
  private taking = true;
  private ownerIndex: boolean;
  private lastOwnCheckAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: LeaseTakerDeps) {
    this.tracker = new LeaseExpiryTracker(deps.options.leaseDurationMs);
    this.ownerIndex = deps.options.ownerIndex;
    // Whoever has a lost lease now is not among our sentinels (we chose none for our own leases): read the
    // table at the next pass, or we would learn that the new owner died or released it only at the next scan.
    deps.held.onLost(() => this.requestScan());
  }

  /** The next pass reads the whole table. */
  requestScan(): void {
    this.scanWanted = true;
  }

  stopTaking(): void {
    this.taking = false;
  }

  /** The owner index has become ACTIVE (added to a table that lacked it): taker passes use it from now on. */
  useOwnerIndex(): void {
    this.ownerIndex = true;
  }

  isTaking(): boolean {
    return this.taking;
  }

  latestSnapshot(): { leases: readonly Lease[]; takenAt: number } {
    return { leases: this.snapshot, takenAt: this.snapshotAt };
  }

  /** Other workers seen alive in the last snapshot, least loaded first. */
  livePeersByLoad(): string[] {
    const now = this.deps.clock.now();
    const me = this.deps.options.workerId;
    const load = new Map<string, number>();
    for (const lease of this.snapshot) {
      const owner = lease.leaseOwner;
      if (!owner || owner === me || isFinished(lease) || this.tracker.isExpired(lease, now)) continue;
      load.set(owner, (load.get(owner) ?? 0) + 1);
    }
    return [...load.entries()].sort((a, b) => a[1] - b[1]).map(([owner]) => owner);
  }

  /** One taker pass. */
  async pass(): Promise<void> {
    const { events, clock } = this.deps;
    let deadWorkers = new Set<string>();
    if (this.ownerIndex && this.snapshot.length > 0) {
      try {
        if (this.ownLeasesCheckDue()) await this.checkOwnLeases();
      } catch (error) {
        if (errorName(error) !== 'ValidationException' || !/index/i.test((error as Error).message))
          throw error;
        // The lease table was re-created without the index (by hand, or by an older tool): carry on with scans.
        this.ownerIndex = false;
        events.emit(
          'lease-table.no-owner-index',
          { leaseTable: this.deps.refresher.tableName },
          'lease table has no LeaseOwnerToLeaseKeyIndex: every taker pass scans the whole table until the worker has added it again',
        );
      }
      deadWorkers = await this.checkPeers();
    }
    const scanDue =
      !this.ownerIndex ||
      this.scanWanted ||
      this.converging ||
      deadWorkers.size > 0 ||
      clock.now() - this.snapshotAt >= this.deps.options.scanIntervalMs;
    if (scanDue) await this.scanAndTake(deadWorkers);
  }

  /**
   * The owner index is read while a hand-off this worker asked for is pending (to adopt it at once), and
   * otherwise only every few passes: leases handed here by a stopping peer are found through that peer's
   * sentinels, leases taken away through the renewals, so a steady fleet spends no request on it.
   */
  private ownLeasesCheckDue(): boolean {
    const { takerIntervalMs, leaseDurationMs } = this.deps.options;
    const interval = Math.min(OWN_LEASES_CHECK_EVERY_PASSES * takerIntervalMs, leaseDurationMs / 2);
    return this.deps.negotiator.asking() || this.deps.clock.now() - this.lastOwnCheckAt >= interval;
  }

  private async checkOwnLeases(): Promise<void> {
    const { refresher, held, clock, options } = this.deps;
    this.lastOwnCheckAt = clock.now();
    const listed = await refresher.listOwnedLeases(options.workerId);
    this.deps.touch();
    const listedKeys = new Set(listed.map((lease) => lease.leaseKey));
    // Leases a peer handed to us on its way out: take them formally (bumps the counter, checks the owner).
    for (const lease of listed) await this.adoptIfHandedHere(lease);
    // Held but no longer listed under us: confirm with a consistent read before letting go.
    const now = clock.now();
    const missing = held
      .all()
      .filter((lease) => !listedKeys.has(lease.leaseKey) && now - lease.takenAt > OWNER_INDEX_GRACE_MS);
    if (missing.length === 0) return;
    const current = new Map(
      (await refresher.getLeases(missing.map((lease) => lease.leaseKey))).map((l) => [l.leaseKey, l]),
    );
    for (const lease of missing) {
      const row = current.get(lease.leaseKey);
      if (!row) held.lose(lease.leaseKey, 'lease item no longer in the lease table');
      else if (row.leaseOwner !== options.workerId)
        held.lose(lease.leaseKey, `now owned by ${row.leaseOwner ?? 'nobody'}`);
    }
  }

  private async checkPeers(): Promise<Set<string>> {
    const keys = [...this.sentinels.values()].flat();
    if (keys.length === 0) return new Set();
    const reads = await this.deps.refresher.getLeases(keys);
    const now = this.deps.clock.now();
    this.tracker.observeSome(reads, now);
    const verdict = judgeSentinels(this.sentinels, reads, this.tracker, now);
    if (verdict.stale) this.scanWanted = true;
    if (verdict.dead.size > 0)
      this.deps.events.emit(
        'peers.dead',
        { workers: [...verdict.dead] },
        'workers stopped renewing; reading the lease table',
      );
    return verdict.dead;
  }

  private async scanAndTake(deadWorkers: ReadonlySet<string>): Promise<void> {
    const { refresher, held, clock, options, negotiator } = this.deps;
    const startedAt = clock.now();
    const leases = await refresher.listLeases();
    const now = clock.now();
    this.deps.touch();
    this.snapshot = leases;
    this.snapshotAt = startedAt;
    this.scanWanted = false;
    this.tracker.observe(leases, now);
    this.sentinels = chooseSentinels(leases, options.workerId);

    const inTable = new Map(leases.map((lease) => [lease.leaseKey, lease]));
    for (const key of held.keys()) {
      const lease = inTable.get(key);
      if (!lease) held.lose(key, 'lease item no longer in the lease table');
      else if (lease.leaseOwner !== options.workerId)
        held.lose(key, `now owned by ${lease.leaseOwner ?? 'nobody'}`);
    }
    if (!this.taking) return;
    for (const lease of leases) await this.adoptIfHandedHere(lease);

    const isExpired = (lease: Lease) =>
      this.tracker.isExpired(lease, now) ||
      (lease.leaseOwner !== undefined && deadWorkers.has(lease.leaseOwner));
    const pending = negotiator.pending(leases, isExpired, now);
    const plan = planLeaseTaking({
      leases: pending.leases,
      workerId: options.workerId,
      heldKeys: new Set([...held.readable().map((lease) => lease.leaseKey), ...pending.requestedKeys]),
      isExpired,
      maxLeasesPerWorker: options.maxLeasesPerWorker,
      maxLeasesToStealAtOnce: options.maxLeasesToStealAtOnce,
      // A KCL 1.x worker still renewing during a migration never answers: its leases are taken as they expire.
      mayAskFor: answersHandoffs,
    });
    this.converging = plan.take.length + plan.steal.length > 0 || negotiator.asking();
    for (const lease of pending.unanswered) await this.take(lease, 'steal');
    for (const lease of plan.take) await this.take(lease, 'take');
    for (const lease of plan.steal) await negotiator.ask(lease);
  }

  /** A lease the table says is ours but that we do not hold: handed to us by a peer, or lost track of. */
  private async adoptIfHandedHere(lease: Lease): Promise<void> {
    const { held, options } = this.deps;
    if (lease.leaseOwner !== options.workerId || isFinished(lease)) return;
    const key = lease.leaseKey;
    if (held.has(key) || held.isFinishedHere(key) || held.isReleasing(key)) return;
    await this.take(lease, 'adopt');
  }

  private async take(lease: Lease, how: 'take' | 'steal' | 'adopt'): Promise<void> {
    const { refresher, held, clock, options, metrics, events, negotiator } = this.deps;
    if (!this.taking || isFinished(lease) || held.isFinishedHere(lease.leaseKey)) return;
    const sentAt = clock.now();
    const taken = await refresher.takeLease(lease, options.workerId);
    negotiator.settle(lease.leaseKey);
    if (!taken) return; // someone else got there first, or its owner was writing it: next pass
    held.add({
      leaseKey: taken.leaseKey,
      counter: taken.leaseCounter,
      renewedAt: sentAt,
      takenAt: sentAt,
      readableAt: how === 'steal' ? sentAt + options.leaseDurationMs + STOLEN_LEASE_MARGIN_MS : sentAt,
      checkpoint: taken.checkpoint,
      parentShardIds: taken.parentShardIds,
    });
    if (how === 'steal') metrics.leaseSteals.inc();
    else metrics.leaseTakes.inc();
    events.emit(
      'lease.taken',
      {
        shardId: taken.leaseKey,
        how,
        previousOwner: lease.leaseOwner ?? null,
        checkpoint: taken.checkpoint,
      },
      {
        take: 'lease taken',
        steal: 'lease stolen to balance',
        adopt: 'lease adopted (handed off by a peer)',
      }[how],
    );
  }
}
