/**
 * Owns the worker's loops: the lease loop (LeaseCoordinator), shard sync, and one ShardConsumer per held
 * lease. Turns lease assignments into running consumers and back, and drains gracefully on shutdown.
 */
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { errorName } from '../core/errors.js';
import type { Clock } from './clock.js';
import { type WorkerConfig, WriteMode } from './config.js';
import type { Lease } from './leases/lease.js';
import type { LeaseCoordinator } from './leases/lease-coordinator.js';
import type { LeaseRefresher } from './leases/lease-refresher.js';
import type { PendingProgress } from './leases/pending-progress.js';
import { Checkpointer } from './lifecycle/checkpointer.js';
import { ShardConsumer, ShutdownReason } from './lifecycle/shard-consumer.js';
import type { Logger } from './observability/logger.js';
import type { LagTracker, WorkerMetrics } from './observability/metrics.js';
import type { ShardRecordProcessor } from './processor/record-processor.js';
import { retry } from './retry.js';
import { Sentinel } from './sequence.js';
import { runPeriodicShardSync, type ShardSyncer } from './shards/shard-syncer.js';

export interface SchedulerDeps {
  config: WorkerConfig;
  coordinator: LeaseCoordinator;
  refresher: LeaseRefresher;
  syncer: ShardSyncer;
  processor: ShardRecordProcessor;
  streamsClient: DynamoDBStreamsClient;
  clock: Clock;
  log: Logger;
  metrics: WorkerMetrics;
  lag: LagTracker;
  progress: PendingProgress;
}

const RECONCILE_INTERVAL_MS = 100;
const RESTART_DELAY_AFTER_FAILURE_MS = 5_000;

export class Scheduler {
  private readonly consumers = new Map<string, { consumer: ShardConsumer; done: Promise<void> }>();
  private readonly finishedHere = new Set<string>();
  private readonly stopController = new AbortController();
  private readonly checkpointer: Checkpointer;
  private loops: Promise<void>[] = [];
  private initialized = false;
  private shuttingDown = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.checkpointer = new Checkpointer(
      deps.refresher,
      deps.config.instanceName,
      deps.clock,
      deps.metrics,
      deps.log,
    );
    deps.coordinator.setShardStopper((leaseKey) => this.stopConsumer(leaseKey));
  }

  /** A peer asked for this shard's lease: the consumer finishes its batch and checkpoint, then stops. */
  private async stopConsumer(leaseKey: string): Promise<void> {
    const entry = this.consumers.get(leaseKey);
    if (!entry) return;
    entry.consumer.requestShutdown();
    await entry.done;
  }

  isReady(): boolean {
    return this.initialized && !this.shuttingDown && this.deps.coordinator.tableReachable();
  }

  /** Shard ids with a running consumer, for tests and diagnostics. */
  runningShards(): string[] {
    return [...this.consumers.keys()];
  }

  async start(): Promise<void> {
    const { syncer, coordinator, clock, log, config } = this.deps;
    const signal = this.stopController.signal;
    await retry(() => syncer.sync(), {
      clock,
      signal,
      policy: { baseDelayMs: 200, maxDelayMs: 5_000, maxAttempts: 10 },
      onRetry: (err, attempt) => log.warn({ err, attempt }, 'initial shard sync failed; retrying'),
    });
    await coordinator.takerPass();
    coordinator.start();
    this.initialized = true;
    log.info({ leases: coordinator.heldLeases().length }, 'worker started');
    this.loops = [
      runPeriodicShardSync(syncer, config.shardSyncIntervalMs, clock, signal, log),
      this.reconcileLoop(signal),
    ];
  }

  /** SIGTERM: stop taking, let every consumer finish and checkpoint its batch, hand the leases to peers. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const { coordinator, clock, log, config } = this.deps;
    coordinator.stopTaking();
    this.stopController.abort();
    const drained = Promise.all([...this.consumers.values()].map((entry) => entry.done));
    for (const { consumer } of this.consumers.values()) consumer.requestShutdown();
    const timedOut = await Promise.race([
      drained.then(() => false),
      clock.sleep(config.shutdownTimeoutMs).then(() => true),
    ]);
    if (timedOut) {
      log.warn({ shards: this.runningShards() }, 'shutdown timeout: abandoning consumers still running');
      for (const { consumer } of this.consumers.values()) consumer.abandon();
    }
    await coordinator.handOffAll();
    await coordinator.stop();
    await Promise.allSettled(this.loops);
    log.info('worker stopped; leases handed off');
  }

  private leaseView(): ReadonlyMap<string, Lease> {
    const view = new Map(
      this.deps.coordinator.latestSnapshot().leases.map((lease) => [lease.leaseKey, lease]),
    );
    for (const key of this.finishedHere) {
      const lease = view.get(key);
      if (lease) view.set(key, { ...lease, checkpoint: Sentinel.SHARD_END });
    }
    return view;
  }

  private async reconcileLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.reconcile();
      await this.deps.clock.sleep(RECONCILE_INTERVAL_MS, signal);
    }
  }

  private reconcile(): void {
    const { coordinator } = this.deps;
    for (const [key, { consumer }] of this.consumers) {
      if (!coordinator.isHeld(key)) consumer.abandon();
    }
    if (this.shuttingDown) return;
    for (const lease of coordinator.heldLeases()) {
      if (!this.consumers.has(lease.leaseKey) && !this.finishedHere.has(lease.leaseKey))
        this.startConsumer(lease);
    }
  }

  private startConsumer(lease: ReturnType<LeaseCoordinator['heldLeases']>[number]): void {
    const { deps } = this;
    const consumer = new ShardConsumer(lease, {
      streamsClient: deps.streamsClient,
      streamArn: deps.config.streamArn,
      refresher: deps.refresher,
      checkpointer: this.checkpointer,
      processor: deps.processor,
      isHeld: (key) => deps.coordinator.isHeld(key),
      leaseView: () => this.leaseView(),
      onShardEnded: (shardId) => this.onShardEnded(shardId),
      clock: deps.clock,
      log: deps.log,
      metrics: deps.metrics,
      lag: deps.lag,
      maxRecords: deps.config.maxRecords,
      idleTimeBetweenReadsMs: deps.config.idleTimeBetweenReadsMs,
      readsPerSecond: deps.config.readsPerSecond,
      progress: deps.progress,
      owner: deps.config.instanceName,
      // The fenced writer checkpoints inside its transactions; conditional writes leave it to the consumer,
      // which writes it at most once a second (and at a graceful stop), not once per batch.
      checkpointIntervalMs: deps.config.writeMode === WriteMode.CONDITIONAL ? 1_000 : 0,
    });
    const done = consumer.run().then(
      (reason) => {
        if (reason === ShutdownReason.LEASE_LOST)
          deps.log.info({ shardId: lease.leaseKey }, 'stopped reading: lease lost');
        this.consumers.delete(lease.leaseKey);
        if (reason !== ShutdownReason.REQUESTED) deps.progress.forget(lease.leaseKey);
      },
      async (error: unknown) => {
        // Counted like a failed batch: the checkpoint does not move, and an alarm on the metric sees a shard
        // that fails for ever (a checkpoint edited beyond the shard, say) instead of only a log line.
        deps.metrics.processingErrors.inc({ error: errorName(error) });
        deps.log.error(
          { shardId: lease.leaseKey, err: error },
          'shard consumer failed; restarting it shortly',
        );
        await deps.clock.sleep(RESTART_DELAY_AFTER_FAILURE_MS, this.stopController.signal);
        this.consumers.delete(lease.leaseKey);
      },
    );
    this.consumers.set(lease.leaseKey, { consumer, done });
  }

  private onShardEnded(shardId: string): void {
    this.finishedHere.add(shardId);
    this.deps.coordinator.markFinished(shardId);
    this.deps.coordinator.requestScan();
    // Children are created as soon as the parent ends, not at the next periodic sync.
    this.deps.syncer
      .sync()
      .catch((error: unknown) => this.deps.log.warn({ err: error }, 'shard sync after shard end failed'));
  }
}
