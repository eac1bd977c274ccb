import { describe, expect, it } from 'vitest';
import { planLeaseCleanup } from '../../consumer/shards/lease-cleanup.js';
import type { Lease } from '../../core/vocabulary/lease.js';
import type { Shard } from '../../core/vocabulary/shard.js';

const shard = (id: string, parent?: string): Shard => ({
  shardId: id,
  parentShardId: parent,
  startingSequenceNumber: '1',
  endingSequenceNumber: undefined,
});
const lease = (key: string, checkpoint: string, parents: string[] = [], children: string[] = []): Lease => ({
  leaseKey: key,
  leaseOwner: 'w',
  leaseCounter: 1,
  checkpoint,
  ownerSwitchesSinceCheckpoint: 0,
  parentShardIds: parents,
  childShardIds: children,
});

describe('cleaning up finished leases', () => {
  it('deletes a finished lease once its shard is gone from the stream and its children started', () => {
    const leases = [lease('p', 'SHARD_END', [], ['c']), lease('c', '12345', ['p'])];
    expect(planLeaseCleanup([shard('c', 'p')], leases)).toEqual(['p']);
  });

  it('keeps it while the shard is still listed (closed shards stay listed for 24 h)', () => {
    const leases = [lease('p', 'SHARD_END', [], ['c']), lease('c', '12345', ['p'])];
    expect(planLeaseCleanup([shard('p'), shard('c', 'p')], leases)).toEqual([]);
  });

  it('keeps it while a child has not started, or is listed without a lease yet', () => {
    expect(
      planLeaseCleanup([shard('c', 'p')], [lease('p', 'SHARD_END'), lease('c', 'TRIM_HORIZON', ['p'])]),
    ).toEqual([]);
    expect(planLeaseCleanup([shard('c', 'p')], [lease('p', 'SHARD_END', [], ['c'])])).toEqual([]);
  });

  it('keeps it while one of its own parents is still listed', () => {
    const leases = [lease('gp', 'SHARD_END'), lease('p', 'SHARD_END', ['gp']), lease('c', '9', ['p'])];
    expect(planLeaseCleanup([shard('gp'), shard('c', 'p')], leases)).toEqual([]);
  });

  it('never deletes unfinished leases, and treats a child cleaned up before as started', () => {
    expect(planLeaseCleanup([], [lease('open', '5')])).toEqual([]);
    expect(planLeaseCleanup([], [lease('p', 'SHARD_END', [], ['c-gone'])])).toEqual(['p']);
  });
});
