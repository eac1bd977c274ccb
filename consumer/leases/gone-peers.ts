/**
 * What the orchestrator said about the peers, and when (consumer/peers/peer-evidence.ts): which peer is gone —
 * its leases may be taken early once IN_FLIGHT_GRACE_MS has passed, for one lease duration, and only while the
 * watch is current — and which is leaving (its pod is being deleted: its hand-off is coming, so it is watched
 * closely for a while). Bookkeeping only; the taker acts on it (lease-taker.ts).
 */
import type { Clock } from '../../core/vocabulary/clock.js';
import { type GoneReason, type PeerEvidence, PeerState } from '../peers/peer-evidence.js';

/** How long a peer whose pod is being deleted is watched closely (a pod stuck terminating is not for ever). */
const LEAVING_WATCH_MS = 30_000;

/**
 * A gone peer's leases are taken this long after the news, not at once: a transaction the dead process had
 * sent is then no longer on its way (a request still in the network lands within milliseconds; a lost packet is
 * sent again within a few hundred), so it has landed and moved the checkpoint, and nothing is written twice.
 */
export const IN_FLIGHT_GRACE_MS = 1_000;

export class GonePeers {
  /** Peers reported gone: when, why, and whether a scan after the grace has acted on it. */
  private readonly gone = new Map<string, { at: number; reason: GoneReason | undefined; acted: boolean }>();
  /** Peers whose pod is being deleted: since when. */
  private readonly leaving = new Map<string, number>();

  constructor(
    private readonly evidence: PeerEvidence,
    private readonly clock: Clock,
    private readonly leaseDurationMs: number,
    /** Runs the taker's next pass now (news that needs acting on). */
    wake: (() => void) | undefined,
  ) {
    evidence.onChange((change) => {
      if (change.kind !== 'state') return;
      const now = clock.now();
      this.leaving.delete(change.owner);
      if (change.state === PeerState.Gone) {
        this.gone.set(change.owner, { at: now, reason: change.reason, acted: false });
        wake?.();
      } else {
        this.gone.delete(change.owner);
        if (change.state === PeerState.Leaving) {
          this.leaving.set(change.owner, now);
          wake?.();
        }
      }
    });
  }

  /** A peer is leaving and still within its close watch. */
  leavingWatched(): boolean {
    const now = this.clock.now();
    for (const [owner, since] of this.leaving) {
      if (now - since <= LEAVING_WATCH_MS && this.evidence.stateOf(owner) === PeerState.Leaving) return true;
    }
    return false;
  }

  /**
   * Gone peers that no scan after their grace has acted on yet, reported within the last lease duration on a
   * current watch: `due` only those whose grace is over.
   */
  pending(due: boolean): boolean {
    if (!this.evidence.isCurrent()) return false;
    const now = this.clock.now();
    return [...this.gone.values()].some(
      (gone) =>
        !gone.acted && now - gone.at <= this.leaseDurationMs && (!due || now - gone.at >= IN_FLIGHT_GRACE_MS),
    );
  }

  /** A consistent scan started at `startedAt`: it acted on every peer whose grace was over by then. */
  scanned(startedAt: number): void {
    for (const gone of this.gone.values()) if (startedAt - gone.at >= IN_FLIGHT_GRACE_MS) gone.acted = true;
  }

  /**
   * Why `owner` is gone, if the orchestrator said so on a current watch at least the in-flight grace and at most
   * a lease duration ago.
   */
  reason(owner: string | undefined, now: number): GoneReason | 'gone' | undefined {
    if (owner === undefined || !this.evidence.isCurrent()) return undefined;
    const gone = this.gone.get(owner);
    if (!gone || now - gone.at < IN_FLIGHT_GRACE_MS) return undefined;
    if (now - gone.at > this.leaseDurationMs) {
      this.gone.delete(owner);
      return undefined;
    }
    return this.evidence.stateOf(owner) === PeerState.Gone ? (gone.reason ?? 'gone') : undefined;
  }
}
