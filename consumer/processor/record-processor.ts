/** The record processor contract, named as in the Kinesis Client Library. */
import type { StreamRecord } from '../lifecycle/data-fetcher.js';
import type { BatchPosition } from './replica-writer.js';

export interface ProcessRecordsInput {
  shardId: string;
  records: readonly StreamRecord[];
  /** True while this worker still holds the shard's lease (local check). */
  isHeld: () => boolean;
  /** Aborts only when the lease is lost or the worker must stop at once; a graceful stop lets the batch finish. */
  signal: AbortSignal;
  /**
   * Where the checkpoint goes once the batch is processed. A processor that can write it together with its own
   * writes (atomically) does so and answers `checkpointed`; otherwise the shard consumer writes it.
   */
  checkpoint: BatchPosition;
}

/**
 * `lease-lost` is a value, not an exception: the shard consumer stops quietly and does not checkpoint.
 * `checkpointed`: processed, and the checkpoint is already at `input.checkpoint`.
 */
export type ProcessResult = 'processed' | 'checkpointed' | 'lease-lost';

export interface ShardRecordProcessor {
  initialize(input: { shardId: string; checkpoint: string }): Promise<void>;
  processRecords(input: ProcessRecordsInput): Promise<ProcessResult>;
  leaseLost(input: { shardId: string }): Promise<void>;
  shardEnded(input: { shardId: string }): Promise<void>;
  shutdownRequested(input: { shardId: string }): Promise<void>;
}
