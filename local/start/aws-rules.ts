/**
 * The strict layer in `npm start`: started in front of DynamoDB Local, it carries every request of the
 * product (workers, workflow handlers, the CLI's endpoints); the run's own observers (sampler, live view) go
 * to DynamoDB Local directly so they neither spend the stream's read allowance nor show in the counters.
 * `refusalEvents` turns new refusals into lines for the live view; `digest` is what the report keeps.
 */
import {
  AwsRulesProxy,
  type AwsRulesStats,
  formatRuleSwitches,
  type RuleSwitches,
} from '../aws-rules/index.js';
import type { AwsRulesDigest } from '../report/report.js';

export function digestAwsRules(stats: AwsRulesStats): AwsRulesDigest {
  const { refused } = stats;
  return {
    rules: formatRuleSwitches(stats.rules),
    requests: stats.requests.total,
    refused: {
      total: refused.total,
      cancelledTransactions: refused.transactionConflicts.cancelledTransactions,
      refusedSingleWrites: refused.transactionConflicts.refusedSingleWrites,
      throttledReads: refused.getRecordsRate.total,
      tooManyReaders: refused.readersPerShard.total,
      describeStreamRate: refused.describeStreamRate.total,
    },
    peakReadsPerShardSecond: Math.max(0, ...Object.values(stats.streams.peakGetRecordsPerSecondByShard)),
  };
}

/** One line per kind of refusal that grew since the last call, e.g. "AWS rules refused 2 reads (rate)". */
export function refusalLines(before: AwsRulesDigest | undefined, now: AwsRulesDigest): string[] {
  const kinds: [keyof AwsRulesDigest['refused'], string][] = [
    ['cancelledTransactions', 'transactions cancelled for a conflict'],
    ['refusedSingleWrites', 'writes refused for a conflict with a transaction'],
    ['throttledReads', 'GetRecords throttled (over 5 a second on a shard)'],
    ['tooManyReaders', 'GetRecords refused (a third reader on a shard)'],
    ['describeStreamRate', 'DescribeStream throttled (over 10 a second)'],
  ];
  const lines: string[] = [];
  for (const [kind, text] of kinds) {
    const grew = now.refused[kind] - (before?.refused[kind] ?? 0);
    if (grew > 0) lines.push(`AWS rules: ${grew} ${text} (${now.refused[kind]} in all)`);
  }
  return lines;
}

export async function startStrictLayer(upstream: string, rules: RuleSwitches): Promise<AwsRulesProxy> {
  return AwsRulesProxy.start({ upstream, rules });
}
