import { describe, expect, it } from 'vitest';
import { parentsFirst, planNewLeases } from '../../consumer/shards/lineage.js';
import type { Shard } from '../../core/vocabulary/shard.js';

const shard = (id: string, parent?: string, closed = false): Shard => ({
  shardId: id,
  parentShardId: parent,
  startingSequenceNumber: '1',
  endingSequenceNumber: closed ? '9' : undefined,
});

describe('lineage', () => {
  it('orders every parent before its children, whatever order the stream lists them in', () => {
    const listed = [
      shard('c2', 'b1'),
      shard('c1', 'b1'),
      shard('b1', 'a', true),
      shard('b2', 'a', true),
      shard('a', undefined, true),
      shard('d', 'c1'),
    ];
    const order = parentsFirst(listed).map((s) => s.shardId);
    for (const s of listed) {
      if (s.parentShardId) expect(order.indexOf(s.parentShardId)).toBeLessThan(order.indexOf(s.shardId));
    }
    expect(order).toHaveLength(listed.length);
  });

  it('survives a parent that is no longer listed (trimmed) and cycles in bad data', () => {
    expect(parentsFirst([shard('x', 'gone')]).map((s) => s.shardId)).toEqual(['x']);
    expect(parentsFirst([shard('p', 'q'), shard('q', 'p')])).toHaveLength(2);
  });

  it('first sync at TRIM_HORIZON leases every shard, parents first, with their parent ids', () => {
    const plan = planNewLeases({
      shards: [shard('child', 'root'), shard('root', undefined, true)],
      existingLeaseKeys: new Set(),
      initialPosition: 'TRIM_HORIZON',
    });
    expect(plan).toEqual([
      { leaseKey: 'root', checkpoint: 'TRIM_HORIZON', parentShardIds: [] },
      { leaseKey: 'child', checkpoint: 'TRIM_HORIZON', parentShardIds: ['root'] },
    ]);
  });

  it('first sync at LATEST leases only open shards, at LATEST', () => {
    const plan = planNewLeases({
      shards: [shard('root', undefined, true), shard('child', 'root')],
      existingLeaseKeys: new Set(),
      initialPosition: 'LATEST',
    });
    expect(plan).toEqual([{ leaseKey: 'child', checkpoint: 'LATEST', parentShardIds: ['root'] }]);
  });

  it('later syncs read new shards from their start and never re-lease a shard whose descendant is leased', () => {
    const plan = planNewLeases({
      shards: [
        shard('old', undefined, true),
        shard('mid', 'old', true),
        shard('leased', 'mid'),
        shard('new', 'leased'),
      ],
      existingLeaseKeys: new Set(['leased']),
      initialPosition: 'LATEST',
    });
    // 'old' and 'mid' were cleaned up (or skipped at LATEST): their descendant is leased, so not again.
    expect(plan).toEqual([{ leaseKey: 'new', checkpoint: 'TRIM_HORIZON', parentShardIds: ['leased'] }]);
  });
});
