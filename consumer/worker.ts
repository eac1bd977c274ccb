/**
 * Assembles one worker from its configuration: AWS clients, lease table, stream, processor, scheduler,
 * health server. Checks at start-up what a misconfiguration would otherwise turn into a silent stall.
 */
import type { Server } from 'node:http';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { type Clock, systemClock } from '../core/clock.js';
import { errorName, ResourceError } from '../core/errors.js';
import { PoisonPolicy, type WorkerConfig, WriteMode } from './config.js';
import { LeaseCoordinator } from './leases/lease-coordinator.js';
import { LeaseItemGate } from './leases/lease-item-gate.js';
import { DynamoDBLeaseRefresher } from './leases/lease-refresher.js';
import { OwnerIndexAdoption } from './leases/owner-index.js';
import { PendingProgress } from './leases/pending-progress.js';
import { Checkpointer } from './lifecycle/checkpointer.js';
import { DataFetcher } from './lifecycle/data-fetcher.js';
import { WorkerEvents } from './observability/events.js';
import type { Logger } from './observability/logger.js';
import { LagTracker, WorkerMetrics } from './observability/metrics.js';
import { type HealthSource, startHealthServer } from './observability/server.js';
import { DeadLetterTable } from './processor/dead-letter.js';
import {
  ConditionalReplicaWriter,
  FencedReplicaWriter,
  type ReplicaWriterOptions,
} from './processor/replica-writer.js';
import { ReplicationProcessor } from './processor/replication-processor.js';
import { Scheduler } from './scheduler.js';
import { DynamoDBStreamsShardDetector } from './shards/shard-detector.js';
import { ShardSyncer } from './shards/shard-syncer.js';

export interface Worker {
  readonly scheduler: Scheduler;
  readonly metrics: WorkerMetrics;
  /** Everything the worker reports, for in-process listeners (also written to the log with an `event` field). */
  readonly events: WorkerEvents;
  readonly server: Server;
  shutdown(): Promise<void>;
}

const CLIENT_OPTIONS = {
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 15_000 },
} as const;

export async function startWorker(
  config: WorkerConfig,
  log: Logger,
  clock: Clock = systemClock,
  events: WorkerEvents = new WorkerEvents(log),
): Promise<Worker> {
  const dynamodb = new DynamoDBClient({ region: config.region, ...CLIENT_OPTIONS });
  const streams = new DynamoDBStreamsClient({ region: config.region, ...CLIENT_OPTIONS });
  const metrics = new WorkerMetrics();
  // Serve /healthz at once (alive while starting); /readyz stays 503 until the scheduler is running.
  let readiness: HealthSource = { isReady: () => false };
  const server = await startHealthServer(
    config.port,
    { isReady: () => readiness.isReady() },
    metrics.registry,
  );
  const closeServer = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
  };

  const detector = new DynamoDBStreamsShardDetector(streams, config.streamArn);
  const description = await detector.describe().catch(async (error: unknown) => {
    await closeServer();
    throw error;
  });
  if (description.viewType !== 'NEW_AND_OLD_IMAGES' && description.viewType !== 'NEW_IMAGE') {
    throw new ResourceError(
      `Stream ${config.streamArn} has view type ${description.viewType}; replication needs the new image. ` +
        'Set the table stream to NEW_AND_OLD_IMAGES (aws dynamodb update-table --stream-specification ...).',
    );
  }
  await assertTableExists(dynamodb, config.targetTableName, 'TARGET_TABLE_NAME');
  events.emit(
    'worker.checked',
    { viewType: description.viewType ?? 'unknown', targetTable: config.targetTableName },
    'stream and target table checked',
  );

  // One write at a time per lease item from this worker: transactions, renewals, checkpoints, hand-offs.
  const gate = new LeaseItemGate(clock);
  const progress = new PendingProgress();
  const refresher = new DynamoDBLeaseRefresher(dynamodb, config.applicationName, clock, {
    onRequest: (operation) => metrics.leaseTableRequests.inc({ operation }),
    gate,
    // A renewal waits for the transaction in flight on its lease, but never long enough to put the lease at risk.
    renewalMaxWaitMs: Math.min(1_000, config.leaseDurationMs / 4),
  });
  const { ownerIndex } = await refresher.createLeaseTableIfNotExists();
  events.emit('lease-table.ready', { leaseTable: config.applicationName, ownerIndex }, 'lease table ready');
  let deadLetter: DeadLetterTable | undefined;
  if (config.poisonPolicy === PoisonPolicy.DEAD_LETTER && config.deadLetterTableName) {
    deadLetter = new DeadLetterTable(dynamodb, config.deadLetterTableName, clock);
    await deadLetter.ensureExists();
  }

  const writerOptions: ReplicaWriterOptions = {
    client: dynamodb,
    targetTableName: config.targetTableName,
    leaseTableName: config.applicationName,
    instanceName: config.instanceName,
    concurrency: config.writeConcurrency,
    gate,
    clock,
    metrics,
    events,
  };
  const writer =
    config.writeMode === WriteMode.FENCED
      ? new FencedReplicaWriter(writerOptions)
      : new ConditionalReplicaWriter(writerOptions);
  const processor = new ReplicationProcessor({
    writer,
    poisonPolicy: config.poisonPolicy,
    deadLetter,
    instanceName: config.instanceName,
    targetTableName: config.targetTableName,
    metrics,
    events,
  });
  const coordinator = new LeaseCoordinator(
    refresher,
    {
      workerId: config.instanceName,
      leaseDurationMs: config.leaseDurationMs,
      renewIntervalMs: config.leaseRenewIntervalMs,
      takerIntervalMs: config.leaseTakerIntervalMs,
      scanIntervalMs: config.leaseScanIntervalMs,
      ownerIndex,
      maxLeasesPerWorker: config.maxLeasesPerWorker,
      maxLeasesToStealAtOnce: config.maxLeasesToStealAtOnce,
      progress,
    },
    clock,
    log,
    metrics,
    events,
  );
  // A table without its owner index (KCL 1.x's, or one re-created by hand) gets it added online; scans meanwhile.
  const ownerIndexAdoption = new OwnerIndexAdoption({
    client: dynamodb,
    tableName: config.applicationName,
    clock,
    events,
    onActive: () => coordinator.ownerIndexReady(),
  });
  if (!ownerIndex) ownerIndexAdoption.start();
  events.on((event) => {
    if (event.name === 'lease-table.no-owner-index') ownerIndexAdoption.start();
  });
  const syncer = new ShardSyncer(detector, refresher, config.initialPosition, events, () =>
    coordinator.requestScan(),
  );
  const scheduler = new Scheduler({
    config,
    coordinator,
    syncer,
    processor,
    checkpointer: new Checkpointer(refresher, config.instanceName, clock, metrics, events),
    fetcher: (shardId, signal) =>
      new DataFetcher(
        streams,
        {
          streamArn: config.streamArn,
          shardId,
          maxRecords: config.maxRecords,
          idleTimeBetweenReadsMs: config.idleTimeBetweenReadsMs,
          readsPerSecond: config.readsPerSecond,
        },
        clock,
        metrics,
        events,
        signal,
      ),
    leases: {
      view: () => coordinator.leaseView(),
      read: (keys) => refresher.getLeases(keys),
      get: (key) => refresher.getLease(key),
      recordProgress: (key, progress) => refresher.recordProgress(key, config.instanceName, progress),
    },
    clock,
    events,
    metrics,
    lag: new LagTracker(metrics.replicationLagMs),
    progress,
    // The fenced writer checkpoints inside its transactions; conditional writes leave it to the consumer,
    // which writes it at most once a second (and at a graceful stop), not once per batch.
    checkpointIntervalMs: config.writeMode === WriteMode.CONDITIONAL ? 1_000 : 0,
  });
  readiness = scheduler;
  await scheduler.start();

  return {
    scheduler,
    metrics,
    events,
    server,
    async shutdown() {
      await ownerIndexAdoption.stop();
      await scheduler.shutdown();
      await closeServer();
      dynamodb.destroy();
      streams.destroy();
    },
  };
}

async function assertTableExists(client: DynamoDBClient, tableName: string, variable: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') {
      throw new ResourceError(
        `Table ${tableName} (${variable}) does not exist. Create it with the source table's key schema first.`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
