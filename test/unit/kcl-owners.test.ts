/**
 * A KCL 1.x worker still running beside Streamfleet during a migration is never raced: its leases are taken only
 * once they expire, never asked for (`handoffTo`) nor stolen while it renews, even when Streamfleet's balancing
 * would otherwise want them. The lease loop against the fake lease table and a fake clock; the KCL side is the
 * fake below, which renews as KCL 1.x's LeaseRenewer does and never answers a hand-off request.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LeaseCoordinator } from '../../consumer/leases/lease-coordinator.js';
import { planLeaseTaking } from '../../consumer/leases/take-plan.js';
import { silentEvents } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { answersHandoffs, type Lease } from '../../core/vocabulary/lease.js';
import { FakeClock } from '../support/fake-clock.js';
import { confirmHandoffsAtOnce } from '../support/lease-loop.js';
import { MemoryLeaseRefresher } from '../support/memory-lease-refresher.js';

const LEASE = 10_000;
const KCL_RENEW_MS = 3_308; // KCL 1.x: failover / 3 − 25 ms
const KCL = 'ip-10-0-1-17:5f0c1d2e-kcl';

function streamfleet(table: MemoryLeaseRefresher, clock: FakeClock, workerId: string) {
  const c = new LeaseCoordinator(
    table,
    {
      workerId,
      leaseDurationMs: LEASE,
      renewIntervalMs: 3_333,
      takerIntervalMs: 1_000,
      scanIntervalMs: 30_000,
      maxLeasesPerWorker: 10_000,
      maxLeasesToStealAtOnce: 1,
      ownerIndex: true,
    },
    clock,
    pino({ level: 'silent' }),
    new WorkerMetrics(),
    silentEvents(),
  );
  confirmHandoffsAtOnce(c);
  return c;
}

/**
 * FAKE KCL 1.x worker, in memory: holds `keys` (written as its take writes them: owner and counter, no
 * streamfleetOwner) and renews each every 3,308 ms, conditional on the counter it last wrote, until stopped.
 */
function fakeKclOwner(table: MemoryLeaseRefresher, clock: FakeClock, keys: readonly string[]) {
  for (const key of keys) {
    const lease = table.leases.get(key) as Lease;
    lease.leaseOwner = KCL;
    lease.leaseCounter += 1;
  }
  const stopped = new AbortController();
  const loop = (async () => {
    while (!stopped.signal.aborted) {
      await clock.sleep(KCL_RENEW_MS, stopped.signal);
      if (stopped.signal.aborted) return;
      for (const key of keys) {
        const lease = table.leases.get(key);
        if (lease?.leaseOwner === KCL) await table.renewLease(key, KCL, lease.leaseCounter);
      }
    }
  })();
  return {
    async stop() {
      stopped.abort();
      await loop;
    },
  };
}

function addShards(table: MemoryLeaseRefresher, n: number): string[] {
  const keys = Array.from({ length: n }, (_, i) => `shardId-${String(i).padStart(5, '0')}`);
  for (const key of keys) table.add(key, { checkpoint: '100' });
  return keys;
}

describe('a KCL 1.x worker still renewing is never raced', () => {
  it('Streamfleet takes the expired leases, leaves the renewed ones alone however unbalanced, and takes them once they expire', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    const keys = addShards(table, 6);
    const live = fakeKclOwner(table, clock, keys.slice(0, 5)); // 5 renewed; shard 5 left by a stopped worker
    const sf = streamfleet(table, clock, 'sf-1');
    sf.start();

    for (let t = 0; t < 60_000; t += 500) {
      await clock.advance(500);
      // Never asked for, never taken, while the KCL worker renews.
      for (const key of keys.slice(0, 5)) {
        expect(table.leases.get(key)?.leaseOwner).toBe(KCL);
        expect(table.leases.get(key)?.handoffTo).toBeUndefined();
      }
    }
    expect(sf.heldLeases().map((l) => l.leaseKey)).toEqual([keys[5]]); // 5 against 1: balancing would steal

    await live.stop();
    const stoppedAt = clock.now();
    while (sf.heldLeases().length < 6 && clock.now() - stoppedAt < 60_000) await clock.advance(250);
    expect(sf.heldLeases()).toHaveLength(6);
    // Taken as expired: a lease duration after the last renewal, plus a pass or so.
    expect(clock.now() - stoppedAt).toBeGreaterThan(LEASE - KCL_RENEW_MS);
    expect(clock.now() - stoppedAt).toBeLessThanOrEqual(LEASE + KCL_RENEW_MS + 2_000);
    await sf.stop();
  });

  it('a hand-off request left on a lease a KCL worker took since is neither counted nor turned into a steal', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    const keys = addShards(table, 4);
    // sf-1 asked sf-old for shard 0; then the KCL worker took it (its take keeps handoffTo and streamfleetOwner).
    for (const key of keys) Object.assign(table.leases.get(key) as Lease, { streamfleetOwner: 'sf-old' });
    (table.leases.get(keys[0] as string) as Lease).handoffTo = 'sf-1';
    const live = fakeKclOwner(table, clock, keys);
    const sf = streamfleet(table, clock, 'sf-1');
    sf.start();
    await clock.advance(4 * LEASE);
    expect(table.owners()).toEqual(new Map([[KCL, 4]]));
    expect(sf.heldLeases()).toEqual([]);
    await live.stop();
    await sf.stop();
  });

  it('the plan counts a KCL worker as a worker but never picks its leases to ask for', () => {
    const lease = (key: string, owner: string, streamfleetOwner?: string): Lease => ({
      leaseKey: key,
      leaseOwner: owner,
      leaseCounter: 1,
      checkpoint: '1',
      ownerSwitchesSinceCheckpoint: 0,
      parentShardIds: [],
      childShardIds: [],
      ...(streamfleetOwner ? { streamfleetOwner } : {}),
    });
    const leases = [
      ...['a', 'b', 'c', 'd'].map((k) => lease(k, KCL)),
      ...['e', 'f', 'g'].map((k) => lease(k, 'sf-2', 'sf-2')),
    ];
    const plan = planLeaseTaking({
      leases,
      workerId: 'sf-1',
      heldKeys: new Set(),
      isExpired: () => false,
      maxLeasesPerWorker: 100,
      maxLeasesToStealAtOnce: 1,
      mayAskFor: answersHandoffs,
      random: () => 0,
    });
    expect(plan.workers).toBe(3);
    expect(plan.steal.map((l) => l.leaseOwner)).toEqual(['sf-2']);
  });
});
