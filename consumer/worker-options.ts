/**
 * The options of `startWorker`. Each setting is defined once in consumer/config.ts (WORKER_SETTINGS: its
 * environment variable, default and validation); the text of each option below is that definition's, and a test
 * keeps the two equal.
 */
import type { RecordProcessor } from './processor/record-processor.js';

export interface WorkerOptions {
  /** The stream application: an object with `processRecords` (docs/processors.md). */
  processor: RecordProcessor;
  /** name of the application; also the lease table name (required) */
  applicationName: string;
  /** ARN of the source table's stream (required, unless the table's name is given instead) */
  streamArn?: string;
  /** the source table, whose current stream is read, instead of the stream's ARN (needs dynamodb:DescribeTable on it) */
  tableName?: string;
  /** AWS region of the tables (required; startWorker reads AWS_REGION when it is not given) */
  region?: string;
  /** this worker's id: the lease owner it writes, stamped into processed_by by replication (default: host name) */
  instanceName?: string;
  /** port of /healthz, /readyz and /metrics (default 8080; 0 picks a free one) */
  port?: number;
  /** a lease whose counter has not changed for this long is expired (default 10000) */
  leaseDurationMs?: number;
  /** how often held leases are renewed (default lease duration / 3) */
  leaseRenewIntervalMs?: number;
  /** how often a worker checks its own leases and its peers (default 1000) */
  leaseTakerIntervalMs?: number;
  /** longest time between full reads of the lease table when nothing changes (default 30000) */
  leaseScanIntervalMs?: number;
  /** upper bound on leases one worker holds (default unlimited) */
  maxLeasesPerWorker?: number;
  /** leases asked for from a busier peer per taker pass when balancing (default 1; 0 turns balancing off) */
  maxLeasesToStealAtOnce?: number;
  /** how often the stream is listed for new shards (default 60000) */
  shardSyncIntervalMs?: number;
  /** pause after an empty GetRecords (default 500) */
  idleTimeBetweenReadsMs?: number;
  /** GetRecords per second per shard at most, 1..5 (default 4; AWS throttles above 5 per shard, shared by all its readers) */
  readsPerSecond?: number;
  /** records per GetRecords, so at most per processRecords call, 1..1000 (default 1000) */
  maxRecords?: number;
  /** TRIM_HORIZON or LATEST for shards without a checkpoint (default TRIM_HORIZON) */
  initialPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** stop or dead-letter: what happens to a record that cannot be processed (default stop) */
  poisonRecordPolicy?: 'stop' | 'dead-letter';
  /** table for poison records (required with dead-letter; created on-demand if absent) */
  deadLetterTableName?: string;
  /** longest a processRecords call may take before it counts as failed and its signal aborts (default 60000) */
  processorTimeoutMs?: number;
  /** attempts of a failing batch before it is split to find the record at fault, and of that record before the poison-record policy applies (default 3) */
  processorMaxAttempts?: number;
  /** checkpoints not carried by a transaction are written at most this often; a graceful stop writes the last one (default 1000; 0: after every batch) */
  checkpointIntervalMs?: number;
  /** longest graceful drain (SIGTERM, or stop()) before the batches in hand are abandoned (default 20000) */
  shutdownTimeoutMs?: number;
  /** label selector of this Deployment's pods: watched through the Kubernetes API, a peer whose pod is deleted or whose container stopped loses its leases at once (default unset: the lease duration alone) */
  peerPodSelector?: string;
  /** namespace of those pods (default: this pod's own) */
  podNamespace?: string;
  /** trace, debug, info, warn, error, fatal or silent (default info) */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}
