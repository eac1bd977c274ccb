/**
 * A processor's result, committed: the poison records it reports, then its writes, in fenced transactions with
 * the checkpoint (`transaction`, the default) or one by one (`individual`). What DynamoDB refuses for good comes
 * back as where the trouble is, for the batch runner to narrow down.
 */
import { InvalidWriteError } from '../../core/vocabulary/errors.js';
import { PoisonPolicy } from '../config.js';
import { type Applied, type BatchRun, type BatchRunnerOptions, type Entry, LEASE_LOST } from './batch-run.js';
import type { ProcessRecordsResult } from './record-processor.js';
import type { BatchPosition, WriteOutcome } from './write-context.js';
import { planTransactions, planWrites } from './writes.js';

const DEFAULT_WRITE_CONCURRENCY = 32;

/**
 * Commits what the processor returned; answers done, lease-lost, or where the trouble is. Poison records the
 * processor reports go to `deadLetter` first under the dead-letter policy.
 */
export async function commitResult(
  options: Pick<BatchRunnerOptions, 'poisonPolicy' | 'transactions' | 'individual'>,
  deadLetter: (entry: Entry, reason: string) => Promise<void>,
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
    if (options.poisonPolicy === PoisonPolicy.STOP) {
      const first = Math.min(
        ...poison.map((p) => entries.findIndex((e) => e.sequenceNumber === p.sequenceNumber)),
      );
      const reason = poison.find((p) => p.sequenceNumber === entries[first]?.sequenceNumber)?.reason ?? '';
      return { status: 'poison', from: 0, index: first, reason: String(reason) };
    }
    for (const reported of poison) {
      const entry = entries.find((e) => e.sequenceNumber === reported.sequenceNumber) as Entry;
      await deadLetter(entry, String(reported.reason));
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
    outcome = await options.individual.write(planned, concurrency, context);
  } else {
    const plan = planTransactions(planned);
    if (!plan.fits) {
      return {
        status: 'split',
        from: 0,
        reason: `the writes of record ${plan.sequenceNumber} do not fit one transaction (${plan.writes} writes, about ${plan.bytes} bytes; at most 99 besides the lease item, and 4 MB)`,
      };
    }
    outcome = await options.transactions.commit(plan.transactions, {
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
