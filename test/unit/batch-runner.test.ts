/**
 * The batch runner on a fake clock, with a fake transactional committer: what happens to a batch the processor
 * fails on (retried, then split down to the record at fault), to a poison record under each policy, to a call
 * that hangs past the timeout, to poison records a processor reports, and to writes DynamoDB refuses.
 */
import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import { silentEvents, type WorkerEvent } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { type BatchOutcome, type BatchRun, BatchRunner } from '../../consumer/processor/batch-runner.js';
import type { DeadLetter, DeadLetterTable } from '../../consumer/processor/dead-letter.js';
import type { IndividualWriter } from '../../consumer/processor/individual-writer.js';
import type { ProcessRecordsInput, RecordProcessor } from '../../consumer/processor/record-processor.js';
import type { TransactionCommitter } from '../../consumer/processor/transaction-committer.js';
import type { BatchPosition, WriteOutcome } from '../../consumer/processor/write-context.js';
import type { PlannedWrite } from '../../consumer/processor/writes.js';
import { FakeClock } from '../support/fake-clock.js';

function record(seq: number): StreamRecord {
  return {
    eventName: 'INSERT',
    dynamodb: {
      SequenceNumber: String(seq),
      Keys: { id: { S: `k${seq}` } },
      NewImage: { id: { S: `k${seq}` } },
    },
  };
}

const records = (from: number, n: number) => Array.from({ length: n }, (_, i) => record(from + i));

/** Commits whatever it is given unless `refuse` says otherwise; keeps what it committed, in order. */
class FakeCommitter {
  readonly committed: { writes: PlannedWrite[]; checkpoint: string }[] = [];
  refuse: (writes: readonly PlannedWrite[]) => string | undefined = () => undefined;

  async commit(
    transactions: readonly PlannedWrite[][],
    context: { checkpoint: BatchPosition },
  ): Promise<WriteOutcome> {
    let committedThrough: string | undefined;
    for (const [index, writes] of transactions.entries()) {
      const reason = this.refuse(writes);
      if (reason) {
        const only = writes.length === 1 ? writes[0] : undefined;
        return {
          status: 'refused',
          committedThrough,
          refused: only ? { write: only, reason } : undefined,
          reason,
        };
      }
      const checkpoint =
        index === transactions.length - 1
          ? context.checkpoint.sequenceNumber
          : (writes.at(-1) as PlannedWrite).sequenceNumber;
      this.committed.push({ writes, checkpoint });
      committedThrough = checkpoint;
    }
    return { status: 'written', applied: transactions.flat().length, skipped: 0, checkpointed: true };
  }
}

function setup(
  processRecords: RecordProcessor['processRecords'],
  options: { policy?: 'stop' | 'dead-letter'; timeoutMs?: number } = {},
) {
  const clock = new FakeClock();
  const events = silentEvents();
  const seen: WorkerEvent[] = [];
  events.on((event) => seen.push(event));
  const calls: number[][] = [];
  const processor: RecordProcessor = {
    processRecords: (input: ProcessRecordsInput) => {
      calls.push(input.records.map((r) => Number(r.sequenceNumber)));
      return processRecords(input);
    },
  };
  const committer = new FakeCommitter();
  const deadLetters: DeadLetter[] = [];
  const checkpoints: string[] = [];
  let stalled = false;
  const runner = new BatchRunner({
    processor,
    processorName: 'test-processor',
    transactions: committer as unknown as TransactionCommitter,
    individual: {} as IndividualWriter,
    poisonPolicy: options.policy ?? 'stop',
    deadLetter:
      options.policy === 'dead-letter'
        ? ({
            tableName: 'dlq',
            record: async (entry: DeadLetter) => {
              deadLetters.push(entry);
            },
          } as unknown as DeadLetterTable)
        : undefined,
    workerId: 'me',
    timeoutMs: options.timeoutMs ?? 60_000,
    maxAttempts: 3,
    clock,
    events,
    metrics: new WorkerMetrics(),
  });
  const stop = new AbortController();
  const run: BatchRun = {
    shardId: 'shard-1',
    isHeld: () => true,
    signal: new AbortController().signal,
    stopSignal: stop.signal,
    stopping: () => stop.signal.aborted,
    checkpoint: async (at) => {
      checkpoints.push(at.sequenceNumber);
      return 'checkpointed';
    },
    setStalled: (value) => {
      stalled = value;
    },
  };
  const start = (batch: StreamRecord[]): Promise<BatchOutcome> =>
    runner.run(batch, { sequenceNumber: String(batch.at(-1)?.dynamodb?.SequenceNumber) }, run);
  return {
    clock,
    seen,
    calls,
    committer,
    deadLetters,
    checkpoints,
    start,
    stop: () => stop.abort(),
    stalled: () => stalled,
    named: (name: string) =>
      seen.filter((e) => e.name === name).map((e) => e.fields as Record<string, unknown>),
  };
}

describe('batch runner', () => {
  it('retries a throw with backoff, then splits the batch down to the record at fault, which is dead-lettered', async () => {
    const env = setup(
      async ({ records }) => {
        if (records.some((r) => r.sequenceNumber === '13')) throw new Error('cannot parse k13');
        return undefined;
      },
      { policy: 'dead-letter' },
    );
    const outcome = env.start(records(10, 8)); // 10..17
    await env.clock.advance(120_000);
    expect(await outcome).toEqual({ status: 'done', checkpointed: false });
    expect(env.deadLetters.map((d) => [d.sequenceNumber, d.reason])).toEqual([
      ['13', 'Error: cannot parse k13'],
    ]);
    // Records before the poison record are processed before it is set aside, and the checkpoint moves past
    // it once it is recorded; the records after it follow.
    expect(env.checkpoints).toEqual(['13']);
    expect(env.calls.filter((c) => c.length === 1 && c[0] === 13)).toHaveLength(3); // maxAttempts on it alone
    expect(env.calls).toContainEqual([14, 15, 16, 17]);
    const failed = env.named('batch.failed');
    expect(failed[0]).toMatchObject({
      processor: 'test-processor',
      firstSequenceNumber: '10',
      lastSequenceNumber: '17',
      attempt: 1,
    });
    expect(env.named('batch.split')[0]).toMatchObject({ records: 8, firstSequenceNumber: '10' });
    expect(env.named('record.poison')).toEqual([
      expect.objectContaining({
        sequenceNumber: '13',
        reason: 'Error: cannot parse k13',
        policy: 'dead-letter',
      }),
    ]);
  });

  it('stop: stalls right before the record at fault, retrying it slowly, and goes on once it succeeds', async () => {
    let fixed = false;
    const env = setup(async ({ records }) => {
      if (!fixed && records.some((r) => r.sequenceNumber === '3')) throw new Error('downstream refuses k3');
      return undefined;
    });
    const outcome = env.start(records(1, 4));
    await env.clock.advance(60_000);
    expect(env.stalled()).toBe(true);
    expect(env.checkpoints).toEqual(['2']);
    const callsWhileStalled = env.calls.length;
    await env.clock.advance(120_000);
    expect(env.calls.length).toBeGreaterThan(callsWhileStalled); // tried again, slowly
    expect(env.calls.slice(callsWhileStalled).every((c) => c.length === 1 && c[0] === 3)).toBe(true);
    expect(env.named('batch.failed').at(-1)?.error).toMatchObject({
      name: 'PoisonRecordError',
      sequenceNumber: '3',
    });
    fixed = true;
    await env.clock.advance(120_000);
    expect(await outcome).toEqual({ status: 'done', checkpointed: false });
    expect(env.stalled()).toBe(false);
    expect(env.checkpoints).toEqual(['2', '3']);
    expect(env.calls.at(-1)).toEqual([4]);
  });

  it('stop: a graceful stop ends the stall without skipping the record', async () => {
    const env = setup(async () => {
      throw new Error('always');
    });
    const outcome = env.start(records(1, 1));
    await env.clock.advance(60_000);
    expect(env.stalled()).toBe(true);
    env.stop();
    await env.clock.advance(1_000);
    expect(await outcome).toEqual({ status: 'stopped' });
    expect(env.checkpoints).toEqual([]);
  });

  it('a call that hangs past the timeout fails with ProcessorTimeoutError, its signal aborted, and is retried', async () => {
    const signals: AbortSignal[] = [];
    let hang = true;
    const env = setup(
      ({ signal }) => {
        signals.push(signal);
        return hang ? new Promise(() => {}) : undefined;
      },
      { timeoutMs: 5_000 },
    );
    const outcome = env.start(records(7, 2));
    await env.clock.advance(5_001);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toMatchObject({ name: 'ProcessorTimeoutError', code: 'PROCESSOR_TIMEOUT' });
    const [failed] = env.named('batch.failed');
    expect(failed).toMatchObject({
      processor: 'test-processor',
      firstSequenceNumber: '7',
      lastSequenceNumber: '8',
    });
    expect((failed?.error as Error | undefined)?.message).toMatch(
      /test-processor: processRecords for shard shard-1, records 7\.\.8/,
    );
    hang = false;
    await env.clock.advance(10_000);
    expect(await outcome).toEqual({ status: 'done', checkpointed: false });
  });

  it('records the processor reports as poison: dead-lettered, the rest of its result committed', async () => {
    const env = setup(
      async ({ records }) => ({
        poisonRecords: [{ sequenceNumber: '21', reason: 'no e-mail' }],
        writes: records
          .filter((r) => r.sequenceNumber !== '21')
          .map((r) => ({ Put: { TableName: 'view', Item: { id: { S: r.sequenceNumber } } } })),
      }),
      { policy: 'dead-letter' },
    );
    const outcome = env.start(records(20, 3));
    await env.clock.advance(1_000);
    expect(await outcome).toEqual({ status: 'done', checkpointed: true });
    expect(env.deadLetters.map((d) => d.sequenceNumber)).toEqual(['21']);
    expect(env.committer.committed).toHaveLength(1);
    expect(env.committer.committed[0]?.writes).toHaveLength(2);
  });

  it('a write DynamoDB refuses, laid at its record: the records before it committed, the record set aside', async () => {
    const env = setup(
      async ({ records }) => ({
        writes: records.map((r) => ({
          item: { Put: { TableName: 'view', Item: { id: { S: r.sequenceNumber } } } },
          sequenceNumber: r.sequenceNumber,
        })),
      }),
      { policy: 'dead-letter' },
    );
    env.committer.refuse = (writes) =>
      writes.some((w) => w.sequenceNumber === '33')
        ? 'Item size has exceeded the maximum allowed size'
        : undefined;
    const outcome = env.start(records(30, 6)); // 30..35
    await env.clock.advance(1_000);
    expect(await outcome).toMatchObject({ status: 'done' });
    const committed = env.committer.committed.flatMap((t) => t.writes.map((w) => w.sequenceNumber));
    expect(committed).toEqual(['30', '31', '32', '34', '35']); // each exactly once
    expect(env.deadLetters.map((d) => [d.sequenceNumber, d.reason])).toEqual([
      ['33', 'Item size has exceeded the maximum allowed size'],
    ]);
  });

  it('writes of one record that cannot fit one transaction: the batch is split, then the record is poison', async () => {
    const env = setup(
      async ({ records }) => ({
        writes: records.flatMap((r) =>
          Array.from({ length: r.sequenceNumber === '42' ? 120 : 1 }, (_, i) => ({
            item: { Put: { TableName: 'view', Item: { id: { S: `${r.sequenceNumber}-${i}` } } } },
            sequenceNumber: r.sequenceNumber,
          })),
        ),
      }),
      { policy: 'dead-letter' },
    );
    const outcome = env.start(records(40, 4));
    await env.clock.advance(1_000);
    expect(await outcome).toMatchObject({ status: 'done' });
    expect(env.deadLetters.map((d) => d.sequenceNumber)).toEqual(['42']);
    expect(env.deadLetters[0]?.reason).toMatch(/do not fit one transaction \(120 writes/);
    expect(env.committer.committed.flatMap((t) => t.writes.map((w) => w.sequenceNumber))).toEqual([
      '40',
      '41',
      '43',
    ]);
  });

  it('a malformed return value is a processor bug: retried, then split, never committed', async () => {
    const env = setup(async () => ({ writes: [{ Put: { Item: {} } } as never] }), { policy: 'dead-letter' });
    const outcome = env.start(records(50, 1));
    await env.clock.advance(60_000);
    expect(await outcome).toMatchObject({ status: 'done' });
    expect(env.committer.committed).toEqual([]);
    expect(env.named('batch.failed')[0]?.error).toMatchObject({ name: 'InvalidWriteError' });
    expect(env.deadLetters.map((d) => d.sequenceNumber)).toEqual(['50']);
  });
});
