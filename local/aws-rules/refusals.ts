/**
 * The strict layer's counters read the same way wherever a person sees them (npm start's report, the bench's
 * measured windows): what was refused, by kind, as flat counts, and the busiest shard's reads in any second.
 */
import type { AwsRulesStats } from './stats.js';

export interface RefusedCounts {
  total: number;
  cancelledTransactions: number;
  refusedSingleWrites: number;
  /** GetRecords over five a second on a shard. */
  throttledReads: number;
  /** GetRecords of a third reader on a shard. */
  tooManyReaders: number;
  describeStreamRate: number;
  /** UpdateTable while another UpdateTable of the table was in flight. */
  tableUpdates: number;
  /** Calls IAM refused (the `iam` rule: a principal's policy lacks the action on the resource). */
  iam: number;
}

export function refusedCounts(stats: AwsRulesStats): RefusedCounts {
  const { refused } = stats;
  return {
    total: refused.total,
    cancelledTransactions: refused.transactionConflicts.cancelledTransactions,
    refusedSingleWrites: refused.transactionConflicts.refusedSingleWrites,
    throttledReads: refused.getRecordsRate.total,
    tooManyReaders: refused.readersPerShard.total,
    describeStreamRate: refused.describeStreamRate.total,
    tableUpdates: refused.tableUpdates.total,
    iam: refused.iam.total,
  };
}

/** Most GetRecords let through on one shard in any second (0 when none was). */
export function peakReadsPerShardSecond(stats: AwsRulesStats): number {
  return Math.max(0, ...Object.values(stats.streams.peakGetRecordsPerSecondByShard));
}
