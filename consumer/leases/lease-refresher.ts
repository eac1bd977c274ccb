/**
 * Lease-table I/O, as the lease loop and the shard consumers see it (DynamoDBLeaseRefresher in
 * dynamodb-lease-refresher.ts is the one over DynamoDB). Every write is conditional; a failed condition comes
 * back as `false` ("lease lost" or "someone else got there first"), never as an exception.
 */
import type { Lease, LeaseProgress } from '../../core/vocabulary/lease.js';

export { LEASE_OWNER_INDEX } from '../../core/vocabulary/lease-owner-index.js';

export interface LeaseRefresher {
  readonly tableName: string;
  /**
   * Creates the table (with the owner index) if absent and waits until it is ACTIVE; says whether the owner index
   * is ACTIVE (a table without it, or with it still being added, is worked with scans: see owner-index.ts).
   */
  createLeaseTableIfNotExists(): Promise<{ ownerIndex: boolean }>;
  /** Every lease: a strongly consistent scan, unless told otherwise. */
  listLeases(options?: LeaseReadOptions): Promise<Lease[]>;
  /** Leases the owner index lists for `owner` (eventually consistent). */
  listOwnedLeases(owner: string): Promise<Lease[]>;
  /** The named leases, strongly consistent unless told otherwise; absent ones are left out. */
  getLeases(leaseKeys: readonly string[], options?: LeaseReadOptions): Promise<Lease[]>;
  getLease(leaseKey: string): Promise<Lease | undefined>;
  createLeaseIfNotExists(
    lease: Omit<Lease, 'leaseOwner' | 'leaseCounter' | 'ownerSwitchesSinceCheckpoint'>,
  ): Promise<boolean>;
  /**
   * Bumps the counter if `owner` still holds the lease at `counter` (and records `progress` with it, at no
   * extra request); returns the new counter and the peer that asked for the lease, if one did, or undefined
   * when the lease is no longer held.
   */
  renewLease(
    leaseKey: string,
    owner: string,
    counter: number,
    progress?: LeaseProgress,
  ): Promise<RenewedLease | undefined>;
  /**
   * Asks `expected.leaseOwner` to hand the lease to `requester` at its next renewal (to balance); false if the
   * owner changed, the shard is finished, or another request is pending.
   */
  requestHandoff(expected: Lease, requester: string): Promise<boolean>;
  /** Takes (or steals) a lease seen at `expected`; returns the lease as now held, or undefined. */
  takeLease(expected: Lease, newOwner: string): Promise<Lease | undefined>;
  /** Gives a held lease up so another worker can take it at once. */
  evictLease(leaseKey: string, owner: string): Promise<boolean>;
  /** Hands a held lease to another worker (graceful shutdown); it finds it through the owner index. */
  assignLease(leaseKey: string, owner: string, newOwner: string): Promise<boolean>;
  checkpoint(leaseKey: string, owner: string, checkpoint: string, progress?: LeaseProgress): Promise<boolean>;
  /** Records progress alone (a shard found caught up before any record was processed); false if not owned. */
  recordProgress(leaseKey: string, owner: string, progress: LeaseProgress): Promise<boolean>;
  addChildShard(parentKey: string, childKey: string): Promise<void>;
  /** Deletes a lease only while it is finished (checkpoint SHARD_END); false if it was not. */
  deleteFinishedLease(leaseKey: string): Promise<boolean>;
}

export interface LeaseReadOptions {
  /**
   * Default true. An eventually consistent read costs half the read capacity (DynamoDB developer guide, "Read
   * consistency"; "Read capacity units": 0.5 RCU per 4 KB) and may miss a write of the last second or so: fine
   * for what is confirmed before it is acted on, or what conditional writes check anyway.
   */
  consistent?: boolean;
}

export interface RenewedLease {
  counter: number;
  handoffTo: string | undefined;
}
