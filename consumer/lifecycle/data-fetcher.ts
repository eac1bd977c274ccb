/**
 * Reads one shard: shard iterator, GetRecords loop with one batch fetched ahead while the previous one is
 * processed, paced to at most `readsPerSecond` reads, idle time after empty reads, backoff with jitter on
 * throttling, and recovery from expired iterators (re-acquired after the last record read) and trimmed data
 * (resumed at the oldest record, loudly).
 *
 * Pacing: AWS allows about five GetRecords a second per shard, shared by every reader of the shard, and
 * answers more with LimitExceededException (the DynamoDB Streams API reference; Kinesis documents the same
 * five). Reading back-to-back would spend that allowance on tiny batches and get throttled; the fetcher
 * instead starts a read at most every 1000 / readsPerSecond ms, so a busy shard is read in fewer, larger
 * batches and a record waits at most one interval before it is read.
 */
import {
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { Clock } from '../../core/vocabulary/clock.js';
import {
  errorName,
  isRetriableAwsError,
  isThrottlingError,
  ShardGoneError,
  UnreadablePositionError,
} from '../../core/vocabulary/errors.js';
import { backoffDelay, type RetryPolicy } from '../../core/vocabulary/retry.js';
import { isSequenceNumber, Sentinel } from '../../core/vocabulary/sequence.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { approximateItemSize } from '../processor/writes.js';
import type { FetchedBatch, Fetcher } from './fetcher.js';

export type { StreamRecord };

/** An answer this much under GetRecords' 1 MB limit was not cut short by size. */
const CUT_SHORT_BYTES = 512 * 1024;

function reachedTip(records: readonly StreamRecord[], asked: number): boolean {
  if (records.length >= asked) return false;
  let bytes = 0;
  for (const record of records) {
    const data = record.dynamodb;
    bytes += approximateItemSize(data?.NewImage) + approximateItemSize(data?.OldImage) + 200;
    if (bytes >= CUT_SHORT_BYTES) return false;
  }
  return true;
}

export interface DataFetcherOptions {
  streamArn: string;
  shardId: string;
  maxRecords: number;
  idleTimeBetweenReadsMs: number;
  /** GetRecords calls per second on this shard, at most. */
  readsPerSecond: number;
}

/** Non-throttling failures of GetShardIterator for one position before the shard consumer gives up and restarts. */
const ITERATOR_ATTEMPTS = 5;

const READ_BACKOFF: RetryPolicy = {
  baseDelayMs: 100,
  maxDelayMs: 10_000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

export class DataFetcher implements Fetcher {
  private iterator: string | undefined;
  /** Where reading resumes if the iterator has to be acquired again. */
  private position: string = Sentinel.TRIM_HORIZON;
  private ahead: Promise<FetchedBatch> | undefined;
  private lastWasEmpty = false;
  private ended = false;
  private lastReadAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly client: DynamoDBStreamsClient,
    private readonly options: DataFetcherOptions,
    private readonly clock: Clock,
    private readonly metrics: WorkerMetrics,
    private readonly events: WorkerEvents,
    private readonly signal: AbortSignal,
  ) {}

  /** Positions the reader after `checkpoint` (a sequence number) or at TRIM_HORIZON / LATEST. */
  async initialize(checkpoint: string): Promise<void> {
    this.position = checkpoint;
    this.iterator = await this.acquireIterator();
  }

  /** The next batch; the one after it is requested at once, in the background. */
  async next(): Promise<FetchedBatch> {
    const batch = await (this.ahead ?? this.fetch());
    this.ahead = undefined;
    if (!batch.shardEnded && !this.signal.aborted) {
      this.ahead = this.fetch();
      this.ahead.catch(() => undefined); // surfaced by the next call to next()
    }
    return batch;
  }

  private async fetch(): Promise<FetchedBatch> {
    if (this.ended) return { records: [], shardEnded: true, readAt: this.clock.now(), reachedTip: true };
    if (this.lastWasEmpty) await this.clock.sleep(this.options.idleTimeBetweenReadsMs, this.signal);
    for (let attempt = 0; ; attempt++) {
      if (this.signal.aborted) return this.nothing(false);
      try {
        if (this.iterator === undefined) {
          this.iterator = await this.acquireIterator();
          if (this.iterator === undefined) return this.nothing(true);
        }
        await this.pace();
        if (this.signal.aborted) return this.nothing(false);
        const started = this.clock.now();
        this.lastReadAt = started;
        const result = await this.client.send(
          new GetRecordsCommand({ ShardIterator: this.iterator, Limit: this.options.maxRecords }),
          { abortSignal: this.signal },
        );
        this.metrics.getRecordsLatency.observe((this.clock.now() - started) / 1000);
        const records = result.Records ?? [];
        const last = records.at(-1)?.dynamodb?.SequenceNumber;
        if (last) this.position = last;
        this.iterator = result.NextShardIterator;
        this.lastWasEmpty = records.length === 0;
        if (this.iterator === undefined) this.ended = true;
        return {
          records,
          shardEnded: this.ended,
          readAt: started,
          reachedTip: reachedTip(records, this.options.maxRecords),
        };
      } catch (error) {
        if (this.signal.aborted) return this.nothing(false);
        await this.recover(error, attempt);
      }
    }
  }

  /** No records: the shard ended, or reading was stopped (then nothing is claimed about the tip). */
  private nothing(shardEnded: boolean): FetchedBatch {
    return { records: [], shardEnded, readAt: this.clock.now(), reachedTip: shardEnded };
  }

  /** Waits until a read is allowed: at most `readsPerSecond` reads start in any second. */
  private async pace(): Promise<void> {
    const wait = this.lastReadAt + 1_000 / this.options.readsPerSecond - this.clock.now();
    if (wait > 0) await this.clock.sleep(wait, this.signal);
  }

  private async recover(error: unknown, attempt: number): Promise<void> {
    const name = errorName(error);
    const shardId = this.options.shardId;
    if (name === 'ExpiredIteratorException') {
      this.metrics.expiredIterators.inc();
      this.events.emit(
        'read.iterator-expired',
        { shardId, position: this.position },
        'shard iterator expired; acquiring a new one',
      );
      this.iterator = undefined;
      return;
    }
    if (name === 'TrimmedDataAccessException') {
      this.onTrimmed();
      return;
    }
    const throttled = isThrottlingError(error);
    if (throttled) this.metrics.throttles.inc({ api: 'GetRecords' });
    if (!isRetriableAwsError(error)) throw error;
    if (!throttled) this.metrics.processingErrors.inc({ error: name });
    const delay = backoffDelay(attempt, READ_BACKOFF);
    this.events.emit(
      'read.failed',
      { shardId, api: 'GetRecords', error, delayMs: delay },
      'GetRecords failed; backing off',
    );
    await this.clock.sleep(delay, this.signal);
  }

  private onTrimmed(): void {
    this.metrics.trimmedDataEvents.inc();
    this.events.emit(
      'read.trimmed',
      { shardId: this.options.shardId, position: this.position },
      'TrimmedDataAccessException: records after this position are past the stream retention (24 h) and gone from the stream; resuming at the oldest available record',
    );
    this.position = Sentinel.TRIM_HORIZON;
    this.iterator = undefined;
  }

  private async acquireIterator(): Promise<string | undefined> {
    const { streamArn, shardId } = this.options;
    const position = this.position;
    const request = isSequenceNumber(position)
      ? {
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const,
          SequenceNumber: position,
        }
      : {
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: position === Sentinel.LATEST ? ('LATEST' as const) : ('TRIM_HORIZON' as const),
        };
    for (let attempt = 0; ; attempt++) {
      try {
        const { ShardIterator } = await this.client.send(new GetShardIteratorCommand(request), {
          abortSignal: this.signal,
        });
        if (ShardIterator === undefined) this.ended = true;
        return ShardIterator;
      } catch (error) {
        if (errorName(error) === 'ResourceNotFoundException') throw new ShardGoneError(shardId, error);
        if (errorName(error) === 'TrimmedDataAccessException' && isSequenceNumber(position)) {
          this.onTrimmed();
          return this.acquireIterator();
        }
        const throttled = isThrottlingError(error);
        if (throttled) this.metrics.throttles.inc({ api: 'GetShardIterator' });
        if (!isRetriableAwsError(error) || this.signal.aborted) throw error;
        // A position the stream cannot serve (a checkpoint edited by hand, say) fails the same way every time:
        // give up after a few tries so the shard consumer restarts and reads the checkpoint afresh.
        if (!throttled && attempt + 1 >= ITERATOR_ATTEMPTS)
          throw new UnreadablePositionError(shardId, position, ITERATOR_ATTEMPTS, error);
        const delay = backoffDelay(attempt, READ_BACKOFF);
        if (!throttled) {
          this.metrics.processingErrors.inc({ error: errorName(error) });
          this.events.emit(
            'read.failed',
            { shardId, api: 'GetShardIterator', error, delayMs: delay },
            `GetShardIterator at ${position} failed; backing off`,
          );
        }
        await this.clock.sleep(delay, this.signal);
      }
    }
  }
}
