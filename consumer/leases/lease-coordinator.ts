/**
 * The lease loop of one worker.
 *
 * Renewer (every renew interval): one conditional write per held lease, no reads. It carries the shard's
 * pending progress (an idle shard's `caughtUpAt`), and retries within the pass what AWS refuses for a moment
 * (a transaction of another process on the item, throttling), so such a refusal never costs a healthy owner
 * its lease. Its own transactions never collide with it: both pass the lease item's gate (lease-item-gate.ts).
 * Taker (every taker interval), cheap by default so cost per worker stays flat as shards grow:
 *   1. two sentinel leases of every other worker (one BatchGetItem): a worker whose sentinels stood still
 *      for the lease duration is dead; a sentinel that changed owner (a peer handing its leases on as it
 *      stops) makes this pass a full scan, which adopts what was handed here;
 *   2. its own leases from the owner index, only while a hand-off it asked for is pending, and otherwise every
 *      few passes as a safety net: adopts leases handed to it, notices leases taken from it;
 *   3. a full, strongly consistent scan only when needed: at start, every LEASE_SCAN_INTERVAL_MS, when a
 *      worker died, when asked (a shard ended here, new leases were created), while the fleet is still
 *      converging (the last scan found something to take or steal), or when the table has no owner index.
 *      Expired and unowned leases are taken and leases are stolen to balance only from a full scan.
 * Balancing is cooperative: a worker short of leases asks the most loaded one for a lease (`handoffTo` on
 * the item); the owner sees the request at its next renewal, stops reading the shard after its batch and
 * checkpoint, and assigns the lease to the requester, which adopts it at its next pass and reads at once.
 * An owner that does not answer within a lease duration (an older version, a stuck worker) loses the lease
 * to a classic steal, which waits a lease duration before reading.
 * The latest full snapshot is shared with the rest of the worker (parent checks) so they need no reads.
 */
import { errorName, isThrottlingError, isTransactionConflict } from '../../core/errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { type RetryPolicy, retry } from '../retry.js';
import { isFinished, type Lease } from './lease.js';
import { LeaseExpiryTracker } from './lease-expiry.js';
import type { LeaseRefresher } from './lease-refresher.js';
import { planLeaseTaking } from './lease-taker.js';
import type { PendingProgress } from './pending-progress.js';
import { chooseSentinels, judgeSentinels } from './worker-liveness.js';

export interface LeaseCoordinatorOptions {
  workerId: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
  takerIntervalMs: number;
  scanIntervalMs: number;
  maxLeasesPerWorker: number;
  maxLeasesToStealAtOnce: number;
  /** False when the lease table has no owner index: every pass is then a full scan. */
  ownerIndex: boolean;
  /** Progress the shard consumers saw and the renewals record; none when absent. */
  progress?: PendingProgress;
}

export interface HeldLease {
  readonly leaseKey: string;
  counter: number;
  /** Local time the last successful renewal (or the take) was *sent*: validity is counted from there. */
  renewedAt: number;
  readonly takenAt: number;
  /**
   * Not read before this local time. A stolen lease waits one lease duration: by then its previous owner's
   * last renewal (sent before the steal) has run out on its own clock and it has stopped reading, however
   * slow its renewals were, so two workers never read one shard at the same time.
   */
  readonly readableAt: number;
  readonly checkpoint: string;
  readonly parentShardIds: readonly string[];
  /** A peer asked for this lease: it is being stopped here and handed to that peer. */
  handingOffTo?: string;
}

/** Stops reading a shard (after the batch in flight and its checkpoint); resolves once stopped. */
export type ShardStopper = (leaseKey: string) => Promise<void>;

/** Added to the lease duration before a stolen lease is read: time for the previous owner to unwind its reader. */
const STOLEN_LEASE_MARGIN_MS = 1_000;

/** The owner index is eventually consistent: a lease just taken may not be listed under us for a moment. */
const OWNER_INDEX_GRACE_MS = 3_000;

/** Own leases are listed from the owner index at least every this many taker passes, as a safety net. */
const OWN_LEASES_CHECK_EVERY_PASSES = 5;

/**
 * A renewal refused for a moment (another process's transaction on the item, throttling) is sent again within
 * the pass, quickly: the other transaction lasts tens of milliseconds.
 */
const RENEWAL_RETRY: RetryPolicy = {
  baseDelayMs: 25,
  maxDelayMs: 500,
  maxAttempts: Number.POSITIVE_INFINITY,
};

export class LeaseCoordinator {
  private readonly held = new Map<string, HeldLease>();
  /** Shards finished here: never adopted again, even if the owner index still lists them unfinished. */
  private readonly finished = new Set<string>();
  private readonly tracker: LeaseExpiryTracker;
  private snapshot: Lease[] = [];
  private snapshotAt = Number.NEGATIVE_INFINITY;
  private sentinels = new Map<string, string[]>();
  private scanWanted = true;
  private converging = false;
  private taking = true;
  private readonly stopController = new AbortController();
  private loops: Promise<void>[] = [];
  private lastTableContactAt = Number.NEGATIVE_INFINITY;
  /** Whether the owner index can be used; turned off if the table turns out not to have it. */
  private ownerIndex: boolean;
  /** Hand-offs this worker asked peers for: lease key → local time first seen asked. */
  private readonly requested = new Map<string, number>();
  /** Requests of other workers seen in scans: lease key → requester and local time first seen. */
  private readonly othersRequests = new Map<string, { to: string; since: number }>();
  /** Hand-offs to peers in progress here. */
  private readonly handoffs = new Set<Promise<void>>();
  /** Leases being handed on or released here: never adopted back while that write is on its way. */
  private readonly releasing = new Set<string>();
  private lastOwnCheckAt = Number.NEGATIVE_INFINITY;
  private stopShard: ShardStopper = async () => {};

  constructor(
    private readonly refresher: LeaseRefresher,
    private readonly options: LeaseCoordinatorOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: WorkerMetrics,
  ) {
    this.tracker = new LeaseExpiryTracker(options.leaseDurationMs);
    this.ownerIndex = options.ownerIndex;
  }

  start(): void {
    this.loops = [
      this.every(this.options.renewIntervalMs, () => this.renewAll()),
      this.every(this.options.takerIntervalMs, () => this.takerPass()),
    ];
  }

  /** Stops both loops (leases stay owned in the table; hand them off or release them first). */
  async stop(): Promise<void> {
    this.stopController.abort();
    await Promise.allSettled([...this.loops, ...this.handoffs]);
  }

  stopTaking(): void {
    this.taking = false;
  }

  /** How a lease a peer asked for is let go: the scheduler stops its shard consumer first. */
  setShardStopper(stop: ShardStopper): void {
    this.stopShard = stop;
  }

  /** The next taker pass reads the whole table (new leases exist, or a shard ended here). */
  requestScan(): void {
    this.scanWanted = true;
  }

  /** True while this worker may act on the lease: held, and renewed within the lease duration. */
  isHeld(leaseKey: string): boolean {
    const lease = this.held.get(leaseKey);
    return lease !== undefined && this.clock.now() - lease.renewedAt < this.options.leaseDurationMs;
  }

  /** Leases to read: held, and not being handed to a peer. */
  heldLeases(): HeldLease[] {
    return [...this.held.values()].filter(
      (lease) => this.isHeld(lease.leaseKey) && lease.handingOffTo === undefined,
    );
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
    this.finished.add(leaseKey);
    this.held.delete(leaseKey);
    this.updateGauge();
  }

  /**
   * Graceful shutdown: hands every held lease to the least loaded live peers, which adopt them within one
   * taker pass; with no peer known, releases them (unowned) for whoever scans next.
   */
  async handOffAll(): Promise<void> {
    const leases = [...this.held.values()];
    for (const lease of leases) this.releasing.add(lease.leaseKey);
    this.held.clear();
    this.updateGauge();
    const peers = this.livePeersByLoad();
    await Promise.all(
      leases.map(async (lease, i) => {
        const peer = lease.handingOffTo ?? (peers.length > 0 ? peers[i % peers.length] : undefined);
        try {
          const done = await this.releaseWrite(() =>
            peer
              ? this.refresher.assignLease(lease.leaseKey, this.options.workerId, peer)
              : this.refresher.evictLease(lease.leaseKey, this.options.workerId),
          );
          this.log.info(
            { shardId: lease.leaseKey, to: peer ?? null, done },
            peer ? 'lease handed off' : 'lease released',
          );
        } catch (error) {
          this.log.warn(
            { shardId: lease.leaseKey, err: error },
            'could not hand off lease; it will expire instead',
          );
        }
      }),
    );
  }

  /** One taker pass; public so start-up and tests can run one at once. */
  async takerPass(): Promise<void> {
    let deadWorkers = new Set<string>();
    if (this.ownerIndex && this.snapshot.length > 0) {
      try {
        if (this.ownLeasesCheckDue()) await this.checkOwnLeases();
      } catch (error) {
        if (errorName(error) !== 'ValidationException' || !/index/i.test((error as Error).message))
          throw error;
        // The lease table was re-created without the index (by hand, or by an older tool): carry on with scans.
        this.ownerIndex = false;
        this.log.warn(
          { err: error },
          'lease table has no LeaseOwnerToLeaseKeyIndex: every taker pass now scans the whole table; recreate the table or add the index',
        );
      }
      deadWorkers = await this.checkPeers();
    }
    const now = this.clock.now();
    const scanDue =
      !this.ownerIndex ||
      this.scanWanted ||
      this.converging ||
      deadWorkers.size > 0 ||
      now - this.snapshotAt >= this.options.scanIntervalMs;
    if (scanDue) await this.scanAndTake(deadWorkers);
  }

  /**
   * The owner index is read while a hand-off this worker asked for is pending (to adopt it at once), and
   * otherwise only every few passes: leases handed here by a stopping peer are found through that peer's
   * sentinels, leases taken away through the renewals, so a steady fleet spends no request on it.
   */
  private ownLeasesCheckDue(): boolean {
    const interval = Math.min(
      OWN_LEASES_CHECK_EVERY_PASSES * this.options.takerIntervalMs,
      this.options.leaseDurationMs / 2,
    );
    return this.requested.size > 0 || this.clock.now() - this.lastOwnCheckAt >= interval;
  }

  private async checkOwnLeases(): Promise<void> {
    this.lastOwnCheckAt = this.clock.now();
    const listed = await this.refresher.listOwnedLeases(this.options.workerId);
    this.touch();
    const listedKeys = new Set(listed.map((lease) => lease.leaseKey));
    // Leases a peer handed to us on its way out: take them formally (bumps the counter, checks the owner).
    for (const lease of listed) await this.adoptIfHandedHere(lease);
    // Held but no longer listed under us: confirm with a consistent read before letting go.
    const now = this.clock.now();
    const missing = [...this.held.values()].filter(
      (lease) => !listedKeys.has(lease.leaseKey) && now - lease.takenAt > OWNER_INDEX_GRACE_MS,
    );
    if (missing.length === 0) return;
    const current = new Map(
      (await this.refresher.getLeases(missing.map((lease) => lease.leaseKey))).map((l) => [l.leaseKey, l]),
    );
    for (const lease of missing) {
      const row = current.get(lease.leaseKey);
      if (!row) this.lose(lease.leaseKey, 'lease item no longer in the lease table');
      else if (row.leaseOwner !== this.options.workerId)
        this.lose(lease.leaseKey, `now owned by ${row.leaseOwner ?? 'nobody'}`);
    }
  }

  private async checkPeers(): Promise<Set<string>> {
    const keys = [...this.sentinels.values()].flat();
    if (keys.length === 0) return new Set();
    const reads = await this.refresher.getLeases(keys);
    const now = this.clock.now();
    this.tracker.observeSome(reads, now);
    const verdict = judgeSentinels(this.sentinels, reads, this.tracker, now);
    if (verdict.stale) this.scanWanted = true;
    if (verdict.dead.size > 0)
      this.log.info({ workers: [...verdict.dead] }, 'workers stopped renewing; reading the lease table');
    return verdict.dead;
  }

  private async scanAndTake(deadWorkers: ReadonlySet<string>): Promise<void> {
    const startedAt = this.clock.now();
    const leases = await this.refresher.listLeases();
    const now = this.clock.now();
    this.touch();
    this.snapshot = leases;
    this.snapshotAt = startedAt;
    this.scanWanted = false;
    this.tracker.observe(leases, now);
    this.sentinels = chooseSentinels(leases, this.options.workerId);

    const inTable = new Map(leases.map((lease) => [lease.leaseKey, lease]));
    for (const key of [...this.held.keys()]) {
      const lease = inTable.get(key);
      if (!lease) this.lose(key, 'lease item no longer in the lease table');
      else if (lease.leaseOwner !== this.options.workerId)
        this.lose(key, `now owned by ${lease.leaseOwner ?? 'nobody'}`);
    }
    if (!this.taking) return;
    for (const lease of leases) await this.adoptIfHandedHere(lease);

    const isExpired = (lease: Lease) =>
      this.tracker.isExpired(lease, now) ||
      (lease.leaseOwner !== undefined && deadWorkers.has(lease.leaseOwner));
    const pending = this.pendingHandoffs(leases, isExpired, now);
    const plan = planLeaseTaking({
      leases: pending.leases,
      workerId: this.options.workerId,
      heldKeys: new Set([...this.heldLeases().map((lease) => lease.leaseKey), ...pending.requestedKeys]),
      isExpired,
      maxLeasesPerWorker: this.options.maxLeasesPerWorker,
      maxLeasesToStealAtOnce: this.options.maxLeasesToStealAtOnce,
    });
    this.converging = plan.take.length + plan.steal.length + this.requested.size > 0;
    for (const lease of pending.unanswered) await this.take(lease, 'steal');
    for (const lease of plan.take) await this.take(lease, 'take');
    for (const lease of plan.steal) await this.requestHandoff(lease);
  }

  /**
   * The snapshot as it will be once pending hand-offs are done, for planning: a lease asked for by a live
   * worker counts as that worker's, so nobody asks for more than it needs. Requests of this worker that
   * their owner left unanswered for a lease duration come back as `unanswered` (to steal the classic way);
   * requests of others that stay unserved for two lease durations are ignored. Expired leases stay as they
   * are: whoever plans takes them at once.
   */
  private pendingHandoffs(
    leases: readonly Lease[],
    isExpired: (lease: Lease) => boolean,
    now: number,
  ): { leases: Lease[]; requestedKeys: string[]; unanswered: Lease[] } {
    const me = this.options.workerId;
    const seenMine = new Set<string>();
    const seenOthers = new Set<string>();
    const requestedKeys: string[] = [];
    const unanswered: Lease[] = [];
    const planned = leases.map((lease) => {
      const to = lease.handoffTo;
      if (to === undefined || lease.leaseOwner === undefined || isFinished(lease) || isExpired(lease))
        return lease;
      if (to === me) {
        seenMine.add(lease.leaseKey);
        const since = this.requested.get(lease.leaseKey) ?? now;
        this.requested.set(lease.leaseKey, since);
        requestedKeys.push(lease.leaseKey);
        if (now - since > this.options.leaseDurationMs + STOLEN_LEASE_MARGIN_MS) unanswered.push(lease);
        return { ...lease, leaseOwner: me };
      }
      seenOthers.add(lease.leaseKey);
      const seen = this.othersRequests.get(lease.leaseKey);
      const since = seen?.to === to ? seen.since : now;
      this.othersRequests.set(lease.leaseKey, { to, since });
      return now - since > 2 * this.options.leaseDurationMs ? lease : { ...lease, leaseOwner: to };
    });
    for (const key of this.requested.keys()) if (!seenMine.has(key)) this.requested.delete(key);
    for (const key of this.othersRequests.keys()) if (!seenOthers.has(key)) this.othersRequests.delete(key);
    return { leases: planned, requestedKeys, unanswered };
  }

  /** A lease the table says is ours but that we do not hold: handed to us by a peer, or lost track of. */
  private async adoptIfHandedHere(lease: Lease): Promise<void> {
    if (lease.leaseOwner !== this.options.workerId || isFinished(lease)) return;
    const key = lease.leaseKey;
    if (this.held.has(key) || this.finished.has(key) || this.releasing.has(key)) return;
    await this.take(lease, 'adopt');
  }

  private async requestHandoff(lease: Lease): Promise<void> {
    if (!(await this.refresher.requestHandoff(lease, this.options.workerId))) return;
    this.requested.set(lease.leaseKey, this.clock.now());
    this.metrics.leaseSteals.inc();
    this.log.info(
      { shardId: lease.leaseKey, owner: lease.leaseOwner },
      'lease hand-off requested to balance',
    );
  }

  /** A peer asked for a held lease: stop reading it here (batch and checkpoint done), then assign it. */
  private handOff(lease: HeldLease, to: string): void {
    lease.handingOffTo = to;
    this.log.info(
      { shardId: lease.leaseKey, to },
      'lease asked for by a peer: finishing the batch, then handing it over',
    );
    const task = (async () => {
      try {
        await this.stopShard(lease.leaseKey);
      } catch (error) {
        this.log.warn({ shardId: lease.leaseKey, err: error }, 'stopping the shard for a hand-off failed');
      }
      if (this.held.get(lease.leaseKey) !== lease) return; // lost, or handed off at shutdown, meanwhile
      this.releasing.add(lease.leaseKey);
      this.held.delete(lease.leaseKey);
      this.updateGauge();
      // As after a loss: the snapshot (and the sentinels chosen from it) no longer says who holds what, and a
      // peer that joined since has no sentinel here; read the table at the next pass.
      this.scanWanted = true;
      try {
        const done = await this.releaseWrite(() =>
          this.refresher.assignLease(lease.leaseKey, this.options.workerId, to),
        );
        this.log.info({ shardId: lease.leaseKey, to, done }, 'lease handed off to balance');
      } catch (error) {
        this.log.warn(
          { shardId: lease.leaseKey, err: error },
          'could not hand off lease; it will expire instead',
        );
      } finally {
        this.releasing.delete(lease.leaseKey);
      }
    })();
    this.handoffs.add(task);
    void task.finally(() => this.handoffs.delete(task));
  }

  private async take(lease: Lease, kind: 'take' | 'steal' | 'adopt'): Promise<void> {
    if (!this.taking || isFinished(lease) || this.finished.has(lease.leaseKey)) return;
    const sentAt = this.clock.now();
    const taken = await this.refresher.takeLease(lease, this.options.workerId);
    this.requested.delete(lease.leaseKey);
    if (!taken) return; // someone else got there first, or its owner was writing it: next pass
    this.held.set(taken.leaseKey, {
      leaseKey: taken.leaseKey,
      counter: taken.leaseCounter,
      renewedAt: sentAt,
      takenAt: sentAt,
      readableAt: kind === 'steal' ? sentAt + this.options.leaseDurationMs + STOLEN_LEASE_MARGIN_MS : sentAt,
      checkpoint: taken.checkpoint,
      parentShardIds: taken.parentShardIds,
    });
    if (kind === 'steal') this.metrics.leaseSteals.inc();
    else this.metrics.leaseTakes.inc();
    const message = {
      take: 'lease taken',
      steal: 'lease stolen to balance',
      adopt: 'lease adopted (handed off by a peer)',
    }[kind];
    this.log.info(
      { shardId: taken.leaseKey, previousOwner: lease.leaseOwner ?? null, checkpoint: taken.checkpoint },
      message,
    );
    this.updateGauge();
  }

  /** Other workers seen alive in the last snapshot, least loaded first. */
  private livePeersByLoad(): string[] {
    const now = this.clock.now();
    const load = new Map<string, number>();
    for (const lease of this.snapshot) {
      const owner = lease.leaseOwner;
      if (
        !owner ||
        owner === this.options.workerId ||
        isFinished(lease) ||
        this.tracker.isExpired(lease, now)
      )
        continue;
      load.set(owner, (load.get(owner) ?? 0) + 1);
    }
    return [...load.entries()].sort((a, b) => a[1] - b[1]).map(([owner]) => owner);
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.held.values()].map((lease) => this.renew(lease)));
  }

  private async renew(lease: HeldLease): Promise<void> {
    const progress = this.options.progress?.take(lease.leaseKey);
    let sentAt = this.clock.now();
    const deadline = sentAt + this.options.renewIntervalMs;
    try {
      const renewed = await retry(
        () => {
          sentAt = this.clock.now();
          return this.refresher.renewLease(lease.leaseKey, this.options.workerId, lease.counter, progress);
        },
        {
          clock: this.clock,
          policy: RENEWAL_RETRY,
          signal: this.stopController.signal,
          isRetriable: (error) =>
            (isTransactionConflict(error) || isThrottlingError(error)) &&
            this.held.get(lease.leaseKey) === lease &&
            this.clock.now() < deadline,
          onRetry: (error) => {
            if (isTransactionConflict(error)) this.metrics.transactionConflicts.inc({ api: 'UpdateItem' });
          },
        },
      );
      this.touch();
      if (this.held.get(lease.leaseKey) !== lease) return; // handed off or finished meanwhile
      if (renewed === undefined) {
        this.lose(lease.leaseKey, 'renewal condition failed');
        return;
      }
      lease.counter = renewed.counter;
      lease.renewedAt = sentAt;
      const to = renewed.handoffTo;
      if (to !== undefined && to !== this.options.workerId && lease.handingOffTo === undefined && this.taking)
        this.handOff(lease, to);
    } catch (error) {
      if (progress) this.options.progress?.note(lease.leaseKey, progress);
      this.log.warn({ shardId: lease.leaseKey, err: error }, 'lease renewal failed; will retry');
      if (!this.isHeld(lease.leaseKey) && this.held.get(lease.leaseKey) === lease) {
        this.lose(lease.leaseKey, 'not renewed within the lease duration');
      }
    }
  }

  private lose(leaseKey: string, reason: string): void {
    if (!this.held.delete(leaseKey)) return;
    // Whoever has it now is not among our sentinels (we chose none for our own leases): read the table at the
    // next pass, or we would learn that the new owner died or released it only at the periodic full scan.
    this.scanWanted = true;
    this.metrics.leaseLosses.inc();
    this.log.warn({ shardId: leaseKey, reason }, 'lease lost');
    this.updateGauge();
  }

  /**
   * Hand-offs and releases are how a peer gets a shard at once: one refused for a moment (a conflict with a
   * transaction of another process, throttling) is retried a few times before the lease is left to expire.
   */
  private releaseWrite(write: () => Promise<boolean>): Promise<boolean> {
    return retry(write, {
      clock: this.clock,
      policy: { baseDelayMs: 25, maxDelayMs: 500, maxAttempts: 8 },
      isRetriable: (error) => isTransactionConflict(error) || isThrottlingError(error),
    });
  }

  private touch(): void {
    this.lastTableContactAt = this.clock.now();
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
