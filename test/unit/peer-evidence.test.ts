/**
 * Peer evidence: how a pod reads as a lease owner and its state (pure), and how the lease loop acts on it with
 * a fake clock and a fake lease table: a gone peer's leases taken at once and read at once, nothing early
 * without current evidence, a leaving peer's hand-off adopted in a fast pass, and the cheaper sentinel polling
 * while the evidence vouches for the peers (a freeze still caught as soon as before).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { IN_FLIGHT_GRACE_MS } from '../../consumer/leases/gone-peers.js';
import { LeaseCoordinator, type LeaseCoordinatorOptions } from '../../consumer/leases/lease-coordinator.js';
import { FAST_PASS_MS } from '../../consumer/leases/lease-taker.js';
import { type WorkerEvent, WorkerEvents } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import {
  GoneReason,
  type PeerChange,
  PeerState,
  PodLedger,
  type PodObject,
  readPod,
} from '../../consumer/peers/peer-evidence.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeEvidence } from '../support/fake-evidence.js';
import { confirmHandoffsAtOnce, testLeaseOptions } from '../support/lease-loop.js';
import { MemoryLeaseRefresher } from '../support/memory-lease-refresher.js';

const silent = pino({ level: 'silent' });
const LEASE = 10_000;

function pod(
  name: string,
  state: 'running' | 'terminated' | 'waiting',
  extra: {
    deleting?: boolean;
    env?: NonNullable<NonNullable<PodObject['spec']>['containers']>[number]['env'];
  } = {},
): PodObject {
  return {
    metadata: { name, ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: {
      containers: [
        { name: 'sidecar', env: [] },
        {
          name: 'consumer',
          env: extra.env ?? [
            { name: 'SOURCE_TABLE_STREAM_ARN', value: 'arn' },
            { name: 'INSTANCE_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
        },
      ],
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        { name: 'sidecar', state: { running: {} } },
        { name: 'consumer', state: { [state]: {} } },
      ],
    },
  };
}

describe('reading a pod as a lease owner', () => {
  it("takes INSTANCE_NAME from the worker container: the pod's name through the downward API, or a literal", () => {
    expect(readPod(pod('users-abc', 'running'))).toEqual({
      pod: 'users-abc',
      instance: 'users-abc',
      running: true,
      terminating: false,
    });
    const literal = pod('users-abc', 'running', {
      env: [
        { name: 'SOURCE_TABLE_STREAM_ARN', value: 'arn' },
        { name: 'INSTANCE_NAME', value: 'worker-7' },
      ],
    });
    expect(readPod(literal)?.instance).toBe('worker-7');
  });

  it('without INSTANCE_NAME the worker is its host name: the pod name cut to 63 characters', () => {
    const long = `p${'x'.repeat(80)}`;
    expect(
      readPod(pod(long, 'running', { env: [{ name: 'SOURCE_TABLE_STREAM_ARN', value: 'arn' }] }))?.instance,
    ).toBe(long.slice(0, 63));
  });

  it('judges the worker container, not a sidecar, and tells terminating from gone', () => {
    expect(readPod(pod('a', 'terminated'))?.running).toBe(false);
    expect(readPod(pod('a', 'waiting'))?.running).toBe(false);
    expect(readPod(pod('a', 'running', { deleting: true }))).toMatchObject({
      running: true,
      terminating: true,
    });
  });
});

describe('the pod ledger', () => {
  const states = (changes: PeerChange[]) =>
    changes.map((c) => (c.kind === 'state' ? [c.owner, c.state, c.reason] : ['current', c.current]));

  it('reports a running peer gone when its container ends, running again when it restarts', () => {
    const ledger = new PodLedger('me');
    expect(states(ledger.upsert(pod('a', 'running')))).toEqual([['a', 'running', undefined]]);
    expect(states(ledger.upsert(pod('a', 'terminated')))).toEqual([
      ['a', 'gone', GoneReason.ContainerNotRunning],
    ]);
    expect(states(ledger.upsert(pod('a', 'waiting')))).toEqual([]); // still gone: no news
    expect(states(ledger.upsert(pod('a', 'running')))).toEqual([['a', 'running', undefined]]);
  });

  it('a pod being deleted is leaving (its graceful hand-off runs), gone once its object is', () => {
    const ledger = new PodLedger('me');
    ledger.upsert(pod('a', 'running'));
    expect(states(ledger.upsert(pod('a', 'running', { deleting: true })))).toEqual([
      ['a', 'leaving', undefined],
    ]);
    expect(ledger.stateOf('a')).toBe(PeerState.Leaving);
    expect(states(ledger.remove(pod('a', 'running', { deleting: true })))).toEqual([
      ['a', 'gone', GoneReason.PodDeleted],
    ]);
  });

  it('says nothing of itself, of pods it never saw run, or of owners it never saw', () => {
    const ledger = new PodLedger('me');
    expect(ledger.upsert(pod('me', 'running'))).toEqual([]);
    expect(ledger.upsert(pod('me', 'terminated'))).toEqual([]);
    expect(ledger.upsert(pod('new', 'waiting'))).toEqual([]); // ContainerCreating: nothing of it ever ran
    expect(ledger.stateOf('somebody-else')).toBeUndefined();
    expect(ledger.remove(pod('never-seen', 'running'))).toEqual([]);
  });
});

function coordinator(
  table: MemoryLeaseRefresher,
  clock: FakeClock,
  workerId: string,
  evidence: FakeEvidence | undefined,
  events: WorkerEvent[] = [],
  extra: Partial<LeaseCoordinatorOptions> = {},
) {
  const workerEvents = new WorkerEvents(silent, () => clock.now());
  workerEvents.on((event) => events.push(event));
  const c = new LeaseCoordinator(
    table,
    testLeaseOptions(workerId, { ...(evidence ? { evidence } : {}), ...extra }),
    clock,
    silent,
    new WorkerMetrics(),
    workerEvents,
  );
  confirmHandoffsAtOnce(c);
  return c;
}

function shards(table: MemoryLeaseRefresher, n: number) {
  for (let i = 0; i < n; i++) table.add(`shard-${String(i).padStart(5, '0')}`);
}

/** Two balanced workers, `a` and `b`, with the same evidence. */
async function pair(evidence: FakeEvidence | undefined) {
  const clock = new FakeClock();
  const table = new MemoryLeaseRefresher();
  shards(table, 6);
  const events: WorkerEvent[] = [];
  evidence?.running('a', 'b');
  const a = coordinator(table, clock, 'a', evidence);
  const b = coordinator(table, clock, 'b', evidence, events);
  a.start();
  b.start();
  await clock.advance(20_000);
  expect(table.owners()).toEqual(
    new Map([
      ['a', 3],
      ['b', 3],
    ]),
  );
  return { clock, table, a, b, events };
}

describe('the lease loop with peer evidence', () => {
  it('takes a gone peer’s leases once its in-flight writes have landed, long before they could expire, and reads them at once', async () => {
    const evidence = new FakeEvidence();
    const { clock, table, a, b, events } = await pair(evidence);
    await a.stop(); // dead: no renewal, no hand-off
    const goneAt = clock.now();
    const before = events.length;
    evidence.set('a', PeerState.Gone, GoneReason.ContainerNotRunning);
    // Not within the grace (a write the dead worker sent may still be landing)…
    await clock.advance(IN_FLIGHT_GRACE_MS - 100);
    expect(table.owners().get('b')).toBe(3);
    // …and at the first fast pass after it: no waiting for the taker interval, let alone the lease duration.
    await clock.advance(100 + FAST_PASS_MS);
    expect(table.owners()).toEqual(new Map([['b', 6]]));
    const taken = events.slice(before).filter((e) => e.name === 'lease.taken');
    expect(taken.map((e) => e.fields)).toEqual(
      Array.from({ length: 3 }, () =>
        expect.objectContaining({ how: 'evidence', previousOwner: 'a', evidence: 'container-not-running' }),
      ),
    );
    expect(events.slice(before).some((e) => e.name === 'peers.dead')).toBe(false);
    for (const lease of b.heldLeases())
      expect(lease.readableAt).toBeLessThanOrEqual(goneAt + IN_FLIGHT_GRACE_MS + FAST_PASS_MS);
    await b.stop();
  });

  it('takes nothing early while the evidence is not current (the watch down): the lease duration rules', async () => {
    const evidence = new FakeEvidence();
    const { clock, table, a, b } = await pair(evidence);
    await a.stop();
    evidence.setCurrent(false);
    evidence.set('a', PeerState.Gone, GoneReason.PodDeleted);
    await clock.advance(LEASE / 2);
    expect(table.owners().get('b')).toBe(3);
    // …and the classic way still works, within a lease duration and a taker interval or two.
    await clock.advance(LEASE / 2 + 2_000);
    expect(table.owners()).toEqual(new Map([['b', 6]]));
    await b.stop();
  });

  it('does not race a peer that was reported gone and is running again (a restarted container)', async () => {
    const evidence = new FakeEvidence();
    const { clock, table, a, b } = await pair(evidence);
    evidence.set('a', PeerState.Gone, GoneReason.ContainerNotRunning);
    await clock.advance(IN_FLIGHT_GRACE_MS / 2);
    evidence.set('a', PeerState.Running);
    await clock.advance(5_000);
    expect(table.owners()).toEqual(
      new Map([
        ['a', 3],
        ['b', 3],
      ]),
    );
    await Promise.all([a.stop(), b.stop()]);
  });

  it('adopts the hand-off of a peer whose pod is being deleted within a fast pass', async () => {
    const evidence = new FakeEvidence();
    const { clock, table, a, b, events } = await pair(evidence);
    evidence.set('a', PeerState.Leaving);
    await clock.advance(1_400); // off the 1 s pass grid

    a.stopTaking();
    const handedAt = clock.now();
    await a.handOffAll();
    await a.stop();
    await clock.advance(FAST_PASS_MS + 10);
    expect(table.owners()).toEqual(new Map([['b', 6]]));
    const adopted = events.filter(
      (e) => e.name === 'lease.taken' && e.fields.how === 'adopt' && e.at >= handedAt,
    );
    expect(adopted).toHaveLength(3);
    for (const event of adopted) expect(event.at - handedAt).toBeLessThanOrEqual(FAST_PASS_MS);
    await b.stop();
  });

  it('a worker that holds nothing and polls a vouched-for peer rarely stays ready: the table keeps answering it', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    shards(table, 1);
    const evidence = new FakeEvidence();
    evidence.running('a', 'b');
    const b = coordinator(table, clock, 'b', evidence);
    await b.takerPass();
    b.start();
    // Requests take 20 to 80 ms, as over a network: a read due at the edge of readiness may answer too late.
    let requests = 0;
    const slow = new Proxy(table, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          await clock.sleep(requests++ % 2 === 0 ? 20 : 80);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const a = coordinator(slow, clock, 'a', evidence);
    const first = a.takerPass();
    await clock.advance(500);
    await first;
    a.start();
    await clock.advance(5_000);
    expect(a.heldLeases()).toHaveLength(0);
    for (let t = 0; t < 40_000; t += 50) {
      await clock.advance(50);
      expect(a.ready(), `at ${t} ms`).toBe(true);
    }
    await Promise.all([a.stop(), b.stop()]);
  });

  it('reads a vouched-for peer’s sentinel about once a renewal instead of every pass; a freeze is caught as soon', async () => {
    const polls = async (evidence: FakeEvidence | undefined) => {
      const { clock, table, a, b } = await pair(evidence);
      const before = table.requests.get('BatchGetItem') ?? 0;
      await clock.advance(60_000);
      const batchGets = (table.requests.get('BatchGetItem') ?? 0) - before;
      // Frozen now (no renewals, the pod still Running): taken within a lease duration and a taker interval.
      await a.stop();
      const frozenAt = clock.now();
      while ((table.owners().get('b') ?? 0) < 6 && clock.now() - frozenAt < 30_000) await clock.advance(100);
      const takeoverMs = clock.now() - frozenAt;
      await b.stop();
      return { batchGets, takeoverMs };
    };
    const without = await polls(undefined);
    const vouched = await polls(new FakeEvidence());
    // Both workers read: every pass without evidence (two workers × 60 passes), about two per renewal with it.
    expect(without.batchGets).toBeGreaterThanOrEqual(100);
    expect(vouched.batchGets).toBeLessThanOrEqual(without.batchGets / 2);
    expect(without.takeoverMs).toBeLessThanOrEqual(LEASE + 1_000 + 200);
    expect(vouched.takeoverMs).toBeLessThanOrEqual(LEASE + 1_000 + 200);
  });
});
