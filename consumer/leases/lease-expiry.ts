/**
 * Lease expiry without synchronised clocks: a lease is expired when its `leaseCounter` has not changed for
 * the lease duration, measured on this worker's own clock from the moment it first saw that counter value.
 */
import type { Lease } from '../../core/vocabulary/lease.js';

interface Observation {
  counter: number;
  owner: string | undefined;
  since: number;
}

export class LeaseExpiryTracker {
  private readonly observations = new Map<string, Observation>();

  constructor(private readonly leaseDurationMs: number) {}

  /** Records a full snapshot of the lease table taken at `now` (this worker's clock); forgets deleted leases. */
  observe(leases: readonly Lease[], now: number): void {
    this.observeSome(leases, now);
    const present = new Set(leases.map((lease) => lease.leaseKey));
    for (const key of this.observations.keys()) if (!present.has(key)) this.observations.delete(key);
  }

  /** Records fresh reads of some leases (e.g. a few sampled per worker), leaving the others as they were. */
  observeSome(leases: readonly Lease[], now: number): void {
    for (const lease of leases) {
      const seen = this.observations.get(lease.leaseKey);
      if (!seen || seen.counter !== lease.leaseCounter || seen.owner !== lease.leaseOwner) {
        this.observations.set(lease.leaseKey, {
          counter: lease.leaseCounter,
          owner: lease.leaseOwner,
          since: now,
        });
      }
    }
  }

  /** When this worker first saw the lease's current counter (undefined when never read). */
  seenSince(leaseKey: string): number | undefined {
    return this.observations.get(leaseKey)?.since;
  }

  /** Unowned leases are always available; owned ones once their counter has stood still for the duration. */
  isExpired(lease: Lease, now: number): boolean {
    if (lease.leaseOwner === undefined) return true;
    const seen = this.observations.get(lease.leaseKey);
    if (!seen || seen.counter !== lease.leaseCounter) return false;
    return now - seen.since > this.leaseDurationMs;
  }
}
