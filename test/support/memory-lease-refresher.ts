/**
 * FAKE lease table for unit tests of the lease loop: the same conditional semantics as
 * DynamoDBLeaseRefresher (checked by the integration tests against DynamoDB Local), in memory, counting
 * requests per operation. The owner index is consistent here; the real one may lag.
 */

import type { LeaseRefresher, RenewedLease } from '../../consumer/leases/lease-refresher.js';
import type { Lease, LeaseProgress } from '../../core/vocabulary/lease.js';

export class MemoryLeaseRefresher implements LeaseRefresher {
  readonly tableName = 'memory';
  readonly leases = new Map<string, Lease>();
  readonly requests = new Map<string, number>();
  /** While true every call fails like an unreachable endpoint. */
  unreachable = false;
  /**
   * Lease keys whose next N single-item writes AWS refuses because another process's transaction holds the
   * item (TransactionConflictException), as the strict layer does on the wire.
   */
  readonly conflicts = new Map<string, number>();

  private conflictOn(leaseKey: string): void {
    const left = this.conflicts.get(leaseKey) ?? 0;
    if (left <= 0) return;
    this.conflicts.set(leaseKey, left - 1);
    throw Object.assign(new Error('Transaction is ongoing for the item'), {
      name: 'TransactionConflictException',
      $metadata: { httpStatusCode: 400 },
    });
  }

  private count(operation: string, units = 1): void {
    if (this.unreachable) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    this.requests.set(operation, (this.requests.get(operation) ?? 0) + units);
  }

  total(): number {
    return [...this.requests.values()].reduce((a, b) => a + b, 0);
  }

  add(leaseKey: string, fields: Partial<Lease> = {}): void {
    this.leases.set(leaseKey, {
      leaseKey,
      leaseOwner: undefined,
      leaseCounter: 0,
      checkpoint: 'TRIM_HORIZON',
      ownerSwitchesSinceCheckpoint: 0,
      parentShardIds: [],
      childShardIds: [],
      ...fields,
    });
  }

  owners(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const lease of this.leases.values()) {
      if (lease.leaseOwner && lease.checkpoint !== 'SHARD_END')
        counts.set(lease.leaseOwner, (counts.get(lease.leaseOwner) ?? 0) + 1);
    }
    return counts;
  }

  async createLeaseTableIfNotExists() {
    return { ownerIndex: true };
  }

  async listLeases(): Promise<Lease[]> {
    this.count('Scan', Math.max(1, Math.ceil(this.leases.size / 4_000)));
    return [...this.leases.values()].map((lease) => ({ ...lease }));
  }

  async listOwnedLeases(owner: string): Promise<Lease[]> {
    this.count('Query');
    return [...this.leases.values()]
      .filter((lease) => lease.leaseOwner === owner)
      .map((lease) => ({ ...lease }));
  }

  async getLeases(keys: readonly string[]): Promise<Lease[]> {
    this.count('BatchGetItem', Math.ceil(keys.length / 100));
    return keys.flatMap((key) => {
      const lease = this.leases.get(key);
      return lease ? [{ ...lease }] : [];
    });
  }

  async getLease(key: string): Promise<Lease | undefined> {
    this.count('GetItem');
    const lease = this.leases.get(key);
    return lease ? { ...lease } : undefined;
  }

  async createLeaseIfNotExists(
    lease: Omit<Lease, 'leaseOwner' | 'leaseCounter' | 'ownerSwitchesSinceCheckpoint'>,
  ): Promise<boolean> {
    this.count('PutItem');
    if (this.leases.has(lease.leaseKey)) return false;
    this.add(lease.leaseKey, lease);
    return true;
  }

  async renewLease(
    key: string,
    owner: string,
    counter: number,
    progress?: LeaseProgress,
  ): Promise<RenewedLease | undefined> {
    this.count('UpdateItem');
    this.conflictOn(key);
    const lease = this.leases.get(key);
    if (!lease || lease.leaseOwner !== owner || lease.leaseCounter !== counter) return undefined;
    lease.leaseCounter++;
    if (progress?.caughtUpAt !== undefined) lease.caughtUpAt = progress.caughtUpAt;
    if (progress?.lastRecordCreatedAt !== undefined) lease.lastRecordCreatedAt = progress.lastRecordCreatedAt;
    return { counter: lease.leaseCounter, handoffTo: lease.handoffTo };
  }

  async requestHandoff(expected: Lease, requester: string): Promise<boolean> {
    this.count('UpdateItem');
    const lease = this.leases.get(expected.leaseKey);
    if (
      !lease ||
      expected.leaseOwner === undefined ||
      lease.leaseOwner !== expected.leaseOwner ||
      lease.checkpoint === 'SHARD_END' ||
      lease.handoffTo !== undefined
    )
      return false;
    lease.handoffTo = requester;
    return true;
  }

  async takeLease(expected: Lease, newOwner: string): Promise<Lease | undefined> {
    this.count('UpdateItem');
    // As DynamoDBLeaseRefresher: a conflict with the owner's transaction means "not this pass".
    if (this.conflicts.get(expected.leaseKey)) {
      this.conflicts.set(expected.leaseKey, (this.conflicts.get(expected.leaseKey) ?? 1) - 1);
      return undefined;
    }
    const lease = this.leases.get(expected.leaseKey);
    if (!lease || lease.leaseCounter !== expected.leaseCounter || lease.leaseOwner !== expected.leaseOwner)
      return undefined;
    if (lease.leaseOwner !== newOwner) lease.ownerSwitchesSinceCheckpoint++;
    lease.leaseOwner = newOwner;
    lease.streamfleetOwner = newOwner;
    lease.leaseCounter++;
    lease.handoffTo = undefined;
    return { ...lease };
  }

  async evictLease(key: string, owner: string): Promise<boolean> {
    this.count('UpdateItem');
    const lease = this.leases.get(key);
    if (!lease || lease.leaseOwner !== owner) return false;
    lease.leaseOwner = undefined;
    lease.leaseCounter++;
    lease.handoffTo = undefined;
    return true;
  }

  async assignLease(key: string, owner: string, newOwner: string): Promise<boolean> {
    this.count('UpdateItem');
    this.conflictOn(key);
    const lease = this.leases.get(key);
    if (!lease || lease.leaseOwner !== owner) return false;
    lease.leaseOwner = newOwner;
    lease.streamfleetOwner = newOwner;
    lease.leaseCounter++;
    lease.ownerSwitchesSinceCheckpoint++;
    lease.handoffTo = undefined;
    return true;
  }

  async checkpoint(
    key: string,
    owner: string,
    checkpoint: string,
    progress?: LeaseProgress,
  ): Promise<boolean> {
    this.count('UpdateItem');
    const lease = this.leases.get(key);
    if (!lease || lease.leaseOwner !== owner) return false;
    lease.checkpoint = checkpoint;
    lease.ownerSwitchesSinceCheckpoint = 0;
    if (progress?.caughtUpAt !== undefined) lease.caughtUpAt = progress.caughtUpAt;
    if (progress?.lastRecordCreatedAt !== undefined) lease.lastRecordCreatedAt = progress.lastRecordCreatedAt;
    return true;
  }

  async recordProgress(key: string, owner: string, progress: LeaseProgress): Promise<boolean> {
    this.count('UpdateItem');
    const lease = this.leases.get(key);
    if (!lease || lease.leaseOwner !== owner) return false;
    if (progress.caughtUpAt !== undefined) lease.caughtUpAt = progress.caughtUpAt;
    if (progress.lastRecordCreatedAt !== undefined) lease.lastRecordCreatedAt = progress.lastRecordCreatedAt;
    return true;
  }

  async addChildShard(parent: string, child: string): Promise<void> {
    this.count('UpdateItem');
    const lease = this.leases.get(parent);
    if (lease && !lease.childShardIds.includes(child)) lease.childShardIds = [...lease.childShardIds, child];
  }

  async deleteFinishedLease(key: string): Promise<boolean> {
    this.count('DeleteItem');
    if (this.leases.get(key)?.checkpoint !== 'SHARD_END') return false;
    this.leases.delete(key);
    return true;
  }
}
