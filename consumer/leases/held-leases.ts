/**
 * The leases this worker holds, as the renewer, the taker and the hand-off negotiator share them, and what
 * follows from them: which the shard consumers may read (the assignments the scheduler reconciles against),
 * which were finished here, which are on their way to a peer. Every change is published at once.
 */
import type { Clock } from '../../core/vocabulary/clock.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';

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

/** What the scheduler runs: the one seam between the lease side and the shard consumers. */
export interface Assignments {
  /** Leases to read now: held, and not on their way to a peer. */
  readonly read: readonly HeldLease[];
  /**
   * Leases a peer asked for: their consumers finish the batch in hand, checkpoint and stop; the scheduler
   * then says so (`LeaseCoordinator.consumerStopped`) and the lease is assigned to the peer.
   */
  readonly handOff: readonly string[];
  /** Shards this worker read to their end: never read again here. */
  readonly finished: ReadonlySet<string>;
}

export type AssignmentsListener = (assignments: Assignments) => void;

export class HeldLeases {
  private readonly leases = new Map<string, HeldLease>();
  /** Shards finished here: never adopted again, even if the owner index still lists them unfinished. */
  private readonly finishedHere = new Set<string>();
  /** Leases being handed on or released here: never adopted back while that write is on its way. */
  private readonly releasingHere = new Set<string>();
  private readonly listeners = new Set<AssignmentsListener>();
  private readonly lostListeners = new Set<(leaseKey: string) => void>();

  constructor(
    private readonly leaseDurationMs: number,
    private readonly clock: Clock,
    private readonly events: WorkerEvents,
    private readonly metrics: WorkerMetrics,
  ) {}

  get(leaseKey: string): HeldLease | undefined {
    return this.leases.get(leaseKey);
  }

  has(leaseKey: string): boolean {
    return this.leases.has(leaseKey);
  }

  all(): HeldLease[] {
    return [...this.leases.values()];
  }

  keys(): string[] {
    return [...this.leases.keys()];
  }

  /** True while this worker may act on the lease: held, and renewed within the lease duration. */
  isHeld(leaseKey: string): boolean {
    const lease = this.leases.get(leaseKey);
    return lease !== undefined && this.clock.now() - lease.renewedAt < this.leaseDurationMs;
  }

  /** Leases to read: held, and not being handed to a peer. */
  readable(): HeldLease[] {
    return this.all().filter((lease) => this.isHeld(lease.leaseKey) && lease.handingOffTo === undefined);
  }

  isFinishedHere(leaseKey: string): boolean {
    return this.finishedHere.has(leaseKey);
  }

  isReleasing(leaseKey: string): boolean {
    return this.releasingHere.has(leaseKey);
  }

  add(lease: HeldLease): void {
    this.leases.set(lease.leaseKey, lease);
    this.changed();
  }

  /**
   * A renewal succeeded. If the lease had run out on this worker's clock meanwhile (renewals slower than the
   * lease duration), it is readable again: publish, so its shard gets a consumer again.
   */
  renewed(lease: HeldLease, counter: number, sentAt: number): void {
    const wasHeld = this.isHeld(lease.leaseKey);
    lease.counter = counter;
    lease.renewedAt = sentAt;
    if (!wasHeld && this.isHeld(lease.leaseKey)) this.changed();
  }

  /** A peer asked for the lease: its consumer is stopped, then it is handed over. */
  markHandingOff(lease: HeldLease, to: string): void {
    lease.handingOffTo = to;
    this.changed();
  }

  /** Let go on purpose (handed on, released): not lost, and not to be adopted back meanwhile. */
  release(leaseKey: string): void {
    this.releasingHere.add(leaseKey);
    if (this.leases.delete(leaseKey)) this.changed();
  }

  /** The hand-off or release write is done (or failed): the lease may be adopted again if handed back. */
  released(leaseKey: string): void {
    this.releasingHere.delete(leaseKey);
  }

  /** A shard reached SHARD_END: stop renewing; the finished lease stays for cleanup. */
  finish(leaseKey: string): void {
    this.finishedHere.add(leaseKey);
    this.leases.delete(leaseKey);
    this.changed();
  }

  /** Taken by another worker, gone from the table, or not renewed in time. */
  lose(leaseKey: string, reason: string): void {
    if (!this.leases.delete(leaseKey)) return;
    this.metrics.leaseLosses.inc();
    this.events.emit('lease.lost', { shardId: leaseKey, reason }, 'lease lost');
    for (const listener of this.lostListeners) listener(leaseKey);
    this.changed();
  }

  assignments(): Assignments {
    return {
      read: this.readable(),
      handOff: this.all()
        .filter((lease) => lease.handingOffTo !== undefined)
        .map((lease) => lease.leaseKey),
      finished: new Set(this.finishedHere),
    };
  }

  /** Called with the new assignments after every change. */
  onChange(listener: AssignmentsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onLost(listener: (leaseKey: string) => void): void {
    this.lostListeners.add(listener);
  }

  private changed(): void {
    this.metrics.leasesHeld.set(this.leases.size);
    if (this.listeners.size === 0) return;
    const assignments = this.assignments();
    for (const listener of this.listeners) listener(assignments);
  }
}
