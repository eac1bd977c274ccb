/** npm start's view of the strict layer: an IAM refusal becomes a live event naming role, action and resource, and a count in the summary. */
import { describe, expect, it } from 'vitest';
import { AwsRulesStatsRecorder } from '../../local/aws-rules/stats.js';
import { ALL_RULES_ON } from '../../local/aws-rules/switches.js';
import { digestAwsRules, refusalLines } from '../../local/start/aws-rules.js';
import { awsRulesLine } from '../../local/start/summary.js';

const ROLE = 'arn:aws:iam::000000000000:role/users-replicator-consumer';
const LEASES = 'arn:aws:dynamodb:ddblocal:000000000000:table/users-replicator';

function refuse(stats: AwsRulesStatsRecorder): void {
  stats.iamRefusal({
    principal: 'arn:aws:sts::000000000000:assumed-role/users-replicator-consumer/pod-1',
    roleArn: ROLE,
    action: 'dynamodb:BatchGetItem',
    resource: LEASES,
    decision: 'implicit-deny',
    message: 'User: … is not authorized …',
  });
}

describe('IAM refusals in npm start', () => {
  it('are a live event per role, action and resource that grew, and a count in the summary line', () => {
    const stats = new AwsRulesStatsRecorder();
    const quiet = digestAwsRules(stats.snapshot(ALL_RULES_ON));
    expect(refusalLines(undefined, quiet)).toEqual([]);
    refuse(stats);
    refuse(stats);
    const first = digestAwsRules(stats.snapshot(ALL_RULES_ON));
    expect(first.refused.iam).toBe(2);
    expect(first.iamRefusals).toEqual([
      { roleArn: ROLE, action: 'dynamodb:BatchGetItem', resource: LEASES, count: 2 },
    ]);
    expect(refusalLines(quiet, first)).toEqual([
      `AWS rules: IAM refused dynamodb:BatchGetItem on ${LEASES} to ${ROLE} 2 time(s) (2 in all): its policy does not allow it`,
    ]);
    refuse(stats);
    const second = digestAwsRules(stats.snapshot(ALL_RULES_ON));
    expect(refusalLines(first, second)).toHaveLength(1);
    expect(refusalLines(second, second)).toEqual([]);
    expect(awsRulesLine(second)).toContain('3 calls by IAM');
  });
});
