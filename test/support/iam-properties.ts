/**
 * The least-privilege properties every role's policies are held to (test/unit/iam-least-privilege.test.ts
 * for the IRSA roles, test/infra/iam.test.ts for the functions' roles), evaluated as IAM evaluates them:
 * every need of its code allowed on its exact ARN, nothing else allowed over every DynamoDB action and every
 * resource of the fleets in play, `"Resource": "*"` only for actions without resource-level permissions.
 */
import { expect } from 'vitest';
import type { FleetSpec } from '../../core/fleet/fleet.js';
import {
  Decision,
  evaluatePolicies,
  type IamStatement,
  listOf,
  type NamedPolicy,
  statementsOf,
} from '../../core/iam/iam-evaluation.js';
import { LEASE_OWNER_INDEX_NAME } from '../../core/iam/iam-policies.js';
import { type FleetLocation, type Need, needResource } from '../../core/iam-needs.js';

/** Every DynamoDB action a policy could grant that matters here: data, table and stream actions alike. */
export const DYNAMODB_ACTIONS = [
  'BatchGetItem',
  'BatchWriteItem',
  'ConditionCheckItem',
  'CreateBackup',
  'CreateTable',
  'DeleteItem',
  'DeleteTable',
  'DescribeStream',
  'DescribeTable',
  'DescribeTimeToLive',
  'ExportTableToPointInTime',
  'GetItem',
  'GetRecords',
  'GetShardIterator',
  'ListStreams',
  'ListTables',
  'PartiQLSelect',
  'PutItem',
  'Query',
  'Scan',
  'TagResource',
  'UpdateItem',
  'UpdateTable',
  'UpdateTimeToLive',
].map((a) => `dynamodb:${a}`);

/** Actions IAM accepts only with `"Resource": "*"` (the Service Authorization Reference lists no resource). */
export const NO_RESOURCE_LEVEL = new Set([
  'cloudwatch:GetMetricData',
  'cloudwatch:PutMetricData',
  'dynamodb:ListStreams',
  'dynamodb:ListTables',
  'xray:PutTelemetryRecords',
  'xray:PutTraceSegments',
]);

export interface Principal {
  readonly policies: readonly NamedPolicy[];
  readonly needs: readonly Need[];
  readonly where: FleetLocation;
  readonly fleet: FleetSpec;
}

/** The ARN of a table of the account and region `where` names. */
export function tableArnIn(where: FleetLocation, name: string): string {
  return `arn:${where.partition}:dynamodb:${where.region}:${where.accountId}:table/${name}`;
}

/**
 * Every table of the fleets (and a stranger's), each with the owner index and another index, each source's
 * stream under two labels, and `*`.
 */
export function resourceUniverse(
  where: FleetLocation,
  fleets: readonly FleetSpec[],
  extraTables: string[] = [],
): string[] {
  const out = new Set<string>(['*']);
  const tables = ['someone-elses', ...extraTables];
  for (const fleet of fleets)
    tables.push(
      fleet.sourceTableName,
      fleet.replicaTableName ?? `${fleet.name}-no-replica`,
      fleet.applicationName,
    );
  for (const table of tables) {
    const arn = tableArnIn(where, table);
    out.add(arn);
    out.add(`${arn}/index/${LEASE_OWNER_INDEX_NAME}`);
    out.add(`${arn}/index/other`);
    out.add(`${arn}/stream/2024-05-01T12:00:00.000`);
    out.add(`${arn}/stream/2025-01-01T00:00:00.000`);
  }
  return [...out];
}

export async function allowed(
  p: Pick<Principal, 'policies'>,
  action: string,
  resource: string,
): Promise<boolean> {
  return (await evaluatePolicies(p.policies, { action, resource })).decision === Decision.Allow;
}

/** Whether a need covers the call: its action, and its resource (exact, or a pattern such as `stream/*`). */
function needed(p: Principal, action: string, resource: string): boolean {
  return p.needs.some((need) => {
    const pattern = needResource(need.on, p.fleet, p.where);
    return (
      need.action === action &&
      (pattern === resource || (pattern.endsWith('/*') && resource.startsWith(pattern.slice(0, -1))))
    );
  });
}

/** Every need allowed on its exact ARN; over the universe, nothing allowed that no need covers. */
export async function expectExactlyTheNeeds(p: Principal, universe: readonly string[]): Promise<void> {
  for (const need of p.needs) {
    const resource = needResource(need.on, p.fleet, p.where);
    expect(await allowed(p, need.action, resource), `${need.action} on ${resource}: ${need.why}`).toBe(true);
  }
  const extra: string[] = [];
  for (const action of DYNAMODB_ACTIONS) {
    for (const resource of universe) {
      if ((await allowed(p, action, resource)) && !needed(p, action, resource))
        extra.push(`${action} on ${resource}`);
    }
  }
  expect(extra, 'allowed, but no code calls it').toEqual([]);
}

/** Statements on `"Resource": "*"` carry only actions that have no resource-level permissions. */
export function expectStarOnlyWithoutResourceLevel(policies: readonly NamedPolicy[]): void {
  for (const policy of policies) {
    statementsOf(policy.document).forEach((statement: IamStatement, index) => {
      if (!listOf(statement.Resource).includes('*')) return;
      expect(
        listOf(statement.Action).filter((a) => !NO_RESOURCE_LEVEL.has(a)),
        `${policy.name} ${statement.Sid ?? index}`,
      ).toEqual([]);
    });
  }
}
