/**
 * Streamfleet as a library: run your own DynamoDB Streams application on a fleet of workers that share the
 * stream's shards through leases (KCL's lease table), with at-least-once delivery in order per shard, and
 * writes to DynamoDB committed with the checkpoint in fenced transactions. docs/processors.md is the guide.
 *
 * ```ts
 * import { startWorker, type RecordProcessor } from 'streamfleet';
 *
 * const processor: RecordProcessor = {
 *   async processRecords({ records }) {
 *     for (const record of records) console.log(record.eventName, record.keys);
 *   },
 * };
 * const worker = await startWorker({ applicationName: 'my-app', tableName: 'users', processor });
 * process.on('SIGTERM', () => worker.stop());
 * ```
 */

export {
  ConfigurationError,
  InvalidWriteError,
  PoisonRecordError,
  ProcessorTimeoutError,
  ResourceError,
  StreamfleetError,
  WriteConditionFailedError,
} from '../core/vocabulary/errors.js';
export {
  compareSequenceNumbers,
  toOrderedSequence as orderedSequenceNumber,
} from '../core/vocabulary/sequence.js';
export type { WorkerEvent, WorkerEventMap, WorkerEventName } from './observability/events.js';
export type {
  ChangeRecord,
  InitializationInput,
  NativeItem,
  NativeValue,
  PoisonRecord,
  ProcessorContext,
  ProcessRecordsInput,
  ProcessRecordsResult,
  RecordProcessor,
  ShardInput,
  TransactionWrite,
} from './processor/record-processor.js';
export { type ReplicationOptions, replicationProcessor } from './replication/replication-processor.js';
export { startWorker, type Worker } from './worker.js';
export type { WorkerOptions } from './worker-options.js';
