/**
 * One worker, assembled: AWS clients, the stream, the processor, the lease table, the scheduler and the health
 * server. `startWorker(options)` is the library's door; `node dist/consumer.js` (main.ts) comes in through
 * `runWorker` with settings it read from the environment. Checks at start-up what a misconfiguration would
 * otherwise turn into a silent stall.
 */
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { type Clock, systemClock } from '../core/vocabulary/clock.js';
import { ConfigurationError, errorName, ResourceError } from '../core/vocabulary/errors.js';
import {
  PoisonPolicy,
  parseStreamArn,
  resolveWorkerSettings,
  WORKER_SETTINGS,
  type WorkerSettings,
} from './config.js';
import { DynamoDBLeaseRefresher } from './leases/dynamodb-lease-refresher.js';
import { LeaseCoordinator } from './leases/lease-coordinator.js';
import { LeaseItemGate } from './leases/lease-item-gate.js';
import { OwnerIndexAdoption } from './leases/owner-index.js';
import { PendingProgress } from './leases/pending-progress.js';
import { Checkpointer } from './lifecycle/checkpointer.js';
import { DataFetcher } from './lifecycle/data-fetcher.js';
import { type WorkerEvent, WorkerEvents } from './observability/events.js';
import { createLogger, type Logger } from './observability/logger.js';
import { LagTracker, WorkerMetrics } from './observability/metrics.js';
import { type HealthSource, startHealthServer } from './observability/server.js';
import { KubernetesPodEvidence } from './peers/kubernetes-pods.js';
import { BatchRunner } from './processor/batch-runner.js';
import { DeadLetterTable } from './processor/dead-letter.js';
import { IndividualWriter } from './processor/individual-writer.js';
import type { RecordProcessor } from './processor/record-processor.js';
import { TransactionCommitter } from './processor/transaction-committer.js';
import type { WriterOptions } from './processor/write-context.js';
import { Scheduler } from './scheduler.js';
import { assertKnownOptions } from './settings.js';
import { DynamoDBStreamsShardDetector } from './shards/shard-detector.js';
import { ShardSyncer } from './shards/shard-syncer.js';
import type { WorkerOptions } from './worker-options.js';

/** A running worker. */
export interface Worker {
  /** This worker's id (`instanceName`): the lease owner it writes. */
  readonly workerId: string;
  /** The stream it reads (resolved from `tableName` when that was given). */
  readonly streamArn: string;
  /** The port /healthz, /readyz and /metrics are served on (the one chosen when `port` was 0). */
  readonly port: number;
  /** True once the worker runs and its lease loops keep completing their passes (what /readyz says). */
  isReady(): boolean;
  /** Every event the worker reports (also written to its log with an `event` field); returns the unsubscribe. */
  onEvent(listener: (event: WorkerEvent) => void): () => void;
  /**
   * Stops gracefully: no new leases, the batches in hand finish and are checkpointed, the leases are handed to
   * peers (or released), the processor's `close` runs. Resolves once all of that is done.
   */
  stop(): Promise<void>;
}

/** The worker as this repository's own code uses it: the scheduler and metrics too. */
export interface RunningWorker extends Worker {
  readonly scheduler: Scheduler;
  readonly metrics: WorkerMetrics;
  readonly events: WorkerEvents;
}

/** What runs the worker besides its settings: the processor, and the logger, clock and events it reports to. */
export interface WorkerParts {
  processor: RecordProcessor;
  /** How errors and events name the processor (its module, or `replication`). */
  processorName: string;
  log: Logger;
  events: WorkerEvents;
  clock?: Clock;
}

const CLIENT_OPTIONS = {
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 15_000 },
} as const;

function isProcessor(value: unknown): value is RecordProcessor {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { processRecords?: unknown }).processRecords === 'function'
  );
}

/**
 * Starts a worker that runs `options.processor` on every shard it holds a lease of, sharing the stream's shards
 * with every other worker of the same `applicationName`. Resolves once the worker runs (its first leases
 * taken). Bad options throw a ConfigurationError naming the option; a stream or table that does not exist, a
 * ResourceError.
 */
export async function startWorker(options: WorkerOptions): Promise<Worker> {
  if (options === null || typeof options !== 'object')
    throw new ConfigurationError(
      'options',
      'expected an object such as { applicationName, streamArn, processor }.',
    );
  const { processor, ...settings } = options;
  assertKnownOptions(
    settings,
    Object.values(WORKER_SETTINGS).map((spec) => spec.option),
  );
  if (!isProcessor(processor)) {
    throw new ConfigurationError(
      'processor',
      'expected a record processor: an object with a processRecords(input) function (docs/processors.md).',
    );
  }
  const values = { region: process.env.AWS_REGION, ...settings };
  const resolved = resolveWorkerSettings(values, 'options', hostname());
  const log = createLogger(resolved.instanceName, resolved.logLevel);
  return runWorker(resolved, {
    processor,
    processorName:
      processor.constructor?.name && processor.constructor !== Object
        ? processor.constructor.name
        : 'processor',
    log,
    events: new WorkerEvents(log),
  });
}

/** The source table's current stream, for a worker given `tableName`. */
async function currentStreamArn(client: DynamoDBClient, tableName: string): Promise<string> {
  let arn: string | undefined;
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    arn = Table?.StreamSpecification?.StreamEnabled ? Table.LatestStreamArn : undefined;
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException')
      throw new ResourceError(`Table ${tableName} (tableName) does not exist.`, { cause: error });
    throw error;
  }
  if (!arn) {
    throw new ResourceError(
      `Table ${tableName} has no stream. Enable one: aws dynamodb update-table --table-name ${tableName} ` +
        '--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES',
    );
  }
  return arn;
}

export async function runWorker(settings: WorkerSettings, parts: WorkerParts): Promise<RunningWorker> {
  const { processor, processorName, events } = parts;
  const clock = parts.clock ?? systemClock;
  const dynamodb = new DynamoDBClient({ region: settings.region, ...CLIENT_OPTIONS });
  const streams = new DynamoDBStreamsClient({ region: settings.region, ...CLIENT_OPTIONS });
  const metrics = new WorkerMetrics();
  // Serve /healthz at once (alive while starting); /readyz stays 503 until the scheduler is running.
  let readiness: HealthSource = { isReady: () => false };
  const server = await startHealthServer(
    settings.port,
    { isReady: () => readiness.isReady() },
    metrics.registry,
  );
  const release = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    dynamodb.destroy();
    streams.destroy();
  };
  // Peer evidence: the pods of this Deployment, when the worker is told which (PEER_POD_SELECTOR). Loaded
  // first: a library user without @kubernetes/client-node learns it before any AWS call.
  let evidence: KubernetesPodEvidence | undefined;
  try {
    evidence =
      settings.peerPodSelector === undefined
        ? undefined
        : await KubernetesPodEvidence.load({
            instanceName: settings.instanceName,
            selector: settings.peerPodSelector,
            namespace: settings.podNamespace,
            clock,
            events,
          });
    const streamArn = settings.streamArn ?? (await currentStreamArn(dynamodb, settings.tableName ?? ''));
    events.emit(
      'worker.starting',
      { streamArn, leaseTable: settings.applicationName, processor: processorName },
      'starting worker',
    );
    const detector = new DynamoDBStreamsShardDetector(streams, streamArn);
    const description = await detector.describe();
    await processor.prepare?.({
      applicationName: settings.applicationName,
      streamArn,
      streamViewType: description.viewType ?? 'unknown',
      workerId: settings.instanceName,
      region: settings.region,
    });
    events.emit(
      'worker.checked',
      { viewType: description.viewType ?? 'unknown', processor: processorName },
      'stream checked and processor prepared',
    );
    const running = await assemble(
      { ...settings, streamArn, stream: settings.stream ?? parseStreamArn(streamArn) } as WorkerSettings & {
        streamArn: string;
      },
      { dynamodb, streams, detector, metrics, clock, parts, evidence },
    );
    readiness = running.scheduler;
    await running.scheduler.start();
    let stopping: Promise<void> | undefined;
    return {
      workerId: settings.instanceName,
      streamArn,
      port: (server.address() as AddressInfo).port,
      scheduler: running.scheduler,
      metrics,
      events,
      isReady: () => running.scheduler.isReady(),
      onEvent: (listener) => events.on(listener),
      stop() {
        stopping ??= (async () => {
          await running.ownerIndexAdoption.stop();
          await running.scheduler.shutdown();
          await running.evidence?.stop();
          try {
            await processor.close?.();
          } finally {
            await release();
          }
        })();
        return stopping;
      },
    };
  } catch (error) {
    // A start that fails after the pod watch began (the scheduler's start) leaves no watch running.
    await evidence?.stop();
    await release();
    throw error;
  }
}

interface Plumbing {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  detector: DynamoDBStreamsShardDetector;
  metrics: WorkerMetrics;
  clock: Clock;
  parts: WorkerParts;
  evidence: KubernetesPodEvidence | undefined;
}

async function assemble(
  settings: WorkerSettings & { streamArn: string },
  { dynamodb, streams, detector, metrics, clock, parts, evidence }: Plumbing,
): Promise<{
  scheduler: Scheduler;
  ownerIndexAdoption: OwnerIndexAdoption;
  evidence: KubernetesPodEvidence | undefined;
}> {
  const { events, log, processor, processorName } = parts;
  // One write at a time per lease item from this worker: transactions, renewals, checkpoints, hand-offs.
  const gate = new LeaseItemGate(clock);
  const progress = new PendingProgress();
  const refresher = new DynamoDBLeaseRefresher(dynamodb, settings.applicationName, clock, {
    onRequest: (operation) => metrics.leaseTableRequests.inc({ operation }),
    gate,
    // A renewal waits for the transaction in flight on its lease, but never long enough to put the lease at risk.
    renewalMaxWaitMs: Math.min(1_000, settings.leaseDurationMs / 4),
  });
  const { ownerIndex } = await refresher.createLeaseTableIfNotExists();
  events.emit('lease-table.ready', { leaseTable: settings.applicationName, ownerIndex }, 'lease table ready');
  let deadLetter: DeadLetterTable | undefined;
  if (settings.poisonRecordPolicy === PoisonPolicy.DEAD_LETTER && settings.deadLetterTableName) {
    deadLetter = new DeadLetterTable(dynamodb, settings.deadLetterTableName, clock);
    await deadLetter.ensureExists();
  }
  const writerOptions: WriterOptions = {
    client: dynamodb,
    leaseTableName: settings.applicationName,
    instanceName: settings.instanceName,
    gate,
    clock,
    metrics,
    events,
  };
  const batches = new BatchRunner({
    processor,
    processorName,
    transactions: new TransactionCommitter(writerOptions),
    individual: new IndividualWriter(writerOptions),
    poisonPolicy: settings.poisonRecordPolicy,
    deadLetter,
    workerId: settings.instanceName,
    timeoutMs: settings.processorTimeoutMs,
    maxAttempts: settings.processorMaxAttempts,
    clock,
    events,
    metrics,
  });
  evidence?.start();
  const coordinator = new LeaseCoordinator(
    refresher,
    {
      workerId: settings.instanceName,
      leaseDurationMs: settings.leaseDurationMs,
      renewIntervalMs: settings.leaseRenewIntervalMs,
      takerIntervalMs: settings.leaseTakerIntervalMs,
      scanIntervalMs: settings.leaseScanIntervalMs,
      ownerIndex,
      maxLeasesPerWorker: settings.maxLeasesPerWorker,
      maxLeasesToStealAtOnce: settings.maxLeasesToStealAtOnce,
      progress,
      ...(evidence ? { evidence } : {}),
    },
    clock,
    log,
    metrics,
    events,
  );
  // A table without its owner index (KCL 1.x's, or one re-created by hand) gets it added online; scans meanwhile.
  const ownerIndexAdoption = new OwnerIndexAdoption({
    client: dynamodb,
    tableName: settings.applicationName,
    clock,
    events,
    onActive: () => coordinator.ownerIndexReady(),
  });
  if (!ownerIndex) ownerIndexAdoption.start();
  events.on((event) => {
    if (event.name === 'lease-table.no-owner-index') ownerIndexAdoption.start();
  });
  const syncer = new ShardSyncer(detector, refresher, settings.initialPosition, events, () =>
    coordinator.requestScan(),
  );
  const scheduler = new Scheduler({
    config: settings,
    coordinator,
    syncer,
    processor,
    batches,
    checkpointer: new Checkpointer(refresher, settings.instanceName, clock, metrics, events),
    fetcher: (shardId, signal) =>
      new DataFetcher(
        streams,
        {
          streamArn: settings.streamArn,
          shardId,
          maxRecords: settings.maxRecords,
          idleTimeBetweenReadsMs: settings.idleTimeBetweenReadsMs,
          readsPerSecond: settings.readsPerSecond,
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
      recordProgress: (key, progress) => refresher.recordProgress(key, settings.instanceName, progress),
    },
    clock,
    events,
    metrics,
    lag: new LagTracker(metrics.replicationLagMs),
    progress,
    // Transactions carry their checkpoints; every other checkpoint is written at most this often.
    checkpointIntervalMs: settings.checkpointIntervalMs,
  });
  return { scheduler, ownerIndexAdoption, evidence };
}
