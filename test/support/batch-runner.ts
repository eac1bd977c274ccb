/** Processing pieces for tests: a batch runner without writers, replication's writes as the worker plans them. */
import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import type { WorkerEvents } from '../../consumer/observability/events.js';
import type { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { BatchRunner, type BatchRunnerOptions } from '../../consumer/processor/batch-runner.js';
import { toChangeRecord } from '../../consumer/processor/change-record.js';
import type { IndividualWriter } from '../../consumer/processor/individual-writer.js';
import type { RecordProcessor } from '../../consumer/processor/record-processor.js';
import type { TransactionCommitter } from '../../consumer/processor/transaction-committer.js';
import { type PlannedWrite, planTransactions, planWrites } from '../../consumer/processor/writes.js';
import { coalesce, replicaWrite } from '../../consumer/replication/replication-processor.js';
import type { Clock } from '../../core/vocabulary/clock.js';

/** A batch runner for unit tests whose processors return no writes: it never reaches a writer. */
export function batchRunnerWithoutWriters(
  processor: RecordProcessor,
  deps: { clock: Clock; events: WorkerEvents; metrics: WorkerMetrics },
  overrides: Partial<BatchRunnerOptions> = {},
): BatchRunner {
  return new BatchRunner({
    processor,
    processorName: 'scripted',
    transactions: {} as TransactionCommitter,
    individual: {} as IndividualWriter,
    poisonPolicy: 'stop',
    deadLetter: undefined,
    workerId: 'me',
    timeoutMs: 60_000,
    maxAttempts: 10,
    ...deps,
    ...overrides,
  });
}

/** Replication's guarded writes for `records`, planned into transactions as the worker plans them. */
export function replicationTransactions(
  records: readonly StreamRecord[],
  target: string,
  instanceName: string,
  shardId: string,
): PlannedWrite[][] {
  const last = records.at(-1)?.dynamodb?.SequenceNumber ?? '';
  const writes = coalesce(records.map(toChangeRecord)).map((c) => replicaWrite(c, target, instanceName));
  const plan = planTransactions(planWrites(writes, shardId, last));
  if (!plan.fits) throw new Error(`the writes of record ${plan.sequenceNumber} do not fit a transaction`);
  return plan.transactions;
}
