import { describe, expect, it } from 'vitest';
import { LeaseExpiryTracker } from '../../consumer/leases/lease-expiry.js';
import { planLeaseTaking } from '../../consumer/leases/take-plan.js';
import type { Lease } from '../../core/vocabulary/lease.js';

function lease(key: string, owner: string | undefined, extra: Partial<Lease> = {}): Lease {
  return {
    leaseKey: key,
    leaseOwner: owner,
    leaseCounter: 1,
    checkpoint: 'TRIM_HORIZON',
    ownerSwitchesSinceCheckpoint: 0,
    parentShardIds: [],
    childShardIds: [],
    ...extra,
  };
}

function fleet(counts: Record<string, number>): Lease[] {
  const leases: Lease[] = [];
  for (const [owner, n] of Object.entries(counts))
    for (let i = 0; i < n; i++) leases.push(lease(`${owner}-${i}`, owner === '-' ? undefined : owner));
  return leases;
}

const plan = (
  leases: Lease[],
  me: string,
  expired: (l: Lease) => boolean = (l) => l.leaseOwner === undefined,
) =>
  planLeaseTaking({
    leases,
    workerId: me,
    heldKeys: new Set(leases.filter((l) => l.leaseOwner === me).map((l) => l.leaseKey)),
    isExpired: expired,
    maxLeasesPerWorker: 1_000,
    maxLeasesToStealAtOnce: 1,
    random: () => 0.5,
  });

describe('lease expiry (no clock sync)', () => {
  it('expires a lease only after its counter stood still for the whole duration on our clock', () => {
    const tracker = new LeaseExpiryTracker(10_000);
    const l = lease('s1', 'a', { leaseCounter: 5 });
    tracker.observe([l], 0);
    expect(tracker.isExpired(l, 9_999)).toBe(false);
    expect(tracker.isExpired(l, 10_001)).toBe(true);
  });

  it('restarts the wait whenever the counter moves, whatever the owner clock says', () => {
    const tracker = new LeaseExpiryTracker(10_000);
    tracker.observe([lease('s1', 'a', { leaseCounter: 5 })], 0);
    const renewed = lease('s1', 'a', { leaseCounter: 6 });
    tracker.observe([renewed], 8_000);
    expect(tracker.isExpired(renewed, 17_000)).toBe(false);
    expect(tracker.isExpired(renewed, 18_001)).toBe(true);
  });

  it('treats unowned leases as available at once and forgets deleted ones', () => {
    const tracker = new LeaseExpiryTracker(10_000);
    const free = lease('s1', undefined);
    tracker.observe([free], 0);
    expect(tracker.isExpired(free, 0)).toBe(true);
    const owned = lease('s2', 'a');
    tracker.observe([owned], 0);
    tracker.observe([], 5_000);
    tracker.observe([owned], 6_000);
    expect(tracker.isExpired(owned, 15_000)).toBe(false);
  });
});

describe('taking and stealing to balance', () => {
  it('takes unowned leases up to ceil(leases / workers)', () => {
    const result = plan(fleet({ '-': 6, b: 2 }), 'a');
    expect(result.workers).toBe(2);
    expect(result.target).toBe(4);
    expect(result.take).toHaveLength(4);
    expect(result.steal).toHaveLength(0);
  });

  it('takes expired leases of a dead worker, but not live ones', () => {
    const leases = fleet({ dead: 3, b: 3 });
    const result = plan(leases, 'a', (l) => l.leaseOwner === 'dead');
    expect(result.workers).toBe(2); // the dead worker is not counted
    expect(result.take.map((l) => l.leaseOwner)).toEqual(['dead', 'dead', 'dead']);
  });

  it('steals one at a time from the most loaded worker while it holds two more', () => {
    const result = plan(fleet({ b: 5, c: 2 }), 'a');
    expect(result.steal).toHaveLength(1);
    expect(result.steal[0]?.leaseOwner).toBe('b');
    expect(plan(fleet({ a: 2, b: 3 }), 'a').steal).toHaveLength(0); // 3 vs 2: balanced enough, no flapping
  });

  it('never takes or counts finished shards', () => {
    const leases = [
      ...fleet({ b: 2 }),
      lease('done-1', undefined, { checkpoint: 'SHARD_END' }),
      lease('done-2', 'b', { checkpoint: 'SHARD_END' }),
    ];
    const result = plan(leases, 'a');
    expect(result.take).toHaveLength(0);
    expect(result.target).toBe(1);
    // b holds two active leases, a none: one steal balances them, and never a finished lease.
    expect(result.steal.map((l) => l.leaseKey)).toHaveLength(1);
    expect(result.steal[0]?.checkpoint).not.toBe('SHARD_END');
  });

  it('prefers leases whose parents are finished', () => {
    const parent = lease('p', 'b', { checkpoint: '100' });
    const child = lease('c', undefined, { parentShardIds: ['p'] });
    const ready = lease('r', undefined);
    const result = planLeaseTaking({
      leases: [parent, child, ready],
      workerId: 'a',
      heldKeys: new Set(),
      isExpired: (l) => l.leaseOwner === undefined,
      maxLeasesPerWorker: 1,
      maxLeasesToStealAtOnce: 1,
      random: () => 0,
    });
    expect(result.take.map((l) => l.leaseKey)).toEqual(['r']);
  });

  it('converges any start to max - min <= 1 when every worker runs its pass', () => {
    for (const [workers, shards] of [
      [4, 64],
      [3, 10],
      [7, 5],
      [10, 2000],
    ] as const) {
      const names = Array.from({ length: workers }, (_, i) => `w${i}`);
      // Worst start: the first worker holds everything.
      let leases = Array.from({ length: shards }, (_, i) => lease(`s${i}`, 'w0'));
      let passes = 0;
      for (; passes < 10_000; passes++) {
        let changed = false;
        for (const me of names) {
          const p = plan(leases, me);
          const grab = new Set([...p.take, ...p.steal].map((l) => l.leaseKey));
          if (grab.size > 0) changed = true;
          leases = leases.map((l) => (grab.has(l.leaseKey) ? { ...l, leaseOwner: me } : l));
        }
        if (!changed) break;
      }
      const counts = names.map((n) => leases.filter((l) => l.leaseOwner === n).length);
      expect(
        Math.max(...counts) - Math.min(...counts),
        `${workers} workers, ${shards} shards: ${counts}`,
      ).toBeLessThanOrEqual(1);
      expect(passes).toBeLessThan(shards + 5);
    }
  });
});
