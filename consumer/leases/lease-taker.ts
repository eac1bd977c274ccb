/**
 * The taker: every taker interval, cheap by default so cost per worker stays flat as shards grow.
 *
 *   1. one sentinel lease of other workers (one eventually consistent BatchGetItem): a worker whose sentinel
 *      stood still for the lease duration is dead (confirmed by a strongly consistent read before anything is
 *      taken); a sentinel that changed owner (a peer handing its leases on as it stops) makes this pass a full
 *      scan, which adopts what was handed here. Without peer evidence every sentinel is read every pass. While
 *      the orchestrator's evidence is current (peer-evidence.ts), a crash is reported by it, so a sentinel is read
 *      only when its owner's next renewal is due (about once per renew interval: a freeze is still seen as soon
 *      as before), and every pass while its owner's pod is being deleted (its hand-off is coming);
 *   2. its own leases from the owner index, only while a hand-off it asked for is pending, and otherwise once a
 *      lease duration as a safety net: adopts leases handed to it, notices leases taken from it;
 *   3. a full scan only when needed: at start, every LEASE_SCAN_INTERVAL_MS (eventually consistent: a safety
 *      net whose takes are conditional anyway, and whose losses are confirmed first), and strongly consistent
 *      when a worker died or is reported gone, when asked (a shard ended here, new leases were created, a lease
 *      was lost or handed off), while the fleet is still converging, or when the table has no owner index.
 *      Expired and unowned leases are taken, and leases asked for to balance (see handoff-negotiator.ts), only
 *      from a full scan.
 *
 * Evidence-based takeover: when the orchestrator reports a peer gone (its pod deleted, its worker container not
 * running), passes come every FAST_PASS_MS and, once the in-flight grace has passed (gone-peers.ts), a strongly
 * consistent scan takes that peer's leases as if they had expired; they are read at once. It is safe because
 * every replica write is fenced by `leaseOwner = me`: a process wrongly reported gone can neither write nor
 * checkpoint after the take, and notices the loss at its next renewal.
 *
 * The latest full snapshot is shared with the rest of the worker (parent checks, peers to hand off to).
 */

import type { Clock } from '../../core/vocabulary/clock.js';
import { errorName } from '../../core/vocabulary/errors.js';
import { answersHandoffs, isFinished, type Lease } from '../../core/vocabulary/lease.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { NO_PEER_EVIDENCE, type PeerEvidence, PeerState } from '../peers/peer-evidence.js';
import { GonePeers } from './gone-peers.js';
import { type HandoffNegotiator, STOLEN_LEASE_MARGIN_MS } from './handoff-negotiator.js';
import type { HeldLeases } from './held-leases.js';
import { LeaseExpiryTracker } from './lease-expiry.js';
import type { LeaseRefresher } from './lease-refresher.js';
import { planLeaseTaking } from './take-plan.js';
import { chooseSentinels, judgeSentinels } from './worker-liveness.js';

export interface LeaseTakerOptions {
  workerId: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
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
  /** What the orchestrator says about the peers (default: nothing). */
  evidence?: PeerEvidence;
  /** Runs the next pass now instead of after the taker interval. */
  wake?: () => void;
}

export type TakeHow = 'take' | 'steal' | 'adopt' | 'evidence';

/** The owner index is eventually consistent: a lease just taken may not be listed under us for a moment. */
const OWNER_INDEX_GRACE_MS = 3_000;

/** How often passes run while a peer's hand-off is expected or an evidence take has to be tried again. */
export const FAST_PASS_MS = 200;

export class LeaseTaker {
  private readonly tracker: LeaseExpiryTracker;
  private readonly evidence: PeerEvidence;
  private snapshot: Lease[] = [];
  private snapshotAt = Number.NEGATIVE_INFINITY;
  private sentinels = new Map<string, string[]>();
  private scanWanted = true;
  private converging = false;
  private taking = true;
  private ownerIndex: boolean;
  private lastOwnCheckAt = Number.NEGATIVE_INFINITY;
  /** When the lease table last answered one of this taker's reads (readiness needs one every so often). */
  private lastReadAt = Number.NEGATIVE_INFINITY;
  /** What the orchestrator said about the peers, and when. */
  private readonly peers: GonePeers;
  /** An evidence take failed (a race, or the dead owner's last transaction held the item): try again soon. */
  private evidenceRetry = false;

  constructor(private readonly deps: LeaseTakerDeps) {
    this.tracker = new LeaseExpiryTracker(deps.options.leaseDurationMs);
    this.ownerIndex = deps.options.ownerIndex;
    this.evidence = deps.evidence ?? NO_PEER_EVIDENCE;
    // Whoever has a lost lease now is not among our sentinels (we chose none for our own leases): read the
    // table at the next pass, or we would learn that the new owner died or released it only at the next scan.
    deps.held.onLost(() => this.requestScan());
    this.peers = new GonePeers(this.evidence, deps.clock, deps.options.leaseDurationMs, deps.wake);
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

  /** Whether passes should come every FAST_PASS_MS for now (a hand-off expected, an evidence take due). */
  fastPasses(): boolean {
    return this.evidenceRetry || this.peers.pending(false) || this.peers.leavingWatched();
  }

  /** Other workers seen alive in the last snapshot, least loaded first; none the orchestrator says are leaving. */
  livePeersByLoad(): string[] {
    const now = this.deps.clock.now();
    const me = this.deps.options.workerId;
    const load = new Map<string, number>();
    for (const lease of this.snapshot) {
      const owner = lease.leaseOwner;
      if (!owner || owner === me || isFinished(lease) || this.tracker.isExpired(lease, now)) continue;
      if (this.evidence.isCurrent() && this.evidence.stateOf(owner) !== undefined) {
        if (this.evidence.stateOf(owner) !== PeerState.Running) continue;
      }
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
    const wanted =
      !this.ownerIndex ||
      this.scanWanted ||
      this.converging ||
      this.evidenceRetry ||
      this.peers.pending(true) ||
      deadWorkers.size > 0;
    const periodic = clock.now() - this.snapshotAt >= this.deps.options.scanIntervalMs;
    if (wanted || periodic) await this.scanAndTake(deadWorkers, wanted);
  }

  /**
   * The owner index is read while a hand-off this worker asked for is pending (to adopt it at once), and
   * otherwise once a lease duration: leases handed here by a stopping peer are found through that peer's
   * sentinel (or its pod's end), leases taken away through the renewals, so a steady fleet spends little on it.
   * It is also read when no other read of this taker reached the table for half a lease duration (a worker with
   * no peer to watch), so readiness ("the lease table answers") always has a recent answer.
   */
  private ownLeasesCheckDue(): boolean {
    const { leaseDurationMs } = this.deps.options;
    const now = this.deps.clock.now();
    return (
      this.deps.negotiator.asking() ||
      now - this.lastOwnCheckAt >= leaseDurationMs ||
      now - this.lastReadAt >= leaseDurationMs / 2
    );
  }

  /** The lease table answered a read. */
  private answered(): void {
    this.lastReadAt = this.deps.clock.now();
    this.deps.touch();
  }

  private async checkOwnLeases(): Promise<void> {
    const { refresher, held, clock, options } = this.deps;
    this.lastOwnCheckAt = clock.now();
    const listed = await refresher.listOwnedLeases(options.workerId);
    this.answered();
    const listedKeys = new Set(listed.map((lease) => lease.leaseKey));
    // Leases a peer handed to us on its way out: take them formally (bumps the counter, checks the owner).
    for (const lease of listed) await this.adoptIfHandedHere(lease);
    // Held but no longer listed under us: confirm with a consistent read before letting go.
    const now = clock.now();
    await this.loseConfirmed(
      held
        .all()
        .filter((lease) => !listedKeys.has(lease.leaseKey) && now - lease.takenAt > OWNER_INDEX_GRACE_MS)
        .map((lease) => lease.leaseKey),
    );
  }

  /** Re-reads `keys` strongly consistent and lets go of those no longer ours. */
  private async loseConfirmed(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const { refresher, held, options } = this.deps;
    const current = new Map((await refresher.getLeases(keys)).map((l) => [l.leaseKey, l]));
    for (const key of keys) {
      const row = current.get(key);
      if (!row) held.lose(key, 'lease item no longer in the lease table');
      else if (row.leaseOwner !== options.workerId)
        held.lose(key, `now owned by ${row.leaseOwner ?? 'nobody'}`);
    }
  }

  /**
   * Reads the sentinels that are due, eventually consistent (half the read capacity); a worker that looks dead
   * is confirmed with a strongly consistent read of its sentinel before it is declared so.
   */
  private async checkPeers(): Promise<Set<string>> {
    const now0 = this.deps.clock.now();
    const due = new Map([...this.sentinels].filter(([worker, keys]) => this.sentinelDue(worker, keys, now0)));
    const keys = [...due.values()].flat();
    if (keys.length === 0) return new Set();
    const reads = await this.deps.refresher.getLeases(keys, { consistent: false });
    this.answered();
    const now = this.deps.clock.now();
    this.tracker.observeSome(reads, now);
    const verdict = judgeSentinels(due, reads, this.tracker, now);
    if (verdict.stale) this.scanWanted = true;
    let dead = verdict.dead;
    if (dead.size > 0) {
      const suspects = new Map([...due].filter(([worker]) => dead.has(worker)));
      const confirmed = await this.deps.refresher.getLeases([...suspects.values()].flat());
      const at = this.deps.clock.now();
      this.tracker.observeSome(confirmed, at);
      const second = judgeSentinels(suspects, confirmed, this.tracker, at);
      if (second.stale) this.scanWanted = true;
      dead = second.dead;
    }
    if (dead.size > 0)
      this.deps.events.emit(
        'peers.dead',
        { workers: [...dead] },
        'workers stopped renewing; reading the lease table',
      );
    return dead;
  }

  /**
   * Without current evidence, every sentinel every pass. With it, a crash needs no polling, so a sentinel is
   * read once its owner's next renewal is due (renew interval − one taker interval after its counter was first
   * seen), and from then on every pass until the counter moves: the last counter a frozen owner wrote is still
   * seen within one taker interval, as when reading every pass. Every pass while its owner is leaving.
   */
  private sentinelDue(worker: string, keys: readonly string[], now: number): boolean {
    if (!this.evidence.isCurrent()) return true;
    const state = this.evidence.stateOf(worker);
    if (state === PeerState.Leaving) return true;
    if (state === PeerState.Gone) return false; // taken from the scans the evidence asked for
    const { renewIntervalMs, takerIntervalMs } = this.deps.options;
    return keys.some((key) => {
      const since = this.tracker.seenSince(key);
      return since === undefined || now - since >= renewIntervalMs - takerIntervalMs;
    });
  }

  private async scanAndTake(deadWorkers: ReadonlySet<string>, consistent: boolean): Promise<void> {
    const { refresher, held, clock, options, negotiator } = this.deps;
    const startedAt = clock.now();
    const leases = await refresher.listLeases({ consistent });
    const now = clock.now();
    this.answered();
    this.snapshot = leases;
    this.snapshotAt = startedAt;
    this.scanWanted = false;
    this.evidenceRetry = false;
    if (consistent) this.peers.scanned(startedAt);
    this.tracker.observe(leases, now);
    this.sentinels = chooseSentinels(leases, options.workerId);

    const inTable = new Map(leases.map((lease) => [lease.leaseKey, lease]));
    const notOurs = held.keys().filter((key) => inTable.get(key)?.leaseOwner !== options.workerId);
    // A consistent scan is the truth; an eventually consistent one may predate our own take, so ask again.
    if (consistent) this.loseFrom(inTable, notOurs);
    else await this.loseConfirmed(notOurs);
    if (!this.taking) return;
    for (const lease of leases) await this.adoptIfHandedHere(lease);

    const early = (lease: Lease) =>
      !this.tracker.isExpired(lease, now) &&
      !(lease.leaseOwner !== undefined && deadWorkers.has(lease.leaseOwner)) &&
      this.peers.reason(lease.leaseOwner, now) !== undefined;
    const isExpired = (lease: Lease) =>
      this.tracker.isExpired(lease, now) ||
      (lease.leaseOwner !== undefined && deadWorkers.has(lease.leaseOwner)) ||
      this.peers.reason(lease.leaseOwner, now) !== undefined;
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
    for (const lease of plan.take) await this.take(lease, early(lease) ? 'evidence' : 'take');
    for (const lease of plan.steal) await negotiator.ask(lease);
  }

  private loseFrom(inTable: ReadonlyMap<string, Lease>, keys: readonly string[]): void {
    for (const key of keys) {
      const lease = inTable.get(key);
      this.deps.held.lose(
        key,
        lease ? `now owned by ${lease.leaseOwner ?? 'nobody'}` : 'lease item no longer in the lease table',
      );
    }
  }

  /** A lease the table says is ours but that we do not hold: handed to us by a peer, or lost track of. */
  private async adoptIfHandedHere(lease: Lease): Promise<void> {
    const { held, options } = this.deps;
    if (lease.leaseOwner !== options.workerId || isFinished(lease)) return;
    const key = lease.leaseKey;
    if (held.has(key) || held.isFinishedHere(key) || held.isReleasing(key)) return;
    await this.take(lease, 'adopt');
  }

  private async take(lease: Lease, how: TakeHow): Promise<void> {
    const { refresher, held, clock, options, metrics, events, negotiator } = this.deps;
    if (!this.taking || isFinished(lease) || held.isFinishedHere(lease.leaseKey)) return;
    const evidence = how === 'evidence' ? this.peers.reason(lease.leaseOwner, clock.now()) : undefined;
    const sentAt = clock.now();
    const taken = await refresher.takeLease(lease, options.workerId);
    negotiator.settle(lease.leaseKey);
    if (!taken) {
      // Someone else got there first, or its owner was writing it. Early takes are worth retrying soon: the
      // dead owner's last transaction may have held the item for a moment.
      if (how === 'evidence') this.evidenceRetry = true;
      return;
    }
    held.add({
      leaseKey: taken.leaseKey,
      counter: taken.leaseCounter,
      renewedAt: sentAt,
      takenAt: sentAt,
      // A steal waits until the previous owner's own clock has told it the lease is gone. An expired lease's
      // owner has stopped renewing for a lease duration; a gone one has no process left to read (and a wrongly
      // reported one can neither write nor checkpoint past the take): both are read at once.
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
        ...(evidence ? { evidence } : {}),
      },
      {
        take: 'lease taken',
        steal: 'lease stolen to balance',
        adopt: 'lease adopted (handed off by a peer)',
        evidence: 'lease taken at once: the orchestrator says its owner is gone',
      }[how],
    );
  }
}
