/** Prometheus metrics of one worker, served on /metrics. One registry per worker (no global state). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class WorkerMetrics {
  readonly registry = new Registry();

  readonly recordsProcessed = new Counter({
    name: 'streamfleet_records_processed_total',
    help: 'Stream records processed (written, deleted, or skipped as already newer in the replica).',
    labelNames: ['event_name'] as const,
    registers: [this.registry],
  });
  readonly replicaWrites = new Counter({
    name: 'streamfleet_replica_writes_total',
    help: 'Item writes sent to the target table after coalescing, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly replicationLagMs = new Gauge({
    name: 'streamfleet_replication_lag_ms',
    help: 'Now minus ApproximateCreationDateTime of the last record processed, over the shards this worker reads (the stream stamps whole seconds).',
    registers: [this.registry],
  });
  readonly leasesHeld = new Gauge({
    name: 'streamfleet_leases_held',
    help: 'Leases this worker holds (unfinished shards).',
    registers: [this.registry],
  });
  readonly getRecordsLatency = new Histogram({
    name: 'streamfleet_get_records_latency_seconds',
    help: 'GetRecords round trip.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly throttles = new Counter({
    name: 'streamfleet_throttles_total',
    help: 'Calls AWS answered with a throttling error, by API.',
    labelNames: ['api'] as const,
    registers: [this.registry],
  });
  readonly transactionConflicts = new Counter({
    name: 'streamfleet_transaction_conflicts_total',
    help: 'Writes AWS refused because a transaction of another process held one of their items (TransactionConflict); each is retried.',
    labelNames: ['api'] as const,
    registers: [this.registry],
  });
  readonly trimmedDataEvents = new Counter({
    name: 'streamfleet_trimmed_data_events_total',
    help: 'TrimmedDataAccessException seen: the position was past the trim horizon; reading resumed at the oldest record.',
    registers: [this.registry],
  });
  readonly expiredIterators = new Counter({
    name: 'streamfleet_expired_iterators_total',
    help: 'Shard iterators that expired and were re-acquired from the last position read.',
    registers: [this.registry],
  });
  readonly leaseTakes = new Counter({
    name: 'streamfleet_lease_takes_total',
    help: 'Expired or unowned leases taken.',
    registers: [this.registry],
  });
  readonly leaseSteals = new Counter({
    name: 'streamfleet_lease_steals_total',
    help: 'Leases asked for (or, when unanswered, stolen) from a more loaded worker to balance the fleet.',
    registers: [this.registry],
  });
  readonly leaseLosses = new Counter({
    name: 'streamfleet_lease_losses_total',
    help: 'Leases lost (taken by another worker, or not renewed within the lease duration).',
    registers: [this.registry],
  });
  readonly checkpoints = new Counter({
    name: 'streamfleet_checkpoints_total',
    help: 'Checkpoints written.',
    registers: [this.registry],
  });
  readonly processingErrors = new Counter({
    name: 'streamfleet_processing_errors_total',
    help: 'Failures that are retried: batches that failed to process, stream reads that failed (throttling aside), shard consumers that failed and restart. The checkpoint never moves past any of them.',
    labelNames: ['error'] as const,
    registers: [this.registry],
  });
  readonly poisonRecords = new Counter({
    name: 'streamfleet_poison_records_total',
    help: 'Records the target refused for good (see POISON_RECORD_POLICY).',
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'streamfleet_dead_lettered_total',
    help: 'Poison records written to the dead-letter table and skipped.',
    registers: [this.registry],
  });
  readonly shardsStalled = new Gauge({
    name: 'streamfleet_shards_stalled',
    help: 'Shards this worker has stopped on a poison record (POISON_RECORD_POLICY=stop).',
    registers: [this.registry],
  });
  readonly shardsCompleted = new Counter({
    name: 'streamfleet_shards_completed_total',
    help: 'Shards read to their end (checkpoint SHARD_END).',
    registers: [this.registry],
  });
  readonly leaseLoopFailures = new Counter({
    name: 'streamfleet_lease_loop_failures_total',
    help: 'Lease loop passes that failed, by loop (renewer, taker) and error; a loop that keeps failing turns /readyz not ready.',
    labelNames: ['loop', 'error'] as const,
    registers: [this.registry],
  });
  readonly leaseTableRequests = new Counter({
    name: 'streamfleet_lease_table_requests_total',
    help: 'Requests to the lease table, by operation.',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
}

/** Lag per shard, exported as the worker's worst: a caught-up shard (empty read) counts as zero. */
export class LagTracker {
  private readonly lagByShard = new Map<string, number>();

  constructor(private readonly gauge: Gauge) {}

  record(shardId: string, lagMs: number): void {
    this.lagByShard.set(shardId, Math.max(0, lagMs));
    this.publish();
  }

  forget(shardId: string): void {
    this.lagByShard.delete(shardId);
    this.publish();
  }

  private publish(): void {
    let worst = 0;
    for (const lag of this.lagByShard.values()) worst = Math.max(worst, lag);
    this.gauge.set(worst);
  }
}
