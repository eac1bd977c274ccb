/**
 * What the batch runner's parts share: the options, the shard consumer's side of a batch (`BatchRun`), the
 * records as the runner holds them, the outcomes, and the one call of the processor, bounded by its timeout.
 */
import type { _Record as RawStreamRecord } from '@aws-sdk/client-dynamodb-streams';
import type { Clock } from '../../core/vocabulary/clock.js';
import { ProcessorTimeoutError } from '../../core/vocabulary/errors.js';
import type { PoisonPolicy } from '../config.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { DeadLetterTable } from './dead-letter.js';
import type { IndividualWriter } from './individual-writer.js';
import type { ChangeRecord, ProcessRecordsResult, RecordProcessor } from './record-processor.js';
import type { TransactionCommitter } from './transaction-committer.js';
import type { BatchPosition } from './write-context.js';

export interface BatchRunnerOptions {
  processor: RecordProcessor;
  /** How messages name the processor: its module, or `replication`. */
  processorName: string;
  transactions: TransactionCommitter;
  individual: IndividualWriter;
  poisonPolicy: PoisonPolicy;
  /** Present with the dead-letter policy. */
  deadLetter: DeadLetterTable | undefined;
  workerId: string;
  timeoutMs: number;
  maxAttempts: number;
  clock: Clock;
  events: WorkerEvents;
  metrics: WorkerMetrics;
}

/** The shard consumer's side of one batch. */
export interface BatchRun {
  shardId: string;
  isHeld(): boolean;
  /** Aborts when the lease is lost or the worker must stop at once: processing and writes stop. */
  signal: AbortSignal;
  /** Aborts when a graceful stop is asked for: pauses between retries end early. */
  stopSignal: AbortSignal;
  stopping(): boolean;
  /** Writes the checkpoint now (before a record the shard stops at, or that goes to the dead-letter table). */
  checkpoint(position: BatchPosition): Promise<'checkpointed' | 'lease-lost'>;
  setStalled(stalled: boolean): void;
}

export type BatchOutcome =
  | { status: 'done'; checkpointed: boolean }
  | { status: 'lease-lost' }
  /** A graceful stop came while the batch kept failing: it is left unprocessed, the checkpoint before it. */
  | { status: 'stopped' };

/** A record of the batch; `record` is absent when the stream's record is malformed. */
export interface Entry {
  raw: RawStreamRecord;
  sequenceNumber: string;
  record: ChangeRecord | undefined;
  malformed: string | undefined;
}

/** The outcome of applying one processor result to a part of the batch. */
export type Applied =
  | BatchOutcome
  /** `index` (counted from `from`) is a poison record; the records before `from` are committed already. */
  | { status: 'poison'; from: number; index: number; reason: string; table?: string | undefined }
  | { status: 'split'; from: number; reason: string };

export const LEASE_LOST = { status: 'lease-lost' } as const;

export function positionOf(entries: readonly Entry[]): BatchPosition {
  return { sequenceNumber: (entries.at(-1) as Entry).sequenceNumber };
}

/** One call of `processRecords`, bounded by the timeout; never throws. */
export async function callProcessor(
  options: Pick<BatchRunnerOptions, 'processor' | 'clock' | 'timeoutMs' | 'processorName'>,
  entries: readonly Entry[],
  attempt: number,
  run: BatchRun,
): Promise<{ result: ProcessRecordsResult | undefined } | { error: unknown }> {
  const { processor, clock, timeoutMs, processorName } = options;
  const controller = new AbortController();
  const relay = () => controller.abort(run.signal.reason);
  if (run.signal.aborted) relay();
  else run.signal.addEventListener('abort', relay, { once: true });
  const timer = new AbortController();
  const timedOut = Symbol('timed out');
  try {
    const settled = await Promise.race([
      Promise.resolve()
        .then(() =>
          processor.processRecords({
            shardId: run.shardId,
            records: entries.map((entry) => entry.record as ChangeRecord),
            signal: controller.signal,
            attempt,
          }),
        )
        .then(
          (result) => ({ result: result ?? undefined }),
          (error: unknown) => ({ error }),
        ),
      clock.sleep(timeoutMs, timer.signal).then(() => timedOut),
    ]);
    if (settled !== timedOut)
      return settled as { result: ProcessRecordsResult | undefined } | { error: unknown };
    const error = new ProcessorTimeoutError(
      processorName,
      run.shardId,
      (entries[0] as Entry).sequenceNumber,
      (entries.at(-1) as Entry).sequenceNumber,
      timeoutMs,
    );
    controller.abort(error);
    return { error };
  } finally {
    timer.abort();
    run.signal.removeEventListener('abort', relay);
  }
}
