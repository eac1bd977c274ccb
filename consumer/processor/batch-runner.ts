/**
 * One batch through the record processor: call `processRecords` (within `processorTimeoutMs`, with a signal
 * that aborts when the lease is lost), commit the writes it returns (in fenced transactions with the checkpoint,
 * or one by one), and deal with failure without ever skipping a record silently:
 *
 * - a throw (or a timeout, or a write the processor got wrong) is retried with backoff and jitter;
 * - after `processorMaxAttempts` attempts the batch is split in two and each half run on its own, down to the
 *   one record at fault (as a Lambda event source mapping's BisectBatchOnFunctionError does);
 * - a record that fails alone, that the processor reports as poison, or whose writes DynamoDB refuses for good
 *   is a poison record: `dead-letter` records it and moves on; `stop` stalls the shard before it, retrying it
 *   slowly, until it goes through or the policy changes.
 *
 * The records before a poison record are processed and checkpointed first, so order per shard holds. Errors
 * of the worker's own (a missing table, no permission) are not the records' fault: they are retried for ever.
 */
import type { _Record as RawStreamRecord } from '@aws-sdk/client-dynamodb-streams';
import type { Clock } from '../../core/clock.js';
import {
  errorName,
  InvalidWriteError,
  PoisonRecordError,
  ProcessorTimeoutError,
  WriteConditionFailedError,
} from '../../core/errors.js';
import { backoffDelay, type RetryPolicy } from '../../core/retry.js';
import { PoisonPolicy } from '../config.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { MalformedRecordError, toChangeRecord } from './change-record.js';
import type { DeadLetterTable } from './dead-letter.js';
import type { IndividualWriter } from './individual-writer.js';
import type { ChangeRecord, ProcessRecordsResult, RecordProcessor } from './record-processor.js';
import type { TransactionCommitter } from './transaction-committer.js';
import type { BatchPosition, WriteOutcome } from './write-context.js';
import { planTransactions, planWrites } from './writes.js';

const FAILURE_BACKOFF: RetryPolicy = { baseDelayMs: 200, maxDelayMs: 30_000, maxAttempts: Infinity };
const POISON_BACKOFF: RetryPolicy = { baseDelayMs: 5_000, maxDelayMs: 60_000, maxAttempts: Infinity };
const DEFAULT_WRITE_CONCURRENCY = 32;

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
interface Entry {
  raw: RawStreamRecord;
  sequenceNumber: string;
  record: ChangeRecord | undefined;
  malformed: string | undefined;
}

/** The outcome of applying one processor result to a part of the batch. */
type Applied =
  | BatchOutcome
  /** `index` (counted from `from`) is a poison record; the records before `from` are committed already. */
  | { status: 'poison'; from: number; index: number; reason: string; table?: string | undefined }
  | { status: 'split'; from: number; reason: string };

const LEASE_LOST = { status: 'lease-lost' } as const;

function positionOf(entries: readonly Entry[]): BatchPosition {
  return { sequenceNumber: (entries.at(-1) as Entry).sequenceNumber };
}

/** Errors about the worker's surroundings rather than the records: retried, never a poison record. */
function isWorkersOwnError(error: unknown, fromProcessor: boolean): boolean {
  if (fromProcessor) return false;
  return !(error instanceof WriteConditionFailedError || error instanceof InvalidWriteError);
}

export class BatchRunner {
  /** The batch being run (its records before a poison record are done by the time the poison is handled). */
  private batch: readonly Entry[] = [];

  constructor(private readonly options: BatchRunnerOptions) {}

  async run(
    records: readonly RawStreamRecord[],
    position: BatchPosition,
    run: BatchRun,
  ): Promise<BatchOutcome> {
    const entries = records.map((raw): Entry => {
      try {
        const record = toChangeRecord(raw);
        return { raw, sequenceNumber: record.sequenceNumber, record, malformed: undefined };
      } catch (error) {
        if (!(error instanceof MalformedRecordError)) throw error;
        return {
          raw,
          sequenceNumber: raw.dynamodb?.SequenceNumber ?? '',
          record: undefined,
          malformed: error.message,
        };
      }
    });
    this.batch = entries;
    return this.runPart(entries, position, run);
  }

  private async runPart(
    entries: readonly Entry[],
    position: BatchPosition,
    run: BatchRun,
  ): Promise<BatchOutcome> {
    const malformed = entries.findIndex((entry) => entry.malformed !== undefined);
    if (malformed >= 0)
      return this.around(entries, malformed, entries[malformed]?.malformed ?? '', undefined, position, run);
    for (let attempt = 1; ; attempt++) {
      if (!run.isHeld()) return LEASE_LOST;
      let failure: { error: unknown; fromProcessor: boolean };
      const called = await this.call(entries, attempt, run);
      if ('result' in called) {
        try {
          const applied = await this.apply(entries, called.result, position, run);
          if (applied.status === 'poison') {
            const rest = entries.slice(applied.from);
            return this.around(rest, applied.index, applied.reason, applied.table, position, run);
          }
          if (applied.status === 'split') return this.afterRefusal(entries, applied, position, run);
          if (applied.status === 'done') this.countProcessed(entries);
          return applied;
        } catch (error) {
          failure = { error, fromProcessor: false };
        }
      } else failure = { error: called.error, fromProcessor: true };

      if (run.signal.aborted || !run.isHeld()) return LEASE_LOST;
      const delay = backoffDelay(Math.min(attempt - 1, 10), FAILURE_BACKOFF);
      this.failed(entries, attempt, failure.error, delay, run);
      if (attempt >= this.options.maxAttempts && !isWorkersOwnError(failure.error, failure.fromProcessor)) {
        if (entries.length > 1) return this.bisect(entries, position, run, 'keeps failing');
        return this.poison(entries, 0, reasonOf(failure.error), undefined, position, run);
      }
      if (run.stopping()) return { status: 'stopped' };
      await this.options.clock.sleep(delay, run.stopSignal);
      if (run.stopping()) return { status: 'stopped' };
    }
  }

  /** One call of `processRecords`, bounded by the timeout; never throws. */
  private async call(
    entries: readonly Entry[],
    attempt: number,
    run: BatchRun,
  ): Promise<{ result: ProcessRecordsResult | undefined } | { error: unknown }> {
    const { processor, clock, timeoutMs, processorName } = this.options;
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

  /** Commits what the processor returned; answers done, lease-lost, or where the trouble is. */
  private async apply(
    entries: readonly Entry[],
    result: ProcessRecordsResult | undefined,
    position: BatchPosition,
    run: BatchRun,
  ): Promise<Applied> {
    const last = (entries.at(-1) as Entry).sequenceNumber;
    const poison = result?.poisonRecords ?? [];
    for (const reported of poison) {
      const index = entries.findIndex((entry) => entry.sequenceNumber === reported.sequenceNumber);
      if (index < 0)
        throw new InvalidWriteError(
          run.shardId,
          -1,
          last,
          `poisonRecords names ${String(reported.sequenceNumber)}, which is not a record of this batch`,
        );
    }
    if (poison.length > 0) {
      if (this.options.poisonPolicy === PoisonPolicy.STOP) {
        const first = Math.min(
          ...poison.map((p) => entries.findIndex((e) => e.sequenceNumber === p.sequenceNumber)),
        );
        const reason = poison.find((p) => p.sequenceNumber === entries[first]?.sequenceNumber)?.reason ?? '';
        return { status: 'poison', from: 0, index: first, reason: String(reason) };
      }
      for (const reported of poison) {
        const entry = entries.find((e) => e.sequenceNumber === reported.sequenceNumber) as Entry;
        this.reportPoison(run.shardId, entry, String(reported.reason));
        await this.deadLetter(run.shardId, entry, String(reported.reason), undefined);
      }
    }
    const writes = result?.writes ?? [];
    if (writes.length === 0) return { status: 'done', checkpointed: false };
    const planned = planWrites(writes, run.shardId, last);
    const context = { shardId: run.shardId, isHeld: () => run.isHeld(), signal: run.signal };
    let outcome: WriteOutcome;
    if (result?.commit === 'individual') {
      const concurrency = result.writeConcurrency ?? DEFAULT_WRITE_CONCURRENCY;
      if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 256)
        throw new InvalidWriteError(
          run.shardId,
          -1,
          last,
          `writeConcurrency must be 1..256, got ${concurrency}`,
        );
      const check = planned.findIndex((write) => write.kind === 'ConditionCheck');
      if (check >= 0)
        throw new InvalidWriteError(
          run.shardId,
          check,
          last,
          "a ConditionCheck is only meaningful in commit: 'transaction'",
        );
      outcome = await this.options.individual.write(planned, concurrency, context);
    } else {
      const plan = planTransactions(planned);
      if (!plan.fits) {
        return {
          status: 'split',
          from: 0,
          reason: `the writes of record ${plan.sequenceNumber} do not fit one transaction (${plan.writes} writes, about ${plan.bytes} bytes; at most 99 besides the lease item, and 4 MB)`,
        };
      }
      outcome = await this.options.transactions.commit(plan.transactions, {
        ...context,
        checkpoint: position,
      });
    }
    if (outcome.status === 'lease-lost') return LEASE_LOST;
    if (outcome.status === 'written') return { status: 'done', checkpointed: outcome.checkpointed };
    // Refused for good: what was committed stays; the rest is run again around the record at fault.
    const from =
      outcome.committedThrough === undefined
        ? 0
        : entries.findIndex((entry) => entry.sequenceNumber === outcome.committedThrough) + 1;
    const culprit = outcome.refused?.write.attributed
      ? entries.findIndex((entry) => entry.sequenceNumber === outcome.refused?.write.sequenceNumber)
      : -1;
    if (culprit >= from) {
      const table = outcome.refused?.write.tableName;
      return { status: 'poison', from, index: culprit - from, reason: outcome.reason, table };
    }
    return { status: 'split', from, reason: outcome.reason };
  }

  /** DynamoDB refused writes it did not lay at one record, or they did not fit: narrow it down. */
  private async afterRefusal(
    entries: readonly Entry[],
    refusal: { from: number; reason: string },
    position: BatchPosition,
    run: BatchRun,
  ): Promise<BatchOutcome> {
    const rest = entries.slice(refusal.from);
    if (rest.length === 0) return { status: 'done', checkpointed: false };
    if (rest.length > 1) return this.bisect(rest, position, run, refusal.reason);
    return this.poison(rest, 0, refusal.reason, undefined, position, run);
  }

  private async bisect(
    entries: readonly Entry[],
    position: BatchPosition,
    run: BatchRun,
    why: string,
  ): Promise<BatchOutcome> {
    const half = Math.ceil(entries.length / 2);
    const first = entries.slice(0, half);
    this.options.events.emit(
      'batch.split',
      {
        shardId: run.shardId,
        records: entries.length,
        firstSequenceNumber: (entries[0] as Entry).sequenceNumber,
        lastSequenceNumber: (entries.at(-1) as Entry).sequenceNumber,
        reason: why,
      },
      'batch split in two to find the record at fault',
    );
    const head = await this.runPart(first, positionOf(first), run);
    if (head.status !== 'done') return head;
    return this.runPart(entries.slice(half), position, run);
  }

  /** The records before `index`, then the poison record, then the records after it. */
  private async around(
    entries: readonly Entry[],
    index: number,
    reason: string,
    table: string | undefined,
    position: BatchPosition,
    run: BatchRun,
  ): Promise<BatchOutcome> {
    if (index > 0) {
      const before = entries.slice(0, index);
      const head = await this.runPart(before, positionOf(before), run);
      if (head.status !== 'done') return head;
    }
    return this.poison(entries.slice(index), 0, reason, table, position, run);
  }

  /**
   * `entries[index]` is a poison record (the ones before it are done): dead-letter it and go on with the rest,
   * or stop before it, trying it again slowly until it goes through.
   */
  private async poison(
    entries: readonly Entry[],
    index: number,
    reason: string,
    table: string | undefined,
    position: BatchPosition,
    run: BatchRun,
  ): Promise<BatchOutcome> {
    const entry = entries[index] as Entry;
    const rest = entries.slice(index + 1);
    this.reportPoison(run.shardId, entry, reason);
    if (this.options.poisonPolicy === PoisonPolicy.DEAD_LETTER) {
      const recorded = await this.untilDone(run, () => this.deadLetter(run.shardId, entry, reason, table));
      if (recorded !== 'done') return recorded;
      return this.onwards(entry, rest, position, run);
    }
    // Everything before it is done: the checkpoint says so, and stays there while the shard stalls.
    const previous = this.batch[this.batch.indexOf(entry) - 1];
    if (previous && (await run.checkpoint({ sequenceNumber: previous.sequenceNumber })) === 'lease-lost')
      return LEASE_LOST;
    run.setStalled(true);
    for (let attempt = 0; ; attempt++) {
      const delay = backoffDelay(Math.min(attempt, 10), POISON_BACKOFF);
      this.failed(
        [entry],
        attempt + 1,
        new PoisonRecordError(run.shardId, entry.sequenceNumber, reason),
        delay,
        run,
      );
      if (run.stopping()) return { status: 'stopped' };
      await this.options.clock.sleep(delay, run.stopSignal);
      if (run.stopping()) return { status: 'stopped' };
      if (!run.isHeld()) return LEASE_LOST;
      if (entry.record === undefined) continue; // a malformed record never mends
      const once = await this.tryOnce([entry], { sequenceNumber: entry.sequenceNumber }, run);
      if (once === 'lease-lost') return LEASE_LOST;
      if (once === 'done') break;
    }
    run.setStalled(false);
    return this.onwards(entry, rest, position, run);
  }

  /**
   * Past a poison record: the checkpoint moves past it (unless it ends the batch, whose checkpoint follows),
   * then the records after it in this part run.
   */
  private async onwards(
    entry: Entry,
    rest: readonly Entry[],
    position: BatchPosition,
    run: BatchRun,
  ): Promise<BatchOutcome> {
    const last = this.batch.at(-1) === entry;
    if (!last && (await run.checkpoint({ sequenceNumber: entry.sequenceNumber })) === 'lease-lost')
      return LEASE_LOST;
    if (rest.length === 0) return { status: 'done', checkpointed: false };
    return this.runPart(rest, position, run);
  }

  /** Retries a write of the worker's own (the dead-letter record) with backoff until it succeeds. */
  private async untilDone(run: BatchRun, work: () => Promise<void>): Promise<'done' | BatchOutcome> {
    for (let attempt = 0; ; attempt++) {
      if (!run.isHeld()) return LEASE_LOST;
      try {
        await work();
        return 'done';
      } catch (error) {
        const delay = backoffDelay(Math.min(attempt, 10), FAILURE_BACKOFF);
        this.options.metrics.processingErrors.inc({ error: errorName(error) });
        this.options.events.emit(
          'write.failed',
          { shardId: run.shardId, api: 'PutItem', error, delayMs: delay },
          'writing the dead-letter record failed; backing off',
        );
        if (run.stopping()) return { status: 'stopped' };
        await this.options.clock.sleep(delay, run.stopSignal);
      }
    }
  }

  /** One more attempt of a stalled record: done, still failing, or the lease is gone. */
  private async tryOnce(
    entries: readonly Entry[],
    position: BatchPosition,
    run: BatchRun,
  ): Promise<'done' | 'failing' | 'lease-lost'> {
    const called = await this.call(entries, 1, run);
    if (!('result' in called)) return run.isHeld() ? 'failing' : 'lease-lost';
    try {
      const applied = await this.apply(entries, called.result, position, run);
      if (applied.status === 'lease-lost') return 'lease-lost';
      if (applied.status !== 'done') return 'failing';
      this.countProcessed(entries);
      return 'done';
    } catch {
      return run.isHeld() ? 'failing' : 'lease-lost';
    }
  }

  private reportPoison(shardId: string, entry: Entry, reason: string): void {
    this.options.metrics.poisonRecords.inc();
    this.options.events.emit(
      'record.poison',
      {
        shardId,
        sequenceNumber: entry.sequenceNumber,
        keys: entry.raw.dynamodb?.Keys ?? {},
        reason,
        policy: this.options.poisonPolicy,
      },
      'poison record: it cannot be processed',
    );
  }

  private async deadLetter(shardId: string, entry: Entry, reason: string, table: string | undefined) {
    const { deadLetter, workerId, metrics, events } = this.options;
    if (!deadLetter) return;
    await deadLetter.record({
      shardId,
      sequenceNumber: entry.sequenceNumber,
      eventName: entry.raw.eventName ?? 'UNKNOWN',
      keys: (entry.raw.dynamodb?.Keys ?? {}) as Parameters<DeadLetterTable['record']>[0]['keys'],
      reason,
      targetTable: table,
      worker: workerId,
    });
    metrics.deadLettered.inc();
    metrics.recordsProcessed.inc({ event_name: entry.raw.eventName ?? 'UNKNOWN' });
    events.emit(
      'record.dead-lettered',
      { shardId, sequenceNumber: entry.sequenceNumber, table: deadLetter.tableName },
      'poison record written to the dead-letter table; the shard moves on',
    );
  }

  private countProcessed(entries: readonly Entry[]): void {
    for (const entry of entries)
      this.options.metrics.recordsProcessed.inc({ event_name: entry.raw.eventName ?? 'UNKNOWN' });
  }

  private failed(entries: readonly Entry[], attempt: number, error: unknown, delayMs: number, run: BatchRun) {
    this.options.metrics.processingErrors.inc({ error: errorName(error) });
    this.options.events.emit(
      'batch.failed',
      {
        shardId: run.shardId,
        processor: this.options.processorName,
        firstSequenceNumber: (entries[0] as Entry).sequenceNumber,
        lastSequenceNumber: (entries.at(-1) as Entry).sequenceNumber,
        attempt,
        error,
        delayMs,
      },
      'batch failed; it will be retried and the checkpoint stays before it',
    );
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
