/**
 * Is another worker alive? Judged from one of its leases (its sentinel), read every taker pass or, while the
 * orchestrator vouches for the peers, about once per renewal: a worker whose sentinel kept the same
 * leaseCounter for the lease duration, on this worker's clock, has stopped renewing, and so have all its leases
 * (a worker renews all of them in the same pass). Reading one lease per worker instead of the whole table keeps
 * the per-pass cost flat however many shards the stream has. Pure.
 */
import { isFinished, type Lease } from '../../core/vocabulary/lease.js';
import type { LeaseExpiryTracker } from './lease-expiry.js';

export const SENTINELS_PER_WORKER = 1;

/** One unfinished lease per other worker, chosen stably (by key) so observations carry over. */
export function chooseSentinels(leases: readonly Lease[], me: string): Map<string, string[]> {
  const byOwner = new Map<string, string[]>();
  const sorted = [...leases].sort((a, b) => (a.leaseKey < b.leaseKey ? -1 : a.leaseKey > b.leaseKey ? 1 : 0));
  for (const lease of sorted) {
    if (lease.leaseOwner === undefined || lease.leaseOwner === me || isFinished(lease)) continue;
    const keys = byOwner.get(lease.leaseOwner) ?? [];
    if (keys.length < SENTINELS_PER_WORKER) keys.push(lease.leaseKey);
    byOwner.set(lease.leaseOwner, keys);
  }
  return byOwner;
}

export interface SentinelVerdict {
  /** Workers whose every sentinel is still theirs, unfinished, and expired. */
  dead: Set<string>;
  /** A sentinel changed owner, finished or vanished: sentinels must be chosen again from a full scan. */
  stale: boolean;
}

export function judgeSentinels(
  sentinels: ReadonlyMap<string, readonly string[]>,
  reads: readonly Lease[],
  tracker: LeaseExpiryTracker,
  now: number,
): SentinelVerdict {
  const byKey = new Map(reads.map((lease) => [lease.leaseKey, lease]));
  const dead = new Set<string>();
  let stale = false;
  for (const [worker, keys] of sentinels) {
    let allExpired = keys.length > 0;
    for (const key of keys) {
      const lease = byKey.get(key);
      if (!lease || lease.leaseOwner !== worker || isFinished(lease)) {
        stale = true;
        allExpired = false;
        continue;
      }
      if (!tracker.isExpired(lease, now)) allExpired = false;
    }
    if (allExpired) dead.add(worker);
  }
  return { dead, stale };
}
