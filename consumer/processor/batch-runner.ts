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
import {
  errorName,
  InvalidWriteError,
  PoisonRecordError,
  WriteConditionFailedError,
} from '../../core/vocabulary/errors.js';
import { backoffDelay, type RetryPolicy } from '../../core/vocabulary/retry.js';
import { PoisonPolicy } from '../config.js';
import {
  type BatchOutcome,
  type BatchRun,
  type BatchRunnerOptions,
  callProcessor,
  type Entry,
  LEASE_LOST,
  positionOf,
} from './batch-run.js';
import { MalformedRecordError, toChangeRecord } from './change-record.js';
import type { DeadLetter } from './dead-letter.js';
import { commitResult } from './result-commit.js';
import type { BatchPosition } from './write-context.js';

export type { BatchOutcome, BatchRun, BatchRunnerOptions };

const FAILURE_BACKOFF: RetryPolicy = { baseDelayMs: 200, maxDelayMs: 30_000, maxAttempts: Infinity };
const POISON_BACKOFF: RetryPolicy = { baseDelayMs: 5_000, maxDelayMs: 60_000, maxAttempts: Infinity };

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
      const called = await callProcessor(this.options, entries, attempt, run);
      if ('result' in called) {
        try {
          const applied = await commitResult(
            this.options,
            (entry, reason) => this.reportAndDeadLetter(run.shardId, entry, reason),
            entries,
            called.result,
            position,
            run,
          );
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
    const called = await callProcessor(this.options, entries, 1, run);
    if (!('result' in called)) return run.isHeld() ? 'failing' : 'lease-lost';
    try {
      const applied = await commitResult(
        this.options,
        (entry, reason) => this.reportAndDeadLetter(run.shardId, entry, reason),
        entries,
        called.result,
        position,
        run,
      );
      if (applied.status === 'lease-lost') return 'lease-lost';
      if (applied.status !== 'done') return 'failing';
      this.countProcessed(entries);
      return 'done';
    } catch {
      return run.isHeld() ? 'failing' : 'lease-lost';
    }
  }

  /** A poison record the processor reported itself, under the dead-letter policy. */
  private async reportAndDeadLetter(shardId: string, entry: Entry, reason: string): Promise<void> {
    this.reportPoison(shardId, entry, reason);
    await this.deadLetter(shardId, entry, reason, undefined);
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
      keys: (entry.raw.dynamodb?.Keys ?? {}) as DeadLetter['keys'],
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
