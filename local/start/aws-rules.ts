/**
 * The strict layer in `npm start`: started in front of DynamoDB Local, it carries every request of the
 * product (workers, workflow handlers, the CLI's endpoints); the run's own observers (sampler, live view) go
 * to DynamoDB Local directly so they neither spend the stream's read allowance nor show in the counters.
 * `refusalLines` turns new refusals into lines for the live view (an IAM refusal names the role, the action
 * and the resource); `digestAwsRules` is what the report keeps.
 */
import {
  AwsRulesProxy,
  type AwsRulesStats,
  formatRuleSwitches,
  peakReadsPerShardSecond,
  type RefusedCounts,
  type RuleSwitches,
  refusedCounts,
} from '../aws-rules/index.js';

export function digestAwsRules(stats: AwsRulesStats): AwsRulesDigest {
  return {
    rules: formatRuleSwitches(stats.rules),
    requests: stats.requests.total,
    refused: refusedCounts(stats),
    peakReadsPerShardSecond: peakReadsPerShardSecond(stats),
    iamRefusals: Object.entries(stats.refused.iam.byPrincipal).flatMap(([roleArn, byAction]) =>
      Object.entries(byAction).flatMap(([action, byResource]) =>
        Object.entries(byResource).map(([resource, count]) => ({ roleArn, action, resource, count })),
      ),
    ),
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
  for (const refusal of now.iamRefusals) {
    const seen = before?.iamRefusals.find(
      (r) => r.roleArn === refusal.roleArn && r.action === refusal.action && r.resource === refusal.resource,
    );
    const grew = refusal.count - (seen?.count ?? 0);
    if (grew > 0) {
      lines.push(
        `AWS rules: IAM refused ${refusal.action} on ${refusal.resource} to ${refusal.roleArn} ${grew} time(s) (${refusal.count} in all): its policy does not allow it`,
      );
    }
  }
  return lines;
}

export async function startStrictLayer(upstream: string, rules: RuleSwitches): Promise<AwsRulesProxy> {
  return AwsRulesProxy.start({ upstream, rules });
}

/** The strict layer's figures for a run's summary and report. */
export interface AwsRulesDigest {
  /** `all`, `none`, or `all,-rule,...`. */
  rules: string;
  requests: number;
  refused: RefusedCounts;
  /** Most GetRecords let through on one shard in any second. */
  peakReadsPerShardSecond: number;
  /** What IAM refused, by role, action and resource (empty when nothing was). */
  iamRefusals: { roleArn: string; action: string; resource: string; count: number }[];
}
