/**
 * What a KCL 1.x worker with its defaults would send to DynamoDB for the same work, derived from its documented
 * defaults and its source (awslabs/amazon-kinesis-client, 1.x branch):
 *
 * - KinesisClientLibConfiguration: DEFAULT_FAILOVER_TIME_MILLIS = 10,000; DEFAULT_IDLETIME_BETWEEN_READS_MILLIS
 *   = 1,000; DEFAULT_MAX_RECORDS = 10,000 (DynamoDB Streams returns at most 1,000 a call);
 *   DEFAULT_SHARD_SYNC_INTERVAL_MILLIS = 60,000; DEFAULT_VALIDATE_SEQUENCE_NUMBER_BEFORE_CHECKPOINTING = true
 *   (each checkpoint first asks the stream for an iterator at that sequence number: one GetShardIterator);
 *   EPSILON_MS = 25.
 * - LeaseCoordinator: renewer every failover / 3 − epsilon = 3,308 ms (one conditional UpdateItem per held
 *   lease); taker every (failover + epsilon) × 2 = 20,050 ms, and every taker pass starts with
 *   LeaseTaker.updateAllLeases → listLeases(), a full Scan of the lease table (1 MB pages).
 * - Worker.runProcessLoop: each pass gives every shard consumer at most one task (GetRecords + processRecords),
 *   then sleeps idleTimeBetweenReads: at most one GetRecords per shard per second, so at most 1,000 records a
 *   second per shard, however deep the backlog.
 * - Checkpoints are the application's call; for the same at-least-once window as ours we assume one per batch.
 *   Each is an UpdateItem on the lease table (plus the GetShardIterator above).
 * - LeaseCoordinator.stop() only clears the worker's in-memory leases: a graceful stop leaves them owned in the
 *   table, and peers take them once they expire, exactly as after a crash.
 *
 * Assumptions are the same work on one shard (DynamoDB Local has one): N records over T seconds, W workers.
 */

export const KCL1 = {
  failoverMs: 10_000,
  epsilonMs: 25,
  idleBetweenReadsMs: 1_000,
  maxRecordsPerGetRecords: 1_000,
  renewIntervalMs: 10_000 / 3 - 25,
  takerIntervalMs: (10_000 + 25) * 2,
  leasesPerScanPage: 4_000,
} as const;

export interface KclEstimate {
  seconds: number;
  streamReads: { GetRecords: number; GetShardIterator: number; DescribeStream: number };
  leaseReads: { Scan: number };
  leaseWrites: { renewals: number; checkpoints: number; takes: number };
  total: number;
}

/**
 * @param records records to replicate
 * @param seconds how long the work lasts (for a backlog, at least records / 1,000 s: KCL reads one batch a second)
 * @param workers workers in the fleet (each scans the lease table every taker pass)
 * @param leases leases in the table (one here)
 * @param batches GetRecords calls that return records (= checkpoints)
 */
export function kcl1Estimate(
  records: number,
  seconds: number,
  workers: number,
  leases = 1,
  batches?: number,
): KclEstimate {
  const readSeconds = Math.max(
    seconds,
    Math.ceil(records / KCL1.maxRecordsPerGetRecords) * (KCL1.idleBetweenReadsMs / 1000),
  );
  const getRecords = Math.ceil((readSeconds * 1000) / KCL1.idleBetweenReadsMs) * leases;
  const checkpoints = batches ?? Math.min(getRecords, records); // one per non-empty batch
  const pages = Math.max(1, Math.ceil(leases / KCL1.leasesPerScanPage));
  // Each worker: one scan at start (LeaseRenewer.initialize) + one per taker pass (the first at once).
  const scans = workers * pages * (1 + 1 + Math.floor((readSeconds * 1000) / KCL1.takerIntervalMs));
  const renewals = leases * Math.floor((readSeconds * 1000) / KCL1.renewIntervalMs);
  const estimate: KclEstimate = {
    seconds: readSeconds,
    streamReads: { GetRecords: getRecords, GetShardIterator: leases + checkpoints, DescribeStream: workers },
    leaseReads: { Scan: scans },
    leaseWrites: { renewals, checkpoints, takes: leases },
    total: 0,
  };
  estimate.total = getRecords + leases + checkpoints + workers + scans + renewals + checkpoints + leases;
  return estimate;
}
