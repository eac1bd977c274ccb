/**
 * Which finished leases may be deleted, so the lease table does not grow without bound as shards roll
 * over. Pure. A lease goes only when nothing can need it again:
 * - it is finished (checkpoint SHARD_END);
 * - its shard and every parent of it are gone from the stream listing (closed shards stay listed for
 *   24 hours), so no shard sync can ask for it again;
 * - every child has started: its lease holds a sequence number or SHARD_END (a child not leased and no
 *   longer listed was itself finished and cleaned up). Children block on missing parent leases as on
 *   finished ones, so deleting the parent never unblocks anything early.
 */

import { isFinished, type Lease } from '../../core/vocabulary/lease.js';
import { Sentinel } from '../../core/vocabulary/sequence.js';
import type { Shard } from '../../core/vocabulary/shard.js';

function started(lease: Lease): boolean {
  return lease.checkpoint !== Sentinel.TRIM_HORIZON && lease.checkpoint !== Sentinel.LATEST;
}

export function planLeaseCleanup(shards: readonly Shard[], leases: readonly Lease[]): string[] {
  const listed = new Set(shards.map((shard) => shard.shardId));
  const byKey = new Map(leases.map((lease) => [lease.leaseKey, lease]));
  const children = new Map<string, Set<string>>();
  const addChild = (parent: string, child: string) => {
    const set = children.get(parent) ?? new Set<string>();
    set.add(child);
    children.set(parent, set);
  };
  for (const lease of leases) {
    for (const parent of lease.parentShardIds) addChild(parent, lease.leaseKey);
    for (const child of lease.childShardIds) addChild(lease.leaseKey, child);
  }
  for (const shard of shards) if (shard.parentShardId) addChild(shard.parentShardId, shard.shardId);

  return leases
    .filter((lease) => {
      if (!isFinished(lease) || listed.has(lease.leaseKey)) return false;
      if (lease.parentShardIds.some((parent) => listed.has(parent))) return false;
      for (const child of children.get(lease.leaseKey) ?? []) {
        const childLease = byKey.get(child);
        if (childLease ? !started(childLease) : listed.has(child)) return false;
      }
      return true;
    })
    .map((lease) => lease.leaseKey);
}
