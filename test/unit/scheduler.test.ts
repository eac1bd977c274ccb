/**
 * The scheduler and the checkpointer against fakes, on a fake clock: consumers follow the assignments the
 * real lease loop publishes (over the in-memory lease table), a lost lease stops its consumer, a lease a peer
 * asks for is handed over only once its consumer has stopped, a shard read to its end is never read again,
 * and shutdown drains and hands everything over. The checkpointer retries what AWS says is retriable while
 * the lease is held, and reports a lost lease as a value.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LeaseCoordinator } from '../../consumer/leases/lease-coordinator.js';
import { PendingProgress } from '../../consumer/leases/pending-progress.js';
import { Checkpointer } from '../../consumer/lifecycle/checkpointer.js';
import type { FetchedBatch, Fetcher } from '../../consumer/lifecycle/fetcher.js';
import { silentEvents, type WorkerEvent } from '../../consumer/observability/events.js';
import { LagTracker, WorkerMetrics } from '../../consumer/observability/metrics.js';
import type { RecordProcessor } from '../../consumer/processor/record-processor.js';
import { Scheduler } from '../../consumer/scheduler.js';
import type { ShardDetector } from '../../consumer/shards/shard-detector.js';
import { ShardSyncer } from '../../consumer/shards/shard-syncer.js';
import type { Shard } from '../../core/vocabulary/shard.js';
import { batchRunnerWithoutWriters } from '../support/batch-runner.js';
import { FakeClock } from '../support/fake-clock.js';
import { MemoryLeaseRefresher } from '../support/memory-lease-refresher.js';

const LEASE = 10_000;

/** Reads nothing but empty batches, except a shard told to end. */
class IdleFetcher implements Fetcher {
  constructor(
    private readonly clock: FakeClock,
    private readonly ending: () => boolean,
  ) {}
  async initialize(): Promise<void> {}
  async next(): Promise<FetchedBatch> {
    await this.clock.sleep(250);
    return { records: [], shardEnded: this.ending(), readAt: this.clock.now(), reachedTip: true };
  }
}

const processor: RecordProcessor = { processRecords: async () => undefined };

function worker(table: MemoryLeaseRefresher, clock: FakeClock, workerId: string, shards: Shard[]) {
  const metrics = new WorkerMetrics();
  const events = silentEvents();
  const seen: WorkerEvent[] = [];
  events.on((event) => seen.push(event));
  const log = pino({ level: 'silent' });
  const progress = new PendingProgress();
  const coordinator = new LeaseCoordinator(
    table,
    {
      workerId,
      leaseDurationMs: LEASE,
      renewIntervalMs: 3_333,
      takerIntervalMs: 1_000,
      scanIntervalMs: 30_000,
      maxLeasesPerWorker: 100,
      maxLeasesToStealAtOnce: 1,
      ownerIndex: true,
      progress,
    },
    clock,
    log,
    metrics,
    events,
  );
  const detector: ShardDetector = { listShards: async () => shards };
  const ended = new Set<string>();
  const scheduler = new Scheduler({
    config: { shardSyncIntervalMs: 60_000, shutdownTimeoutMs: 20_000, idleTimeBetweenReadsMs: 250 },
    coordinator,
    syncer: new ShardSyncer(detector, table, 'TRIM_HORIZON', events),
    processor,
    batches: batchRunnerWithoutWriters(processor, { clock, events, metrics }),
    checkpointer: new Checkpointer(table, workerId, clock, metrics, events),
    fetcher: (shardId) => new IdleFetcher(clock, () => ended.has(shardId)),
    leases: {
      view: () => coordinator.leaseView(),
      read: (keys) => table.getLeases(keys),
      get: (key) => table.getLease(key),
      recordProgress: (key, p) => table.recordProgress(key, workerId, p),
    },
    clock,
    events,
    metrics,
    lag: new LagTracker(metrics.replicationLagMs),
    progress,
    checkpointIntervalMs: 0,
  });
  return {
    scheduler,
    coordinator,
    seen,
    endShard: (shardId: string) => ended.add(shardId),
    stoppedShards: () =>
      seen.filter((e) => e.name === 'shard.stopped').map((e) => [e.fields.shardId, e.fields.reason]),
  };
}

/** Shutdown runs on the fake clock: time has to move for the consumers to finish their reads. */
async function stop(w: { scheduler: Scheduler }, clock: FakeClock): Promise<void> {
  const stopping = w.scheduler.shutdown();
  await clock.advance(2_000);
  await stopping;
}

const open = (id: string, parent?: string): Shard => ({
  shardId: id,
  parentShardId: parent,
  startingSequenceNumber: '1',
  endingSequenceNumber: undefined,
});

describe('scheduler', () => {
  it('runs one consumer per lease it is assigned, and stops the one whose lease is taken away', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    const w = worker(table, clock, 'w1', [open('s1'), open('s2')]);
    const starting = w.scheduler.start();
    await clock.advance(500);
    await starting;
    await clock.advance(1_000);
    expect(w.scheduler.runningShards().sort()).toEqual(['s1', 's2']);
    // Someone takes s2 (an operator, a peer that judged w1 dead): the next renewal fails, the consumer stops.
    await table.assignLease('s2', 'w1', 'elsewhere');
    await clock.advance(4_000);
    expect(w.scheduler.runningShards()).toEqual(['s1']);
    expect(w.stoppedShards()).toContainEqual(['s2', 'LEASE_LOST']);
    await stop(w, clock);
  });

  it('hands a lease a peer asks for over only after its consumer stopped', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    const a = worker(table, clock, 'a', [open('s1'), open('s2')]);
    const starting = a.scheduler.start();
    await clock.advance(500);
    await starting;
    const b = worker(table, clock, 'b', [open('s1'), open('s2')]);
    const joining = b.scheduler.start();
    await clock.advance(500);
    await joining;
    for (let t = 0; t < 12_000 && (table.owners().get('b') ?? 0) < 1; t += 250) await clock.advance(250);
    await clock.advance(1_500);
    expect(table.owners()).toEqual(
      new Map([
        ['a', 1],
        ['b', 1],
      ]),
    );
    const moved = b.scheduler.runningShards()[0] ?? '';
    // a stopped its consumer of the moved shard (a graceful stop, not a loss) before handing it over.
    expect(a.stoppedShards()).toContainEqual([moved, 'REQUESTED']);
    const stoppedAt = a.seen.findIndex((e) => e.name === 'shard.stopped' && e.fields.shardId === moved);
    const handedAt = a.seen.findIndex((e) => e.name === 'lease.handed-off' && e.fields.shardId === moved);
    expect(stoppedAt).toBeGreaterThanOrEqual(0);
    expect(handedAt).toBeGreaterThan(stoppedAt);
    expect(a.scheduler.runningShards()).not.toContain(moved);
    await stop(a, clock);
    await stop(b, clock);
  });

  it('a shard read to its end is finished here and never read again', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    const w = worker(table, clock, 'w1', [open('s1')]);
    const starting = w.scheduler.start();
    await clock.advance(500);
    await starting;
    w.endShard('s1');
    await clock.advance(2_000);
    expect(table.leases.get('s1')?.checkpoint).toBe('SHARD_END');
    expect(w.scheduler.runningShards()).toEqual([]);
    await clock.advance(10_000);
    expect(w.seen.filter((e) => e.name === 'shard.initialized')).toHaveLength(1);
    await stop(w, clock);
  });

  it('shutdown stops every consumer gracefully, then hands the leases to a live peer', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    const a = worker(table, clock, 'a', [open('s1'), open('s2'), open('s3'), open('s4')]);
    const starting = a.scheduler.start();
    await clock.advance(500);
    await starting;
    const b = worker(table, clock, 'b', [open('s1'), open('s2'), open('s3'), open('s4')]);
    const joining = b.scheduler.start();
    await clock.advance(500);
    await joining;
    await clock.advance(40_000); // balanced
    await stop(a, clock);
    expect(a.stoppedShards().every(([, reason]) => reason === 'REQUESTED')).toBe(true);
    expect(a.seen.map((e) => e.name)).toContain('worker.stopped');
    await clock.advance(2_000);
    expect(table.owners().get('b')).toBe(4);
    await stop(b, clock);
  });
});

describe('checkpointer', () => {
  it('retries what AWS says is retriable while the lease is held, then writes', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    table.add('s1', { leaseOwner: 'me' });
    const metrics = new WorkerMetrics();
    const checkpointer = new Checkpointer(table, 'me', clock, metrics, silentEvents());
    let failures = 0;
    const original = table.checkpoint.bind(table);
    table.checkpoint = async (...args) => {
      if (failures++ < 2) throw Object.assign(new Error('busy'), { name: 'TransactionConflictException' });
      return original(...args);
    };
    const done = checkpointer.checkpoint('s1', '42', () => true);
    await clock.advance(5_000);
    expect(await done).toBe('checkpointed');
    expect(table.leases.get('s1')?.checkpoint).toBe('42');
    expect((await metrics.checkpoints.get()).values[0]?.value).toBe(1);
  });

  it('a failed condition or a lease no longer held is "lease lost", as a value; nothing is written', async () => {
    const clock = new FakeClock();
    const table = new MemoryLeaseRefresher();
    table.add('s1', { leaseOwner: 'someone-else' });
    const checkpointer = new Checkpointer(table, 'me', clock, new WorkerMetrics(), silentEvents());
    expect(await checkpointer.checkpoint('s1', '42', () => true)).toBe('lease-lost');
    expect(await checkpointer.checkpoint('s1', '42', () => false)).toBe('lease-lost');
    expect(table.leases.get('s1')?.checkpoint).toBe('TRIM_HORIZON');
  });
});
