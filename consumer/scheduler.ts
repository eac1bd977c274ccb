/**
 * Owns the worker's loops: the lease loop (LeaseCoordinator), shard sync, and one ShardConsumer per lease
 * the lease loop assigns. The seam is one snapshot, the assignments: every time they change the scheduler
 * reconciles — starts a consumer for each lease to read, abandons the consumer of a lease no longer held,
 * stops gracefully the consumer of a lease being handed to a peer and says when it has stopped. On shutdown it
 * drains the consumers and hands every lease over.
 */

import type { Clock } from '../core/vocabulary/clock.js';
import { errorName } from '../core/vocabulary/errors.js';
import { retry } from '../core/vocabulary/retry.js';
import type { WorkerSettings } from './config.js';
import type { Assignments, HeldLease, LeaseCoordinator } from './leases/lease-coordinator.js';
import type { PendingProgress } from './leases/pending-progress.js';
import type { Checkpointer } from './lifecycle/checkpointer.js';
import type { FetcherFactory } from './lifecycle/fetcher.js';
import { ShardConsumer, type ShardLeases, ShutdownReason } from './lifecycle/shard-consumer.js';
import type { WorkerEvents } from './observability/events.js';
import type { LagTracker, WorkerMetrics } from './observability/metrics.js';
import type { BatchRunner } from './processor/batch-runner.js';
import type { RecordProcessor } from './processor/record-processor.js';
import { runPeriodicShardSync, type ShardSyncer } from './shards/shard-syncer.js';

export interface SchedulerDeps {
  config: Pick<WorkerSettings, 'shardSyncIntervalMs' | 'shutdownTimeoutMs' | 'idleTimeBetweenReadsMs'>;
  coordinator: LeaseCoordinator;
  syncer: ShardSyncer;
  processor: RecordProcessor;
  batches: BatchRunner;
  checkpointer: Checkpointer;
  fetcher: FetcherFactory;
  leases: ShardLeases;
  clock: Clock;
  events: WorkerEvents;
  metrics: WorkerMetrics;
  lag: LagTracker;
  progress: PendingProgress;
  /** Checkpoints the processor does not write itself are written at most this often (see ShardConsumer). */
  checkpointIntervalMs: number;
}

const RESTART_DELAY_AFTER_FAILURE_MS = 5_000;

interface Running {
  consumer: ShardConsumer;
  done: Promise<void>;
  /** Asked to stop for a hand-off: the coordinator is told once it has. */
  handingOff: boolean;
}

export class Scheduler {
  private readonly consumers = new Map<string, Running>();
  private readonly stopController = new AbortController();
  private loops: Promise<void>[] = [];
  private unsubscribe: () => void = () => {};
  private initialized = false;
  private shuttingDown = false;

  constructor(private readonly deps: SchedulerDeps) {}

  isReady(): boolean {
    return this.initialized && !this.shuttingDown && this.deps.coordinator.ready();
  }

  /** Shard ids with a running consumer, for tests and diagnostics. */
  runningShards(): string[] {
    return [...this.consumers.keys()];
  }

  async start(): Promise<void> {
    const { syncer, coordinator, clock, events, config } = this.deps;
    const signal = this.stopController.signal;
    await retry(() => syncer.sync(), {
      clock,
      signal,
      policy: { baseDelayMs: 200, maxDelayMs: 5_000, maxAttempts: 10 },
      onRetry: (error) =>
        events.emit('shard-sync.failed', { error, when: 'initial' }, 'initial shard sync failed; retrying'),
    });
    await coordinator.takerPass();
    this.unsubscribe = coordinator.onAssignments((assignments) => this.reconcile(assignments));
    coordinator.start();
    this.initialized = true;
    events.emit('worker.started', { leases: coordinator.heldLeases().length }, 'worker started');
    this.reconcile(coordinator.assignments());
    this.loops = [runPeriodicShardSync(syncer, config.shardSyncIntervalMs, clock, signal, events)];
  }

  /** SIGTERM: stop taking, let every consumer finish and checkpoint its batch, hand the leases to peers. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const { coordinator, clock, events, config } = this.deps;
    coordinator.stopTaking();
    this.stopController.abort();
    const drained = Promise.all([...this.consumers.values()].map((entry) => entry.done));
    for (const { consumer } of this.consumers.values()) consumer.requestShutdown();
    const timedOut = await Promise.race([
      drained.then(() => false),
      clock.sleep(config.shutdownTimeoutMs).then(() => true),
    ]);
    if (timedOut) {
      events.emit(
        'worker.shutdown-timeout',
        { shards: this.runningShards() },
        'shutdown timeout: abandoning consumers still running',
      );
      for (const { consumer } of this.consumers.values()) consumer.abandon();
    }
    this.unsubscribe();
    await coordinator.handOffAll();
    await coordinator.stop();
    await Promise.allSettled(this.loops);
    events.emit('worker.stopped', {}, 'worker stopped; leases handed off');
  }

  /** Brings the running consumers in line with the assignments. */
  private reconcile(assignments: Assignments): void {
    const { coordinator } = this.deps;
    const reading = new Map(assignments.read.map((lease) => [lease.leaseKey, lease]));
    const handingOff = new Set(assignments.handOff);
    for (const [key, running] of this.consumers) {
      if (handingOff.has(key)) {
        if (!running.handingOff) {
          running.handingOff = true;
          running.consumer.requestShutdown();
        }
      } else if (!reading.has(key)) running.consumer.abandon();
    }
    // A lease asked for while nothing reads it here can go at once.
    for (const key of handingOff) if (!this.consumers.has(key)) coordinator.consumerStopped(key);
    if (this.shuttingDown) return;
    for (const lease of reading.values()) {
      if (!this.consumers.has(lease.leaseKey) && !assignments.finished.has(lease.leaseKey))
        this.startConsumer(lease);
    }
  }

  private startConsumer(lease: HeldLease): void {
    const { deps } = this;
    const consumer = new ShardConsumer(lease, {
      fetcher: deps.fetcher,
      leases: deps.leases,
      checkpointer: deps.checkpointer,
      processor: deps.processor,
      batches: deps.batches,
      isHeld: (key) => deps.coordinator.isHeld(key),
      onShardEnded: (shardId) => this.onShardEnded(shardId),
      clock: deps.clock,
      events: deps.events,
      metrics: deps.metrics,
      lag: deps.lag,
      idleTimeBetweenReadsMs: deps.config.idleTimeBetweenReadsMs,
      progress: deps.progress,
      checkpointIntervalMs: deps.checkpointIntervalMs,
    });
    const entry: Running = { consumer, done: Promise.resolve(), handingOff: false };
    entry.done = consumer.run().then(
      (reason) => {
        if (reason !== ShutdownReason.REQUESTED) deps.progress.forget(lease.leaseKey);
        this.stopped(lease.leaseKey, entry);
      },
      async (error: unknown) => {
        // Counted like a failed batch: the checkpoint does not move, and an alarm on the metric sees a shard
        // that fails for ever (a checkpoint edited beyond the shard, say) instead of only a log line.
        deps.metrics.processingErrors.inc({ error: errorName(error) });
        deps.events.emit(
          'shard.failed',
          { shardId: lease.leaseKey, error },
          'shard consumer failed; restarting it shortly',
        );
        await deps.clock.sleep(RESTART_DELAY_AFTER_FAILURE_MS, this.stopController.signal);
        this.stopped(lease.leaseKey, entry);
      },
    );
    this.consumers.set(lease.leaseKey, entry);
  }

  /** A consumer ended: forget it, confirm a hand-off, and start what the assignments still want read. */
  private stopped(leaseKey: string, entry: Running): void {
    if (this.consumers.get(leaseKey) !== entry) return;
    this.consumers.delete(leaseKey);
    if (entry.handingOff) this.deps.coordinator.consumerStopped(leaseKey);
    if (!this.shuttingDown) this.reconcile(this.deps.coordinator.assignments());
  }

  private onShardEnded(shardId: string): void {
    this.deps.coordinator.markFinished(shardId);
    // Children are created as soon as the parent ends, not at the next periodic sync.
    this.deps.syncer
      .sync()
      .catch((error: unknown) =>
        this.deps.events.emit(
          'shard-sync.failed',
          { error, when: 'shard-end' },
          'shard sync after shard end failed',
        ),
      );
  }
}
