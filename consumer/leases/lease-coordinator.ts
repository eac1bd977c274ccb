/**
 * The lease loop of one worker, assembled from units with one job each:
 *
 * - `HeldLeases` (held-leases.ts): what this worker holds, and the **assignments** it publishes on every
 *   change — the one seam with the scheduler (what to read, what to stop and hand over, what is finished);
 * - `LeaseRenewer` (lease-renewer.ts): every renew interval, one conditional write per held lease;
 * - `LeaseTaker` (lease-taker.ts): every taker interval, sentinels of the peers, the owner index when needed,
 *   a full scan when needed; takes expired and unowned leases, adopts leases handed here, and takes the leases
 *   of a peer the orchestrator reports gone at once (consumer/peers: the `PeerEvidence` port), woken early;
 * - `HandoffNegotiator` (handoff-negotiator.ts): asks busier peers for leases to balance, answers their
 *   requests once the consumer stopped, hands everything over at shutdown;
 * - `LeaseLoopHealth` (lease-loop-health.ts): whether both loops keep completing passes (readiness).
 *
 * Lease expiry needs no clock sync: a lease is expired when its leaseCounter has not changed for the lease
 * duration on this worker's own clock (lease-expiry.ts).
 */
import type { Clock } from '../../core/vocabulary/clock.js';
import { isFinished, type Lease } from '../../core/vocabulary/lease.js';
import type { WorkerEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { PeerEvidence } from '../peers/peer-evidence.js';
import { HandoffNegotiator } from './handoff-negotiator.js';
import { type Assignments, type AssignmentsListener, type HeldLease, HeldLeases } from './held-leases.js';
import { type LeaseLoop, LeaseLoopHealth } from './lease-loop-health.js';
import type { LeaseRefresher } from './lease-refresher.js';
import { LeaseRenewer } from './lease-renewer.js';
import { FAST_PASS_MS, LeaseTaker, type LeaseTakerOptions } from './lease-taker.js';
import type { PendingProgress } from './pending-progress.js';

export type { Assignments, HeldLease };

export interface LeaseCoordinatorOptions extends LeaseTakerOptions {
  /** Progress the shard consumers saw and the renewals record; none when absent. */
  progress?: PendingProgress;
  /** What the orchestrator says about the peers; none when absent (the lease duration alone rules). */
  evidence?: PeerEvidence;
}

export class LeaseCoordinator {
  private readonly held: HeldLeases;
  private readonly renewer: LeaseRenewer;
  private readonly taker: LeaseTaker;
  private readonly negotiator: HandoffNegotiator;
  private readonly health: LeaseLoopHealth;
  private readonly stopController = new AbortController();
  private loops: Promise<void>[] = [];
  private lastTableContactAt = Number.NEGATIVE_INFINITY;
  /** Ends the taker loop's current pause early (set while it pauses). */
  private wakeTaker: (() => void) | undefined;
  /** A wake-up asked for while a pass ran: the next pause is skipped. */
  private wakePending = false;

  constructor(
    refresher: LeaseRefresher,
    private readonly options: LeaseCoordinatorOptions,
    private readonly clock: Clock,
    log: Logger,
    metrics: WorkerMetrics,
    events: WorkerEvents,
  ) {
    const touch = () => {
      this.lastTableContactAt = clock.now();
    };
    this.held = new HeldLeases(options.leaseDurationMs, clock, events, metrics);
    this.negotiator = new HandoffNegotiator({
      refresher,
      held: this.held,
      workerId: options.workerId,
      leaseDurationMs: options.leaseDurationMs,
      clock,
      events,
      metrics,
      requestScan: () => this.taker.requestScan(),
    });
    this.taker = new LeaseTaker({
      refresher,
      held: this.held,
      negotiator: this.negotiator,
      options,
      clock,
      events,
      metrics,
      touch,
      ...(options.evidence ? { evidence: options.evidence } : {}),
      wake: () => this.wake(),
    });
    this.renewer = new LeaseRenewer({
      refresher,
      held: this.held,
      workerId: options.workerId,
      renewIntervalMs: options.renewIntervalMs,
      clock,
      events,
      metrics,
      progress: options.progress,
      touch,
      onAsked: (lease, to) => {
        if (this.taker.isTaking()) this.negotiator.answer(lease, to);
      },
      signal: this.stopController.signal,
    });
    this.health = new LeaseLoopHealth(this.staleAfterMs(), clock, events, metrics, log);
  }

  start(): void {
    const { renewIntervalMs, takerIntervalMs } = this.options;
    this.loops = [
      this.every(
        'renewer',
        () => renewIntervalMs,
        () => this.renewer.renewAll(),
      ),
      this.every(
        'taker',
        () => (this.taker.fastPasses() ? Math.min(FAST_PASS_MS, takerIntervalMs) : takerIntervalMs),
        () => this.taker.pass(),
        true,
      ),
    ];
  }

  /** The next taker pass runs now (a peer was reported gone or leaving). */
  private wake(): void {
    if (this.wakeTaker) this.wakeTaker();
    else this.wakePending = true;
  }

  /** Stops both loops (leases stay owned in the table; hand them off or release them first). */
  async stop(): Promise<void> {
    this.stopController.abort();
    await Promise.allSettled(this.loops);
    await this.negotiator.settled();
  }

  stopTaking(): void {
    this.taker.stopTaking();
  }

  /** The lease table's owner index is ACTIVE now (see owner-index.ts). */
  ownerIndexReady(): void {
    this.taker.useOwnerIndex();
  }

  /** One taker pass; public so start-up and tests can run one at once. */
  takerPass(): Promise<void> {
    return this.taker.pass();
  }

  /** The next taker pass reads the whole table (new leases exist, or a shard ended here). */
  requestScan(): void {
    this.taker.requestScan();
  }

  /** What the shard consumers should be doing now. */
  assignments(): Assignments {
    return this.held.assignments();
  }

  /** Called after every change of the assignments. */
  onAssignments(listener: AssignmentsListener): () => void {
    return this.held.onChange(listener);
  }

  /** The scheduler stopped the consumer of a lease in `assignments().handOff` (or none was running). */
  consumerStopped(leaseKey: string): void {
    this.negotiator.consumerStopped(leaseKey);
  }

  /** True while this worker may act on the lease: held, and renewed within the lease duration. */
  isHeld(leaseKey: string): boolean {
    return this.held.isHeld(leaseKey);
  }

  /** Leases to read: held, and not being handed to a peer. */
  heldLeases(): HeldLease[] {
    return this.held.readable();
  }

  latestSnapshot(): { leases: readonly Lease[]; takenAt: number } {
    return this.taker.latestSnapshot();
  }

  /**
   * The latest lease-table snapshot plus what this worker knows better: shards it finished itself. Parent
   * checks read it before they read the parents themselves.
   */
  leaseView(): ReadonlyMap<string, Lease> {
    const view = new Map(this.taker.latestSnapshot().leases.map((lease) => [lease.leaseKey, lease]));
    for (const [key, lease] of view) {
      if (this.held.isFinishedHere(key) && !isFinished(lease))
        view.set(key, { ...lease, checkpoint: 'SHARD_END' });
    }
    return view;
  }

  /** Ready: the lease table answered recently, and both lease loops keep completing their passes. */
  ready(): boolean {
    return this.clock.now() - this.lastTableContactAt < this.staleAfterMs() && this.health.healthy();
  }

  /** What the lease loops are failing with now (empty when healthy), for /readyz. */
  failingCauses(): Record<string, string[]> {
    return this.health.failingCauses();
  }

  /** A shard reached SHARD_END: stop renewing; the finished lease stays for cleanup. */
  markFinished(leaseKey: string): void {
    this.held.finish(leaseKey);
    this.taker.requestScan();
  }

  /**
   * Graceful shutdown: hands every held lease to the least loaded live peers, which adopt them within one
   * taker pass; with no peer known, releases them (unowned) for whoever scans next.
   */
  handOffAll(): Promise<void> {
    return this.negotiator.leave(this.taker.livePeersByLoad());
  }

  private staleAfterMs(): number {
    return Math.max(this.options.leaseDurationMs, 3 * this.options.takerIntervalMs);
  }

  private async every(
    loop: LeaseLoop,
    intervalMs: () => number,
    body: () => Promise<void>,
    wakeable = false,
  ): Promise<void> {
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      const started = this.clock.now();
      try {
        await body();
        this.health.succeeded(loop);
      } catch (error) {
        this.health.failed(loop, error);
      }
      const pause = Math.max(0, intervalMs() - (this.clock.now() - started));
      await (wakeable ? this.wakeablePause(pause) : this.clock.sleep(pause, signal));
    }
  }

  /** A pause of the taker loop that `wake()` (or stopping) ends early. */
  private async wakeablePause(ms: number): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return;
    }
    const stop = this.stopController.signal;
    const controller = new AbortController();
    const onStop = () => controller.abort();
    stop.addEventListener('abort', onStop, { once: true });
    this.wakeTaker = () => controller.abort();
    try {
      await this.clock.sleep(ms, controller.signal);
    } finally {
      this.wakeTaker = undefined;
      stop.removeEventListener('abort', onStop);
    }
  }
}
