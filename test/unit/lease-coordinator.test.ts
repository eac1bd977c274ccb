/** The lease loop against a fake lease table and a fake clock: failover, hand-off, balance, zombies, cost. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LeaseCoordinator, type LeaseCoordinatorOptions } from '../../consumer/leases/lease-coordinator.js';
import { PendingProgress } from '../../consumer/leases/pending-progress.js';
import { silentEvents } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { FakeClock } from '../support/fake-clock.js';
import { confirmHandoffsAtOnce, testLeaseOptions } from '../support/lease-loop.js';
import { MemoryLeaseRefresher } from '../support/memory-lease-refresher.js';

const silent = pino({ level: 'silent' });
const LEASE = 10_000;

/**
 * A coordinator as the scheduler drives it: a lease it is asked to hand over is confirmed stopped at once
 * (no consumer runs in these tests), unless `confirmHandoffs` is false and the test confirms it itself.
 */
function coordinator(
  table: MemoryLeaseRefresher,
  clock: FakeClock,
  workerId: string,
  extra: Partial<LeaseCoordinatorOptions> = {},
  confirmHandoffs = true,
  metrics = new WorkerMetrics(),
) {
  const c = new LeaseCoordinator(
    table,
    testLeaseOptions(workerId, extra),
    clock,
    silent,
    metrics,
    silentEvents(),
  );
  if (confirmHandoffs) confirmHandoffsAtOnce(c);
  return c;
}

function shards(table: MemoryLeaseRefresher, n: number) {
  for (let i = 0; i < n; i++) table.add(`shard-${String(i).padStart(5, '0')}`);
}

function spread(table: MemoryLeaseRefresher, workers: string[]): number {
  const counts = workers.map((w) => table.owners().get(w) ?? 0);
  return Math.max(...counts) - Math.min(...counts);
}

describe('lease coordinator', () => {
  it('one worker takes every unowned lease at its first pass', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 5);
    const a = coordinator(table, clock, 'a');
    await a.takerPass();
    expect(a.heldLeases()).toHaveLength(5);
    expect(table.owners().get('a')).toBe(5);
  });

  it('after a worker dies, a peer owns its leases within lease duration + one taker interval', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 6);
    const a = coordinator(table, clock, 'a');
    const b = coordinator(table, clock, 'b');
    a.start();
    b.start();
    await clock.advance(20_000);
    expect(spread(table, ['a', 'b'])).toBe(0);

    await a.stop(); // dies: no more renewals, no hand-off
    const diedAt = clock.now();
    while ((table.owners().get('b') ?? 0) < 6 && clock.now() - diedAt < 30_000) await clock.advance(100);
    expect(table.owners().get('b')).toBe(6);
    expect(clock.now() - diedAt).toBeLessThanOrEqual(LEASE + 1_000 + 200);
    await b.stop();
  });

  it('never declares a live worker dead, however long it runs', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 8);
    const workers = ['a', 'b', 'c'].map((id) => coordinator(table, clock, id));
    for (const w of workers) w.start();
    await clock.advance(30_000);
    const switches = () => [...table.leases.values()].reduce((n, l) => n + l.ownerSwitchesSinceCheckpoint, 0);
    const before = switches();
    await clock.advance(120_000);
    expect(switches()).toBe(before); // no lease changed hands once balanced
    expect(spread(table, ['a', 'b', 'c'])).toBeLessThanOrEqual(1);
    for (const w of workers) await w.stop();
  });

  it('a stolen lease is not read before its previous owner has let go of it (one reader per shard)', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 4);
    const a = coordinator(table, clock, 'a');
    a.start();
    await clock.advance(5_000);
    const b = coordinator(table, clock, 'b');
    b.start();
    let checked = 0;
    for (let t = 0; t < 30_000; t += 50) {
      await clock.advance(50);
      for (const lease of b.heldLeases()) {
        // Whenever the thief may read a lease, the victim no longer believes it holds it.
        if (clock.now() >= lease.readableAt) {
          expect(a.isHeld(lease.leaseKey)).toBe(false);
          checked++;
        }
      }
    }
    expect(b.heldLeases().length).toBe(2);
    expect(checked).toBeGreaterThan(0);
    await a.stop();
    await b.stop();
  });

  describe('cooperative balancing', () => {
    /**
     * `n` shards all held by a, which has run for 5 s, then b joins (a may talk to the table through a
     * wrapper).
     */
    async function ownerThenNewcomer(
      n: number,
      options: {
        ownerTable?: (table: MemoryLeaseRefresher) => MemoryLeaseRefresher;
        confirmHandoffs?: boolean;
      } = {},
    ) {
      const clock = new FakeClock();
      const table = new MemoryLeaseRefresher();
      shards(table, n);
      const a = coordinator(options.ownerTable?.(table) ?? table, clock, 'a', {}, options.confirmHandoffs);
      a.start();
      await clock.advance(5_000);
      const b = coordinator(table, clock, 'b');
      const joinedAt = clock.now();
      b.start();
      return { clock, table, a, b, joinedAt };
    }

    /** Advances time until some lease carries a hand-off request for `to`. */
    async function untilRequested(clock: FakeClock, table: MemoryLeaseRefresher, to: string) {
      while (![...table.leases.values()].some((lease) => lease.handoffTo === to)) await clock.advance(50);
    }

    /** Watches b's leases every 50 ms: when each became readable, and that a never still held one b could read. */
    async function watchThief(
      clock: FakeClock,
      a: LeaseCoordinator,
      b: LeaseCoordinator,
      ms: number,
    ): Promise<Map<string, number>> {
      const readableAt = new Map<string, number>();
      for (let t = 0; t < ms; t += 50) {
        await clock.advance(50);
        for (const lease of b.heldLeases()) {
          if (clock.now() < lease.readableAt) continue;
          expect(a.isHeld(lease.leaseKey), `${lease.leaseKey} readable by b while a holds it`).toBe(false);
          if (!readableAt.has(lease.leaseKey)) readableAt.set(lease.leaseKey, clock.now());
        }
      }
      return readableAt;
    }

    it('a lease asked for is read by the requester within a renew interval or so, never while its owner holds it', async () => {
      const { clock, table, a, b, joinedAt } = await ownerThenNewcomer(4);
      const readable = await watchThief(clock, a, b, 15_000);
      expect(readable.size).toBe(2);
      for (const at of readable.values()) {
        // Asked at b's first pass, served at a's next renewal (≤ 3.3 s), adopted at b's next pass (≤ 1 s): no
        // lease duration of waiting as a steal has.
        expect(at - joinedAt).toBeLessThan(3_333 + 2 * 1_000 + 200);
      }
      expect(table.requests.get('UpdateItem')).toBeGreaterThan(0);
      await a.stop();
      await b.stop();
    });

    it('the owner stops reading the shard (batch and checkpoint done) before it hands the lease over', async () => {
      const { clock, table, a, b } = await ownerThenNewcomer(2, { confirmHandoffs: false });
      const stopping: string[] = [];
      // The scheduler's part: the consumer of a lease to hand off finishes its batch, then says it stopped.
      a.onAssignments(({ handOff, read }) => {
        for (const key of handOff) {
          if (stopping.includes(key)) continue;
          stopping.push(key);
          expect(read.map((l) => l.leaseKey)).not.toContain(key); // nothing restarts it meanwhile
          void clock.sleep(2_000).then(() => {
            expect(table.leases.get(key)?.leaseOwner).toBe('a'); // not handed over before it stopped
            a.consumerStopped(key);
          });
        }
      });
      const readable = await watchThief(clock, a, b, 12_000);
      expect(stopping).toHaveLength(1);
      expect([...readable.keys()]).toEqual(stopping);
      await a.stop();
      await b.stop();
    });

    it('an owner that never answers (an older worker) loses the lease to a classic steal after a lease duration', async () => {
      // a's renewals do not report requests, as a worker without cooperative hand-off would not.
      const { clock, table, a, b, joinedAt } = await ownerThenNewcomer(2, {
        ownerTable: (table) => {
          const deaf = Object.create(table) as MemoryLeaseRefresher;
          deaf.renewLease = async (key, owner, counter) => {
            const renewed = await table.renewLease(key, owner, counter);
            return renewed && { ...renewed, handoffTo: undefined };
          };
          return deaf;
        },
      });
      const readable = await watchThief(clock, a, b, 30_000);
      expect(readable.size).toBe(1);
      const [at] = [...readable.values()];
      // Unanswered for a lease duration (+1 s), then stolen and read a lease duration (+1 s) after the steal.
      expect((at ?? 0) - joinedAt).toBeGreaterThan(2 * LEASE);
      expect(table.owners()).toEqual(
        new Map([
          ['a', 1],
          ['b', 1],
        ]),
      );
      await a.stop();
      await b.stop();
    });

    it('a worker that handed leases to a newcomer notices the newcomer die within about a lease duration', async () => {
      const { clock, table, a, b } = await ownerThenNewcomer(4);
      while ((table.owners().get('b') ?? 0) < 2) await clock.advance(100);
      await clock.advance(2_000);
      await b.stop(); // SIGKILL; a's periodic full scan is 30 s away
      const diedAt = clock.now();
      while ((table.owners().get('a') ?? 0) < 4 && clock.now() - diedAt < 60_000) await clock.advance(100);
      expect(clock.now() - diedAt).toBeLessThanOrEqual(LEASE + 2_000);
      await a.stop();
    });

    it('an owner killed after the request: its lease is taken as expired and read at once', async () => {
      const { clock, table, a, b } = await ownerThenNewcomer(2);
      await untilRequested(clock, table, 'b');
      await a.stop(); // SIGKILL: no renewal will ever serve the request
      const killedAt = clock.now();
      while ((table.owners().get('b') ?? 0) < 2 && clock.now() - killedAt < 30_000) await clock.advance(100);
      expect(table.owners().get('b')).toBe(2);
      expect(clock.now() - killedAt).toBeLessThanOrEqual(LEASE + 1_000 + 200);
      expect(b.heldLeases().every((lease) => lease.readableAt <= clock.now())).toBe(true);
      expect([...table.leases.values()].every((l) => l.handoffTo === undefined)).toBe(true);
      await b.stop();
    });

    it('a requester killed after asking: the lease it was handed expires and a live worker takes it', async () => {
      const { clock, table, a, b } = await ownerThenNewcomer(6);
      await untilRequested(clock, table, 'b');
      await b.stop(); // dies right after asking
      const c = coordinator(table, clock, 'c');
      c.start();
      const diedAt = clock.now();
      const live = () => (table.owners().get('a') ?? 0) + (table.owners().get('c') ?? 0);
      while ((live() < 6 || spread(table, ['a', 'c']) > 1) && clock.now() - diedAt < 60_000)
        await clock.advance(500);
      expect(live()).toBe(6);
      expect(spread(table, ['a', 'c'])).toBeLessThanOrEqual(1);
      expect(clock.now() - diedAt).toBeLessThanOrEqual(3 * LEASE);
      await a.stop();
      await c.stop();
    });
  });

  it('a graceful hand-off is adopted by the peer at its next pass (well under 2 s)', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 4);
    const a = coordinator(table, clock, 'a');
    const b = coordinator(table, clock, 'b');
    a.start();
    b.start();
    await clock.advance(15_000);
    a.stopTaking();
    await a.handOffAll();
    await a.stop();
    const handedAt = clock.now();
    await clock.advance(1_000);
    expect(b.heldLeases()).toHaveLength(4);
    expect(clock.now() - handedAt).toBeLessThan(2_000);
    await b.stop();
  });

  it('a frozen worker stops considering its leases held once the lease duration has passed', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 2);
    const a = coordinator(table, clock, 'a');
    await a.takerPass();
    expect(a.isHeld('shard-00000')).toBe(true);
    // No loop running: as if the process were stopped. Its own clock still moves.
    await clock.advance(LEASE + 1);
    expect(a.isHeld('shard-00000')).toBe(false);
    expect(a.heldLeases()).toHaveLength(0);
  });

  it('keeps leases through a short outage of the lease table, and loses them locally after a long one', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 2);
    const a = coordinator(table, clock, 'a');
    a.start();
    await clock.advance(5_000);
    table.unreachable = true;
    await clock.advance(5_000);
    expect(a.heldLeases()).toHaveLength(2);
    await clock.advance(10_000);
    expect(a.heldLeases()).toHaveLength(0);
    table.unreachable = false;
    await clock.advance(3_000);
    expect(a.heldLeases()).toHaveLength(2); // nobody else took them: re-taken
    await a.stop();
  });

  it('balances 64 shards as workers join and leave (1 → 4 → 2) to max − min ≤ 1', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 64);
    const all = new Map<string, LeaseCoordinator>();
    const join = (id: string) => {
      const c = coordinator(table, clock, id);
      all.set(id, c);
      c.start();
    };
    join('w1');
    await clock.advance(2_000);
    expect(table.owners().get('w1')).toBe(64);
    for (const id of ['w2', 'w3', 'w4']) join(id);
    let elapsed = 0;
    while (spread(table, ['w1', 'w2', 'w3', 'w4']) > 1 && elapsed < 120_000) {
      await clock.advance(1_000);
      elapsed += 1_000;
    }
    expect(spread(table, ['w1', 'w2', 'w3', 'w4'])).toBeLessThanOrEqual(1);
    expect(elapsed).toBeLessThanOrEqual(60_000); // 16 steals a joiner, one per pass

    // w3 leaves gracefully, w4 dies.
    const w3 = all.get('w3');
    w3?.stopTaking();
    await w3?.handOffAll();
    await w3?.stop();
    await all.get('w4')?.stop();
    elapsed = 0;
    while (
      (spread(table, ['w1', 'w2']) > 1 ||
        (table.owners().get('w1') ?? 0) + (table.owners().get('w2') ?? 0) < 64) &&
      elapsed < 120_000
    ) {
      await clock.advance(1_000);
      elapsed += 1_000;
    }
    expect((table.owners().get('w1') ?? 0) + (table.owners().get('w2') ?? 0)).toBe(64);
    expect(spread(table, ['w1', 'w2'])).toBeLessThanOrEqual(1);
    expect(elapsed).toBeLessThanOrEqual(LEASE + 30_000);
    for (const id of ['w1', 'w2']) await all.get(id)?.stop();
  });

  it('reads the whole table rarely once the fleet is stable, whatever the shard count', async () => {
    const perWorkerReads = async (shardCount: number) => {
      const clock = new FakeClock();
      const table = new MemoryLeaseRefresher();
      shards(table, shardCount);
      const workers = Array.from({ length: 4 }, (_, i) =>
        coordinator(table, clock, `w${i}`, { maxLeasesToStealAtOnce: 1_000 }),
      );
      for (const w of workers) w.start();
      await clock.advance(60_000); // converge
      const scansBefore = table.requests.get('Scan') ?? 0;
      const readsBefore = (table.requests.get('Query') ?? 0) + (table.requests.get('BatchGetItem') ?? 0);
      await clock.advance(300_000);
      const scans = (table.requests.get('Scan') ?? 0) - scansBefore;
      const reads =
        (table.requests.get('Query') ?? 0) + (table.requests.get('BatchGetItem') ?? 0) - readsBefore;
      for (const w of workers) await w.stop();
      return { scansPerWorkerPerMinute: scans / 4 / 5, smallReadsPerWorkerPerSecond: reads / 4 / 300 };
    };
    const small = await perWorkerReads(16);
    const large = await perWorkerReads(2_000);
    expect(small.scansPerWorkerPerMinute).toBeLessThanOrEqual(2.5); // one every 30 s, plus jitter of events
    expect(large.scansPerWorkerPerMinute).toBeLessThanOrEqual(2.5);
    expect(large.smallReadsPerWorkerPerSecond).toBeCloseTo(small.smallReadsPerWorkerPerSecond, 1);
  });
});

/** `n` shards, a started first, then b: after 40 s the two hold them balanced. */
async function balancedPair(n: number) {
  const clock = new FakeClock();
  const table = new MemoryLeaseRefresher();
  shards(table, n);
  const a = coordinator(table, clock, 'a');
  const b = coordinator(table, clock, 'b');
  a.start();
  await clock.advance(2_000);
  b.start();
  await clock.advance(40_000);
  return { clock, table, a, b };
}

describe('lease coordinator under AWS rules (conflicts, request cost)', () => {
  it("a renewal refused for another process's transaction is retried within the pass: the lease is never lost", async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 1);
    const metrics = new WorkerMetrics();
    const a = coordinator(table, clock, 'a', {}, true, metrics);
    a.start();
    await clock.advance(2_000);
    expect(a.isHeld('shard-00000')).toBe(true);
    // Every renewal for a minute meets a zombie's transaction on the item, three times in a row.
    for (let t = 0; t < 60_000; t += 3_333) {
      table.conflicts.set('shard-00000', 3);
      await clock.advance(3_333);
      expect(a.isHeld('shard-00000')).toBe(true);
    }
    const conflicts = await metrics.transactionConflicts.get();
    expect(conflicts.values.reduce((n, v) => n + v.value, 0)).toBeGreaterThanOrEqual(3 * 17);
    expect((await metrics.leaseLosses.get()).values[0]?.value ?? 0).toBe(0);
    await a.stop();
  });

  it('records the progress a shard consumer noted with the next renewal, at no extra request', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 1);
    const progress = new PendingProgress();
    const a = coordinator(table, clock, 'a', { progress });
    a.start();
    await clock.advance(1_000);
    const writes = table.requests.get('UpdateItem') ?? 0;
    progress.note('shard-00000', { caughtUpAt: 1_234_567 });
    await clock.advance(3_333);
    expect(table.leases.get('shard-00000')?.caughtUpAt).toBe(1_234_567);
    expect((table.requests.get('UpdateItem') ?? 0) - writes).toBe(1); // the renewal itself
    await a.stop();
  });

  it('a steady fleet does not list its own leases every pass: the owner index is a safety net', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 1);
    const owner = coordinator(table, clock, 'owner');
    const idle = coordinator(table, clock, 'idle');
    owner.start();
    await clock.advance(2_000);
    idle.start();
    await clock.advance(60_000);
    const before = table.total();
    const queries = table.requests.get('Query') ?? 0;
    await clock.advance(100_000);
    // Per second, both workers together: renewals (0.3), the idle worker's sentinel read (1), and the owner
    // index every 5 passes per worker (0.4), plus a scan per worker every 30 s.
    const perSecond = (table.total() - before) / 100;
    expect(perSecond).toBeLessThan(2);
    expect(((table.requests.get('Query') ?? 0) - queries) / 100).toBeLessThanOrEqual(0.4 + 0.01);
    await owner.stop();
    await idle.stop();
  });

  it('a lease handed on by a stopping peer is adopted at the next pass, found through that peer’s sentinel', async () => {
    const { clock, table, a, b } = await balancedPair(6);
    expect(spread(table, ['a', 'b'])).toBeLessThanOrEqual(1);
    a.stopTaking();
    await a.handOffAll();
    await a.stop();
    const queries = table.requests.get('Query') ?? 0;
    await clock.advance(1_000);
    expect(b.heldLeases()).toHaveLength(6);
    expect(table.requests.get('Query') ?? 0).toBe(queries); // found by the sentinel read and a scan
    await b.stop();
  });

  it('a hand-off write refused for a conflict is retried, so the peer still gets the lease at once', async () => {
    const { clock, table, a, b } = await balancedPair(2);
    for (const key of ['shard-00000', 'shard-00001']) table.conflicts.set(key, 2);
    a.stopTaking();
    const handing = a.handOffAll();
    await clock.advance(1_000);
    await handing;
    await a.stop();
    await clock.advance(1_000);
    expect(b.heldLeases()).toHaveLength(2);
    await b.stop();
  });
});
