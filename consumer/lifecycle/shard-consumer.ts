/**
 * One held lease, read to its end: WAITING_ON_PARENT_SHARDS → INITIALIZING → PROCESSING → SHUTTING_DOWN →
 * SHUTDOWN_COMPLETE. Checkpoints after every batch that was fully written; never before.
 *
 * Everything it touches comes in through small ports, so it runs against fakes in unit tests: the lease table
 * (`ShardLeases`: parents, the fresh checkpoint, progress), the reader (`Fetcher`, from a factory), the
 * processor, the checkpointer, the clock and the events.
 */

import type { Clock } from '../../core/vocabulary/clock.js';
import { errorName, ShardGoneError } from '../../core/vocabulary/errors.js';
import { isFinished, type Lease, type LeaseProgress, parentsDone } from '../../core/vocabulary/lease.js';
import { isSentinel, isSequenceNumber, Sentinel } from '../../core/vocabulary/sequence.js';
import type { HeldLease } from '../leases/held-leases.js';
import type { PendingProgress } from '../leases/pending-progress.js';
import type { WorkerEvents } from '../observability/events.js';
import type { LagTracker, WorkerMetrics } from '../observability/metrics.js';
import type { BatchRunner } from '../processor/batch-runner.js';
import type { RecordProcessor } from '../processor/record-processor.js';
import type { BatchPosition } from '../processor/write-context.js';
import type { Checkpointer } from './checkpointer.js';
import type { FetchedBatch, FetcherFactory } from './fetcher.js';

export const ShardConsumerState = {
  WAITING_ON_PARENT_SHARDS: 'WAITING_ON_PARENT_SHARDS',
  INITIALIZING: 'INITIALIZING',
  PROCESSING: 'PROCESSING',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  SHUTDOWN_COMPLETE: 'SHUTDOWN_COMPLETE',
} as const;
export type ShardConsumerState = (typeof ShardConsumerState)[keyof typeof ShardConsumerState];

export const ShutdownReason = {
  SHARD_END: 'SHARD_END',
  LEASE_LOST: 'LEASE_LOST',
  REQUESTED: 'REQUESTED',
} as const;
export type ShutdownReason = (typeof ShutdownReason)[keyof typeof ShutdownReason];

/** What a shard consumer reads and writes in the lease table besides its checkpoints. */
export interface ShardLeases {
  /** The latest snapshot the lease loop has, with shards finished here marked finished. */
  view(): ReadonlyMap<string, Lease>;
  /** The named leases, strongly consistent. */
  read(leaseKeys: readonly string[]): Promise<Lease[]>;
  /** One lease, strongly consistent. */
  get(leaseKey: string): Promise<Lease | undefined>;
  /** Records progress beside the checkpoint (owner-conditional); false when not owned. */
  recordProgress(leaseKey: string, progress: LeaseProgress): Promise<boolean>;
}

export interface ShardConsumerDeps {
  fetcher: FetcherFactory;
  leases: ShardLeases;
  checkpointer: Checkpointer;
  /** The application's lifecycle calls (initialize, leaseLost, shardEnded, shutdownRequested). */
  processor: RecordProcessor;
  /** Runs each batch through the processor and commits its writes. */
  batches: BatchRunner;
  isHeld: (leaseKey: string) => boolean;
  onShardEnded: (shardId: string) => void;
  clock: Clock;
  events: WorkerEvents;
  metrics: WorkerMetrics;
  lag: LagTracker;
  idleTimeBetweenReadsMs: number;
  /** Where an empty read's "caught up" goes, for the renewer to record. */
  progress: PendingProgress;
  /**
   * Checkpoints the processor did not write itself are written at most this often (0: after every batch);
   * a graceful stop writes the last one before the lease is handed on.
   */
  checkpointIntervalMs: number;
}

/** How often a child waiting on its parents reads their leases directly. */
const PARENT_POLL_MS = 1_000;

export class ShardConsumer {
  state: ShardConsumerState = ShardConsumerState.WAITING_ON_PARENT_SHARDS;
  private readonly reading = new AbortController();
  private readonly writing = new AbortController();
  private shutdownRequested = false;
  private stalled = false;
  /** The checkpoint of processed batches not written yet (see `checkpointIntervalMs`). */
  private deferred: BatchPosition | undefined;
  private lastCheckpointAt = Number.NEGATIVE_INFINITY;
  /** Progress of this consumer's life is in the lease item (a checkpoint, or the first "caught up"). */
  private progressRecorded = false;

  constructor(
    readonly lease: HeldLease,
    private readonly deps: ShardConsumerDeps,
  ) {}

  get shardId(): string {
    return this.lease.leaseKey;
  }

  /** Graceful: finish the batch in hand, checkpoint it, stop. */
  requestShutdown(): void {
    this.shutdownRequested = true;
    this.reading.abort();
  }

  /** The lease is gone: stop reading and writing at once; nothing more is checkpointed. */
  abandon(): void {
    this.reading.abort();
    this.writing.abort();
  }

  async run(): Promise<ShutdownReason> {
    let reason: ShutdownReason;
    try {
      reason = await this.consume();
    } catch (error) {
      if (error instanceof ShardGoneError && this.held()) {
        // Nothing more can ever be read from it: record the loss loudly and let its children proceed.
        this.deps.metrics.trimmedDataEvents.inc();
        this.deps.events.emit('shard.gone', { shardId: this.shardId, error }, error.message);
        reason = await this.finishShard(true);
      } else if (this.writing.signal.aborted || !this.held()) reason = ShutdownReason.LEASE_LOST;
      else if (this.shutdownRequested) reason = ShutdownReason.REQUESTED;
      else throw error;
    }
    this.state = ShardConsumerState.SHUTTING_DOWN;
    this.reading.abort();
    this.setStalled(false);
    const { processor, lag } = this.deps;
    const input = { shardId: this.shardId };
    await this.lifecycleCall(() => {
      if (reason === ShutdownReason.SHARD_END) return processor.shardEnded?.(input);
      if (reason === ShutdownReason.LEASE_LOST) return processor.leaseLost?.(input);
      return processor.shutdownRequested?.(input);
    }, reason);
    lag.forget(this.shardId);
    this.state = ShardConsumerState.SHUTDOWN_COMPLETE;
    this.deps.events.emit('shard.stopped', { shardId: this.shardId, reason }, 'shard consumer stopped');
    return reason;
  }

  private held(): boolean {
    return this.deps.isHeld(this.shardId);
  }

  /**
   * A lifecycle call at the end of the consumer's life: its failure is reported, never allowed to keep the
   * lease from being released or handed on.
   */
  private async lifecycleCall(call: () => Promise<void> | void, reason: ShutdownReason): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.deps.metrics.processingErrors.inc({ error: errorName(error) });
      this.deps.events.emit(
        'processor.call-failed',
        { shardId: this.shardId, call: reason, error },
        'the processor failed in a shutdown call; the shard stops anyway',
      );
    }
  }

  private async consume(): Promise<ShutdownReason> {
    const blocked = await this.waitForParents();
    if (blocked) return blocked;

    const { events, leases } = this.deps;
    this.state = ShardConsumerState.INITIALIZING;
    events.emit(
      'shard.initializing',
      { shardId: this.shardId },
      'shard consumer initializing: reading starts',
    );
    // The checkpoint may have moved after the snapshot the lease was taken from: read it fresh.
    const current = await leases.get(this.shardId);
    if (!current || !this.held()) return ShutdownReason.LEASE_LOST;
    if (isFinished(current)) return this.finishShard(false);
    if (!isSequenceNumber(current.checkpoint) && !isSentinel(current.checkpoint)) {
      events.emit(
        'shard.checkpoint-malformed',
        { shardId: this.shardId, checkpoint: current.checkpoint },
        'checkpoint is neither a sequence number nor TRIM_HORIZON/LATEST/SHARD_END (edited by hand?): reading the shard from TRIM_HORIZON, a full replay that the sequence guard makes harmless',
      );
    }
    const fetcher = this.deps.fetcher(this.shardId, this.reading.signal);
    await fetcher.initialize(current.checkpoint);
    await this.deps.processor.initialize?.({ shardId: this.shardId, checkpoint: current.checkpoint });
    events.emit(
      'shard.initialized',
      { shardId: this.shardId, checkpoint: current.checkpoint },
      'shard consumer initialized',
    );

    this.state = ShardConsumerState.PROCESSING;
    for (;;) {
      if (this.shutdownRequested) return this.stopRequested();
      if (!this.held()) return ShutdownReason.LEASE_LOST;
      const batch = await fetcher.next();
      if (this.shutdownRequested && batch.records.length === 0) return this.stopRequested();
      if (batch.records.length > 0) {
        const outcome = await this.processAndCheckpoint(batch);
        if (outcome !== 'done') return outcome;
      } else {
        this.deps.lag.record(this.shardId, 0);
        if (!batch.shardEnded) await this.noteCaughtUp(batch.readAt);
        if ((await this.writeDeferredCheckpoint(false)) === 'lease-lost') return ShutdownReason.LEASE_LOST;
      }
      if (batch.shardEnded) return this.finishShard(true);
    }
  }

  /**
   * Blocks until every parent shard is finished, so an item's older changes are never written after newer
   * ones, and, for a stolen lease, until its previous owner has stopped reading it. Returns why it stopped
   * waiting early, or undefined once reading may start.
   */
  private async waitForParents(): Promise<ShutdownReason | undefined> {
    const { clock, leases } = this.deps;
    let parentsReady = false;
    let lastParentRead = Number.NEGATIVE_INFINITY;
    for (;;) {
      if (!this.held()) return ShutdownReason.LEASE_LOST;
      if (this.shutdownRequested) return ShutdownReason.REQUESTED;
      if (!parentsReady) parentsReady = parentsDone(this.lease, leases.view());
      // The shared snapshot may be a scan interval old: read the parents themselves, at most once a second.
      if (!parentsReady && clock.now() - lastParentRead >= PARENT_POLL_MS) {
        lastParentRead = clock.now();
        const parents = await leases.read(this.lease.parentShardIds);
        parentsReady = parentsDone(this.lease, new Map(parents.map((lease) => [lease.leaseKey, lease])));
      }
      if (parentsReady && clock.now() >= this.lease.readableAt) return undefined;
      await clock.sleep(Math.min(250, this.deps.idleTimeBetweenReadsMs || 250), this.reading.signal);
    }
  }

  /**
   * An empty read: the shard was caught up when it was sent. The renewer records that with its next renewal;
   * the first time in this consumer's life, before any batch, it is written at once (one request per shard
   * consumer), so a verification that reads the lease table soon after a take-over already finds a bound.
   */
  private async noteCaughtUp(readAt: number): Promise<void> {
    if (this.progressRecorded) {
      this.deps.progress.note(this.shardId, { caughtUpAt: readAt });
      return;
    }
    this.progressRecorded = await this.deps.leases
      .recordProgress(this.shardId, { caughtUpAt: readAt })
      .catch(() => {
        this.deps.progress.note(this.shardId, { caughtUpAt: readAt });
        return false;
      });
  }

  /** A graceful stop: the checkpoint of the last batch processed is written before the lease is handed on. */
  private async stopRequested(): Promise<ShutdownReason> {
    const result = await this.writeDeferredCheckpoint(true);
    return result === 'lease-lost' ? ShutdownReason.LEASE_LOST : ShutdownReason.REQUESTED;
  }

  private async writeDeferredCheckpoint(force: boolean): Promise<'written' | 'lease-lost' | 'not-due'> {
    const deferred = this.deferred;
    if (!deferred) return 'not-due';
    const { clock, checkpointer, checkpointIntervalMs } = this.deps;
    if (!force && clock.now() - this.lastCheckpointAt < checkpointIntervalMs) return 'not-due';
    const result = await checkpointer.checkpoint(
      this.shardId,
      deferred.sequenceNumber,
      () => this.held(),
      deferred.progress,
    );
    if (result === 'lease-lost') return 'lease-lost';
    if (this.deferred === deferred) this.deferred = undefined;
    this.lastCheckpointAt = clock.now();
    return 'written';
  }

  /**
   * Runs the batch through the processor (the batch runner retries, splits and applies the poison-record policy),
   * then makes sure it is checkpointed: a transactional commit moved the checkpoint with its writes; otherwise
   * it is written here, at most once every `checkpointIntervalMs`.
   */
  private async processAndCheckpoint(batch: FetchedBatch): Promise<'done' | ShutdownReason> {
    const { clock } = this.deps;
    const { records } = batch;
    const last = records.at(-1)?.dynamodb;
    const created = last?.ApproximateCreationDateTime;
    const sequenceNumber = last?.SequenceNumber;
    if (!sequenceNumber) {
      // Every stream record has one; a batch whose last record lacks it cannot be checkpointed past.
      throw new Error(`A batch of shard ${this.shardId} ends with a record without a sequence number.`);
    }
    // A batch read at the shard's tip: once it is written, the shard was caught up as of the read.
    const progress: LeaseProgress = {
      ...(created ? { lastRecordCreatedAt: created.getTime() } : {}),
      ...(batch.reachedTip ? { caughtUpAt: batch.readAt } : {}),
    };
    const position: BatchPosition = { sequenceNumber, progress };
    const outcome = await this.deps.batches.run(records, position, {
      shardId: this.shardId,
      isHeld: () => this.held(),
      signal: this.writing.signal,
      stopSignal: this.reading.signal,
      stopping: () => this.shutdownRequested,
      checkpoint: async (at) => {
        const result = await this.deps.checkpointer.checkpoint(this.shardId, at.sequenceNumber, () =>
          this.held(),
        );
        if (result === 'checkpointed') {
          this.deferred = undefined;
          this.lastCheckpointAt = clock.now();
        }
        return result;
      },
      setStalled: (stalled) => this.setStalled(stalled),
    });
    if (outcome.status === 'lease-lost') return ShutdownReason.LEASE_LOST;
    // A graceful stop does not wait out a failing batch: it is left unprocessed and uncheckpointed.
    if (outcome.status === 'stopped') return ShutdownReason.REQUESTED;
    this.progressRecorded = true; // the checkpoint carries lastRecordCreatedAt from here on
    if (outcome.checkpointed) {
      this.deferred = undefined;
      this.lastCheckpointAt = clock.now();
    } else {
      this.deferred = position;
      if ((await this.writeDeferredCheckpoint(false)) === 'lease-lost') return ShutdownReason.LEASE_LOST;
    }
    if (created) this.deps.lag.record(this.shardId, clock.now() - created.getTime());
    return 'done';
  }

  private setStalled(stalled: boolean): void {
    if (stalled === this.stalled) return;
    this.stalled = stalled;
    if (stalled) this.deps.metrics.shardsStalled.inc();
    else this.deps.metrics.shardsStalled.dec();
  }

  private async finishShard(writeCheckpoint: boolean): Promise<ShutdownReason> {
    if (writeCheckpoint) {
      const result = await this.deps.checkpointer.checkpoint(this.shardId, Sentinel.SHARD_END, () =>
        this.held(),
      );
      if (result === 'lease-lost') return ShutdownReason.LEASE_LOST;
      this.deps.metrics.shardsCompleted.inc();
      this.deps.events.emit(
        'shard.finished',
        { shardId: this.shardId },
        'shard finished (SHARD_END checkpointed)',
      );
    }
    this.deps.onShardEnded(this.shardId);
    return ShutdownReason.SHARD_END;
  }
}
