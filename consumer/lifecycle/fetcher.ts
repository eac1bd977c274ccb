/** What the shard consumer asks of the reader of its shard: a batch at a time (DataFetcher reads DynamoDB Streams). */
import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';

export interface FetchedBatch {
  records: StreamRecord[];
  /** The shard is closed and every record has been returned. */
  shardEnded: boolean;
  /** When (this worker's clock) the read that returned the batch was sent. */
  readAt: number;
  /**
   * The read found the end of what the shard held when it was sent: fewer records than asked for, well under
   * GetRecords' 1 MB answer limit (so not cut short by size). Everything written before `readAt`, give or take
   * the stream's own delay, is in this batch or an earlier one.
   */
  reachedTip: boolean;
}

/** The reader of one shard (DataFetcher, or a fake). */
export interface Fetcher {
  /** Positions the reader after `checkpoint` (a sequence number) or at TRIM_HORIZON / LATEST. */
  initialize(checkpoint: string): Promise<void>;
  /** The next batch (empty when nothing is there yet). */
  next(): Promise<FetchedBatch>;
}

/** Builds the reader of `shardId`; `signal` aborts its reads (a stop or a lost lease). */
export type FetcherFactory = (shardId: string, signal: AbortSignal) => Fetcher;
