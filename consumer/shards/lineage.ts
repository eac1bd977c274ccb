/**
 * Which shards get a lease, in what order, and with what starting checkpoint. Pure.
 *
 * - Parents first: a child's lease is never created before its parent's, so a reader that finds no parent
 *   lease can trust the parent is finished (cleaned up) or was never to be read.
 * - First sync at TRIM_HORIZON: every listed shard. First sync at LATEST: only open shards, at LATEST.
 * - Later syncs: shards new since then start at TRIM_HORIZON, so nothing written after start-up is skipped;
 *   a shard with a leased descendant is not leased again (it was cleaned up, or skipped at LATEST).
 */
import { Sentinel } from '../../core/vocabulary/sequence.js';
import { isOpen, type Shard } from '../../core/vocabulary/shard.js';

export interface NewLease {
  leaseKey: string;
  checkpoint: string;
  parentShardIds: string[];
}

/** Orders shards so every parent comes before its children (stable otherwise). */
export function parentsFirst(shards: readonly Shard[]): Shard[] {
  const byId = new Map(shards.map((shard) => [shard.shardId, shard]));
  const ordered: Shard[] = [];
  const visited = new Set<string>();
  const visit = (shard: Shard, path: Set<string>) => {
    if (visited.has(shard.shardId) || path.has(shard.shardId)) return;
    path.add(shard.shardId);
    const parent = shard.parentShardId ? byId.get(shard.parentShardId) : undefined;
    if (parent) visit(parent, path);
    visited.add(shard.shardId);
    ordered.push(shard);
  };
  for (const shard of shards) visit(shard, new Set());
  return ordered;
}

export function planNewLeases(input: {
  shards: readonly Shard[];
  existingLeaseKeys: ReadonlySet<string>;
  initialPosition: 'TRIM_HORIZON' | 'LATEST';
}): NewLease[] {
  const { shards, existingLeaseKeys } = input;
  const firstSync = existingLeaseKeys.size === 0;
  const children = new Map<string, string[]>();
  for (const shard of shards) {
    if (!shard.parentShardId) continue;
    const list = children.get(shard.parentShardId) ?? [];
    list.push(shard.shardId);
    children.set(shard.parentShardId, list);
  }
  const hasLeasedDescendant = (shardId: string, seen = new Set<string>()): boolean => {
    for (const child of children.get(shardId) ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      if (existingLeaseKeys.has(child) || hasLeasedDescendant(child, seen)) return true;
    }
    return false;
  };

  const planned: NewLease[] = [];
  for (const shard of parentsFirst(shards)) {
    if (existingLeaseKeys.has(shard.shardId)) continue;
    const parentShardIds = shard.parentShardId ? [shard.parentShardId] : [];
    if (firstSync) {
      if (input.initialPosition === 'LATEST') {
        if (isOpen(shard))
          planned.push({ leaseKey: shard.shardId, checkpoint: Sentinel.LATEST, parentShardIds });
      } else {
        planned.push({ leaseKey: shard.shardId, checkpoint: Sentinel.TRIM_HORIZON, parentShardIds });
      }
      continue;
    }
    if (hasLeasedDescendant(shard.shardId)) continue;
    planned.push({ leaseKey: shard.shardId, checkpoint: Sentinel.TRIM_HORIZON, parentShardIds });
  }
  return planned;
}
