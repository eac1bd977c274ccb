/**
 * One shard consumer against fakes, on a fake clock: the lease table (MemoryLeaseRefresher, with the real
 * Checkpointer), a scripted reader, a scripted processor. Parents before children, a stolen lease's wait,
 * lease loss and shutdown in the middle of a batch, failing batches, caught-up progress, shard end.
 */
import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import type { HeldLease } from '../../consumer/leases/held-leases.js';
import { PendingProgress } from '../../consumer/leases/pending-progress.js';
import { Checkpointer } from '../../consumer/lifecycle/checkpointer.js';
import type { FetchedBatch, Fetcher } from '../../consumer/lifecycle/fetcher.js';
import {
  ShardConsumer,
  ShardConsumerState,
  ShutdownReason,
} from '../../consumer/lifecycle/shard-consumer.js';
import { silentEvents, type WorkerEvent } from '../../consumer/observability/events.js';
import { LagTracker, WorkerMetrics } from '../../consumer/observability/metrics.js';
import type {
  ProcessRecordsInput,
  ProcessRecordsResult,
  RecordProcessor,
} from '../../consumer/processor/record-processor.js';
import { batchRunnerWithoutWriters } from '../support/batch-runner.js';
import { FakeClock, flush } from '../support/fake-clock.js';
import { MemoryLeaseRefresher } from '../support/memory-lease-refresher.js';

const SHARD = 'shard-child';
const OWNER = 'me';

function record(seq: number): StreamRecord {
  return {
    eventName: 'INSERT',
    dynamodb: {
      SequenceNumber: String(seq),
      Keys: { id: { S: `k${seq}` } },
      NewImage: { id: { S: `k${seq}` } },
      ApproximateCreationDateTime: new Date(1_700_000_000_000 + seq * 1_000),
    },
  };
}

/** A reader that hands out scripted batches, then empty ones; counts its reads. */
class ScriptedFetcher implements Fetcher {
  reads = 0;
  initializedAt: string | undefined;
  constructor(
    /** Batches still to hand out, in order; tests push more. */
    readonly batches: FetchedBatch[],
    private readonly clock: FakeClock,
  ) {}
  async initialize(checkpoint: string): Promise<void> {
    this.initializedAt = checkpoint;
  }
  async next(): Promise<FetchedBatch> {
    this.reads++;
    await this.clock.sleep(250);
    return (
      this.batches.shift() ?? { records: [], shardEnded: false, readAt: this.clock.now(), reachedTip: true }
    );
  }
}

/** A processor that records batches and does what the test says with each (it returns no writes). */
class ScriptedProcessor implements RecordProcessor {
  readonly batches: ProcessRecordsInput[] = [];
  behaviour: (input: ProcessRecordsInput) => Promise<ProcessRecordsResult | undefined> = async () =>
    undefined;
  async processRecords(input: ProcessRecordsInput): Promise<ProcessRecordsResult | undefined> {
    this.batches.push(input);
    return this.behaviour(input);
  }
}

function setup(options: { parents?: string[]; readableAt?: number; batches?: FetchedBatch[] } = {}) {
  const clock = new FakeClock();
  const table = new MemoryLeaseRefresher();
  table.add(SHARD, { leaseOwner: OWNER, parentShardIds: options.parents ?? [] });
  for (const parent of options.parents ?? []) table.add(parent, { leaseOwner: 'other' });
  const metrics = new WorkerMetrics();
  const events = silentEvents();
  const seen: WorkerEvent[] = [];
  events.on((event) => seen.push(event));
  const fetcher = new ScriptedFetcher(options.batches ?? [], clock);
  const processor = new ScriptedProcessor();
  let held = true;
  const ended: string[] = [];
  const progress = new PendingProgress();
  const lease: HeldLease = {
    leaseKey: SHARD,
    counter: 0,
    renewedAt: clock.now(),
    takenAt: clock.now(),
    readableAt: options.readableAt ?? clock.now(),
    checkpoint: 'TRIM_HORIZON',
    parentShardIds: options.parents ?? [],
  };
  const consumer = new ShardConsumer(lease, {
    fetcher: () => fetcher,
    leases: {
      // The lease loop's snapshot: here always fresh.
      view: () => new Map([...table.leases].map(([key, lease]) => [key, { ...lease }])),
      read: (keys) => table.getLeases(keys),
      get: (key) => table.getLease(key),
      recordProgress: (key, p) => table.recordProgress(key, OWNER, p),
    },
    checkpointer: new Checkpointer(table, OWNER, clock, metrics, events),
    processor,
    batches: batchRunnerWithoutWriters(processor, { clock, events, metrics }),
    isHeld: () => held,
    onShardEnded: (shardId) => ended.push(shardId),
    clock,
    events,
    metrics,
    lag: new LagTracker(metrics.replicationLagMs),
    idleTimeBetweenReadsMs: 250,
    progress,
    checkpointIntervalMs: 0,
  });
  return {
    clock,
    table,
    fetcher,
    processor,
    consumer,
    seen,
    ended,
    progress,
    names: () => seen.map((e) => e.name),
    loseLease: () => {
      held = false;
    },
  };
}

const batch = (
  from: number,
  n: number,
  clock: FakeClock,
  extra: Partial<FetchedBatch> = {},
): FetchedBatch => ({
  records: Array.from({ length: n }, (_, i) => record(from + i)),
  shardEnded: false,
  readAt: clock.now(),
  reachedTip: false,
  ...extra,
});

describe('shard consumer', () => {
  it('waits for its parent to finish before it reads, then reads from its checkpoint', async () => {
    const env = setup({ parents: ['shard-parent'] });
    const run = env.consumer.run();
    await env.clock.advance(5_000);
    expect(env.consumer.state).toBe(ShardConsumerState.WAITING_ON_PARENT_SHARDS);
    expect(env.fetcher.reads).toBe(0);
    // The parent's owner finishes it.
    await env.table.checkpoint('shard-parent', 'other', 'SHARD_END');
    await env.clock.advance(1_500);
    expect(env.names()).toContain('shard.initialized');
    expect(env.fetcher.initializedAt).toBe('TRIM_HORIZON');
    expect(env.fetcher.reads).toBeGreaterThan(0);
    env.consumer.requestShutdown();
    await env.clock.advance(500);
    expect(await run).toBe(ShutdownReason.REQUESTED);
  });

  it('a stolen lease is not read before it is readable', async () => {
    const readableAt = new FakeClock().now() + 11_000;
    const stolen = setup({ readableAt });
    const run = stolen.consumer.run();
    await stolen.clock.advance(10_000);
    expect(stolen.fetcher.reads).toBe(0);
    await stolen.clock.advance(2_000);
    expect(stolen.fetcher.reads).toBeGreaterThan(0);
    stolen.consumer.requestShutdown();
    await stolen.clock.advance(500);
    expect(await run).toBe(ShutdownReason.REQUESTED);
  });

  it('writes the checkpoint only after the batch is processed, with the progress it carries', async () => {
    const env = setup();
    env.fetcher.batches.push(batch(10, 3, env.clock, { reachedTip: true }));
    const run = env.consumer.run();
    await env.clock.advance(1_000);
    expect(env.processor.batches).toHaveLength(1);
    const lease = env.table.leases.get(SHARD);
    expect(lease?.checkpoint).toBe('12');
    expect(lease?.lastRecordCreatedAt).toBe(1_700_000_012_000);
    expect(lease?.caughtUpAt).toBeDefined(); // read at the tip: caught up as of that read
    env.consumer.requestShutdown();
    await env.clock.advance(500);
    expect(await run).toBe(ShutdownReason.REQUESTED);
  });

  it('lease lost in the middle of a batch: stops quietly, and the checkpoint does not move', async () => {
    const env = setup();
    env.fetcher.batches.push(batch(20, 5, env.clock));
    env.processor.behaviour = async () => {
      env.loseLease();
      return undefined;
    };
    const run = env.consumer.run();
    await env.clock.advance(1_000);
    expect(await run).toBe(ShutdownReason.LEASE_LOST);
    expect(env.table.leases.get(SHARD)?.checkpoint).toBe('TRIM_HORIZON');
    expect(env.seen.find((e) => e.name === 'shard.stopped')?.fields).toMatchObject({ reason: 'LEASE_LOST' });
  });

  it('shutdown in the middle of a batch: the batch finishes, is checkpointed, and the consumer stops', async () => {
    const env = setup();
    env.fetcher.batches.push(batch(30, 4, env.clock));
    env.processor.behaviour = async () => {
      env.consumer.requestShutdown(); // SIGTERM arrives while the batch is being written
      await env.clock.sleep(300);
      return undefined;
    };
    const run = env.consumer.run();
    await env.clock.advance(2_000);
    expect(await run).toBe(ShutdownReason.REQUESTED);
    expect(env.table.leases.get(SHARD)?.checkpoint).toBe('33');
    expect(env.processor.batches).toHaveLength(1);
  });

  it('a failing batch is retried with backoff and the checkpoint stays before it until it succeeds', async () => {
    const env = setup();
    env.fetcher.batches.push(batch(40, 2, env.clock));
    let failures = 0;
    env.processor.behaviour = async () => {
      if (failures < 3) {
        failures++;
        throw Object.assign(new Error('target throttled'), {
          name: 'ProvisionedThroughputExceededException',
        });
      }
      return undefined;
    };
    const run = env.consumer.run();
    await env.clock.advance(300);
    expect(env.table.leases.get(SHARD)?.checkpoint).toBe('TRIM_HORIZON');
    await env.clock.advance(20_000);
    expect(env.processor.batches).toHaveLength(4); // the same batch four times
    expect(env.table.leases.get(SHARD)?.checkpoint).toBe('41');
    expect(env.names().filter((n) => n === 'batch.failed')).toHaveLength(3);
    env.consumer.requestShutdown();
    await env.clock.advance(500);
    await run;
  });

  it('an empty read records caughtUpAt once at once, then through the renewer', async () => {
    const env = setup();
    const run = env.consumer.run();
    await env.clock.advance(300);
    const first = env.table.leases.get(SHARD)?.caughtUpAt;
    expect(first).toBeDefined();
    await env.clock.advance(1_000);
    expect(env.table.leases.get(SHARD)?.caughtUpAt).toBe(first); // not written again by the consumer
    expect(env.progress.take(SHARD)?.caughtUpAt).toBeGreaterThan(first ?? 0); // left for the renewer
    env.consumer.requestShutdown();
    await env.clock.advance(500);
    await run;
  });

  it('at the end of the shard: SHARD_END checkpointed after the last batch, children told', async () => {
    const env = setup();
    env.fetcher.batches.push(batch(50, 2, env.clock, { shardEnded: true }));
    const run = env.consumer.run();
    await env.clock.advance(1_000);
    await flush();
    expect(await run).toBe(ShutdownReason.SHARD_END);
    expect(env.table.leases.get(SHARD)?.checkpoint).toBe('SHARD_END');
    expect(env.ended).toEqual([SHARD]);
    expect(env.names()).toEqual(expect.arrayContaining(['shard.finished', 'shard.stopped']));
  });
});
