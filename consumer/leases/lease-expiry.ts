/**
 * Lease expiry without synchronised clocks: a lease is expired when its `leaseCounter` has not changed for
 * the lease duration, measured on this worker's own clock from the moment it first saw that counter value.
 */
import type { Lease } from './lease.js';

interface Observation {
  counter: number;
  owner: string | undefined;
  since: number;
}

export class LeaseExpiryTracker {
  private readonly observations = new Map<string, Observation>();

  constructor(private readonly leaseDurationMs: number) {}

  /** Records a fresh snapshot of the lease table taken at `now` (this worker's clock). */
  observe(leases: readonly Lease[], now: number): void {
    const present = new Set<string>();
    for (const lease of leases) {
      present.add(lease.leaseKey);
      const seen = this.observations.get(lease.leaseKey);
      if (!seen || seen.counter !== lease.leaseCounter || seen.owner !== lease.leaseOwner) {
        this.observations.set(lease.leaseKey, {
          counter: lease.leaseCounter,
          owner: lease.leaseOwner,
          since: now,
        });
      }
    }
    for (const key of this.observations.keys()) if (!present.has(key)) this.observations.delete(key);
  }

  /** Unowned leases are always available; owned ones once their counter has stood still for the duration. */
  isExpired(lease: Lease, now: number): boolean {
    if (lease.leaseOwner === undefined) return true;
    const seen = this.observations.get(lease.leaseKey);
    if (!seen || seen.counter !== lease.leaseCounter) return false;
    return now - seen.since > this.leaseDurationMs;
  }
}
