/** The record processor contract, named as in the Kinesis Client Library. */
import type { StreamRecord } from '../lifecycle/data-fetcher.js';

export interface ProcessRecordsInput {
  shardId: string;
  records: readonly StreamRecord[];
  /** True while this worker still holds the shard's lease (local check). */
  isHeld: () => boolean;
  /** Aborts only when the lease is lost or the worker must stop at once; a graceful stop lets the batch finish. */
  signal: AbortSignal;
}

/** `lease-lost` is a value, not an exception: the shard consumer stops quietly and does not checkpoint. */
export type ProcessResult = 'processed' | 'lease-lost';

export interface ShardRecordProcessor {
  initialize(input: { shardId: string; checkpoint: string }): Promise<void>;
  processRecords(input: ProcessRecordsInput): Promise<ProcessResult>;
  leaseLost(input: { shardId: string }): Promise<void>;
  shardEnded(input: { shardId: string }): Promise<void>;
  shutdownRequested(input: { shardId: string }): Promise<void>;
}
