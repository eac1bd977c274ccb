/** IAM policy evaluation: Allow/Deny, wildcards, Not* elements, conditions, resource types, trust, wording. */
import { describe, expect, it } from 'vitest';
import {
  accessDeniedMessage,
  assumedRoleArn,
  Decision,
  evaluatePolicies,
  type IamPolicy,
  type NamedPolicy,
  type RequestContext,
  trustAllows,
  wildcardMatch,
} from '../../core/iam/iam-evaluation.js';
import { InvalidInputError } from '../../core/vocabulary/errors.js';

const TABLE = 'arn:aws:dynamodb:ddblocal:000000000000:table/leases';
const OTHER = 'arn:aws:dynamodb:ddblocal:000000000000:table/other';
const STREAM = `${TABLE}/stream/2024-05-01T12:00:00.000`;
const DATASET = 'arn:aws:cloudwatch:us-east-1:000000000000:dataset/otlp';

const named = (document: IamPolicy, name = 'p'): NamedPolicy => ({ name, document });
const allow = (Action: string | string[], Resource: string | string[], Sid?: string) => ({
  ...(Sid ? { Sid } : {}),
  Effect: 'Allow' as const,
  Action,
  Resource,
});

/** The decision alone, for `action` on `resource` with the request's condition keys. */
const decide = async (
  policies: readonly NamedPolicy[],
  action: string,
  resource: string,
  context?: RequestContext,
) => (await evaluatePolicies(policies, { action, resource, ...(context ? { context } : {}) })).decision;

describe('evaluatePolicies', () => {
  it('allows what a statement names, on the resource it names, and nothing else', async () => {
    const policies = [named({ Statement: [allow(['dynamodb:GetItem'], [TABLE], 'Read')] })];
    expect(await evaluatePolicies(policies, { action: 'dynamodb:GetItem', resource: TABLE })).toEqual({
      decision: Decision.Allow,
      statement: { policy: 'p', index: 0, sid: 'Read' },
    });
    expect(await decide(policies, 'dynamodb:PutItem', TABLE)).toBe(Decision.ImplicitDeny);
    expect(await decide(policies, 'dynamodb:GetItem', OTHER)).toBe(Decision.ImplicitDeny);
    expect(await decide([], 'dynamodb:GetItem', TABLE)).toBe(Decision.ImplicitDeny);
  });

  it('lets an explicit Deny win over any Allow, in any policy', async () => {
    const policies = [
      named({ Statement: [allow('dynamodb:*', '*')] }, 'broad'),
      named(
        {
          Statement: [
            allow('dynamodb:Scan', TABLE),
            { Effect: 'Deny', Action: 'dynamodb:DeleteTable', Resource: TABLE },
          ],
        },
        'guard',
      ),
    ];
    expect(await evaluatePolicies(policies, { action: 'dynamodb:DeleteTable', resource: TABLE })).toEqual({
      decision: Decision.ExplicitDeny,
      statement: { policy: 'guard', index: 1 },
    });
    expect(await decide(policies, 'dynamodb:DeleteTable', OTHER)).toBe(Decision.Allow);
  });

  it('matches actions case-insensitively with wildcards, resources case-sensitively', async () => {
    const policies = [named({ Statement: [allow('DynamoDB:Get*', `${TABLE}/index/*`)] })];
    expect(await decide(policies, 'dynamodb:GetItem', `${TABLE}/index/byOwner`)).toBe(Decision.Allow);
    expect(await decide(policies, 'dynamodb:GetItem', `${TABLE.toUpperCase()}/index/x`)).toBe(
      Decision.ImplicitDeny,
    );
    // A table's ARN is not one of its indexes.
    expect(await decide(policies, 'dynamodb:GetItem', TABLE)).toBe(Decision.ImplicitDeny);
    expect(wildcardMatch('table/?ab', 'table/xab', false)).toBe(true);
    expect(wildcardMatch('table/?ab', 'table/ab', false)).toBe(false);
  });

  it('reads NotAction and NotResource', async () => {
    const policies = [
      named({
        Statement: [
          { Effect: 'Allow', NotAction: ['dynamodb:Delete*'], Resource: TABLE },
          { Effect: 'Deny', Action: 'dynamodb:*', NotResource: [TABLE, OTHER] },
        ],
      }),
    ];
    expect(await decide(policies, 'dynamodb:PutItem', TABLE)).toBe(Decision.Allow);
    expect(await decide(policies, 'dynamodb:DeleteItem', TABLE)).toBe(Decision.ImplicitDeny);
    expect(await decide(policies, 'dynamodb:PutItem', `${TABLE}-2`)).toBe(Decision.ExplicitDeny);
  });

  it('evaluates a Condition on the keys the request carries: allowed when they satisfy it, denied when not', async () => {
    // DynamoDB fine-grained access: every partition key the request touches must be the caller's own.
    const ownItems = named({
      Statement: [
        {
          ...allow('dynamodb:GetItem', TABLE),
          Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['shard-1', 'shard-2'] } },
        },
      ],
    });
    const leading = (keys: string[]) => ({ 'dynamodb:LeadingKeys': keys });
    expect(await decide([ownItems], 'dynamodb:GetItem', TABLE, leading(['shard-1']))).toBe(Decision.Allow);
    expect(await decide([ownItems], 'dynamodb:GetItem', TABLE, leading(['shard-1', 'shard-2']))).toBe(
      Decision.Allow,
    );
    expect(await decide([ownItems], 'dynamodb:GetItem', TABLE, leading(['shard-1', 'shard-3']))).toBe(
      Decision.ImplicitDeny,
    );
    // A Deny's Condition, on the region the request is signed for.
    const homeRegion = named({
      Statement: [
        allow('dynamodb:*', TABLE),
        {
          Effect: 'Deny',
          Action: 'dynamodb:*',
          Resource: '*',
          Condition: { StringNotEquals: { 'aws:RequestedRegion': 'eu-west-1' } },
        },
      ],
    });
    const region = (name: string) => ({ 'aws:RequestedRegion': name });
    expect(await decide([homeRegion], 'dynamodb:PutItem', TABLE, region('eu-west-1'))).toBe(Decision.Allow);
    expect(await decide([homeRegion], 'dynamodb:PutItem', TABLE, region('us-east-1'))).toBe(
      Decision.ExplicitDeny,
    );
  });

  it('fails closed on a condition key the request does not carry', async () => {
    // AWS would carry aws:RequestTag/team on a tagging call; a caller that cannot tell it gets no Allow from
    // it, and a Deny on it denies.
    const conditioned = { StringEquals: { 'aws:RequestTag/team': 'a' } };
    const allowIf = named({
      Statement: [{ ...allow('dynamodb:TagResource', TABLE), Condition: conditioned }],
    });
    expect(await decide([allowIf], 'dynamodb:TagResource', TABLE)).toBe(Decision.ImplicitDeny);
    expect(await decide([allowIf], 'dynamodb:TagResource', TABLE, { 'aws:RequestTag/team': 'a' })).toBe(
      Decision.Allow,
    );
    const denyIf = named({
      Statement: [
        allow('dynamodb:TagResource', TABLE),
        { ...allow('dynamodb:TagResource', TABLE), Effect: 'Deny', Condition: conditioned },
      ],
    });
    expect(await decide([denyIf], 'dynamodb:TagResource', TABLE)).toBe(Decision.ExplicitDeny);
    expect(await decide([denyIf], 'dynamodb:TagResource', TABLE, { 'aws:RequestTag/team': 'b' })).toBe(
      Decision.Allow,
    );
  });

  it('allows a call on "*" only through a Resource that matches "*" itself', async () => {
    const onStream = named({
      Statement: [allow(['dynamodb:ListStreams', 'cloudwatch:GetMetricData'], STREAM)],
    });
    expect(await decide([onStream], 'dynamodb:ListStreams', '*')).toBe(Decision.ImplicitDeny);
    // GetMetricData has an optional resource type (dataset): a grant on one is no grant of classic metrics.
    const onDataset = named({ Statement: [allow('cloudwatch:GetMetricData', DATASET)] });
    expect(await decide([onDataset], 'cloudwatch:GetMetricData', '*')).toBe(Decision.ImplicitDeny);
    const onStar = named({ Statement: [allow(['dynamodb:ListStreams', 'cloudwatch:GetMetricData'], '*')] });
    expect(await decide([onStar], 'dynamodb:ListStreams', '*')).toBe(Decision.Allow);
    expect(await decide([onStar], 'cloudwatch:GetMetricData', '*')).toBe(Decision.Allow);
  });

  it('never allows an action AWS does not have, or an action on a resource that is not of its types', async () => {
    const everything = [named({ Statement: [allow('*', '*')] })];
    expect(await evaluatePolicies(everything, { action: 'dynamodb:GetItems', resource: TABLE })).toEqual({
      decision: Decision.ImplicitDeny,
      unknown: 'invalid.action',
    });
    // GetRecords reads a stream; a table is not one.
    expect(await decide(everything, 'dynamodb:GetRecords', TABLE)).toBe(Decision.ImplicitDeny);
    expect(await decide(everything, 'dynamodb:GetRecords', STREAM)).toBe(Decision.Allow);
  });

  it('refuses a policy IAM would refuse, naming it', async () => {
    const malformed = named(
      { Statement: [{ ...allow('dynamodb:GetItem', TABLE), Effect: 'Permit' as 'Allow' }] },
      'typo',
    );
    await expect(
      evaluatePolicies([malformed], { action: 'dynamodb:GetItem', resource: TABLE }),
    ).rejects.toThrow(InvalidInputError);
    await expect(
      evaluatePolicies([malformed], { action: 'dynamodb:GetItem', resource: TABLE }),
    ).rejects.toThrow(/policy typo: IAM would refuse it/);
  });

  it('judges a changed policy afresh: a new set of policies is never answered from another’s decisions', async () => {
    const before = [named({ Statement: [allow('dynamodb:GetItem', TABLE)] })];
    const after = [named({ Statement: [allow('dynamodb:PutItem', TABLE)] })];
    expect(await decide(before, 'dynamodb:GetItem', TABLE)).toBe(Decision.Allow);
    expect(await decide(after, 'dynamodb:GetItem', TABLE)).toBe(Decision.ImplicitDeny);
    expect(await decide(before, 'dynamodb:GetItem', TABLE)).toBe(Decision.Allow);
  });
});

describe('AWS wording', () => {
  it('names the assumed-role session, the action and the resource', () => {
    const principal = assumedRoleArn('arn:aws:iam::000000000000:role/path/users-consumer', 'pod-1');
    expect(principal).toBe('arn:aws:sts::000000000000:assumed-role/users-consumer/pod-1');
    expect(
      accessDeniedMessage(
        principal,
        { action: 'dynamodb:BatchGetItem', resource: TABLE },
        Decision.ImplicitDeny,
      ),
    ).toBe(
      `User: ${principal} is not authorized to perform: dynamodb:BatchGetItem on resource: ${TABLE} because no identity-based policy allows the dynamodb:BatchGetItem action`,
    );
    expect(
      accessDeniedMessage(principal, { action: 'dynamodb:Scan', resource: TABLE }, Decision.ExplicitDeny),
    ).toMatch(/with an explicit deny in an identity-based policy$/);
    expect(() => assumedRoleArn('arn:aws:iam::000000000000:user/bob', 's')).toThrow(RangeError);
  });
});

describe('trustAllows', () => {
  const operator = 'arn:aws:iam::000000000000:role/keda-operator-local';
  const trust: IamPolicy = {
    Statement: [{ Effect: 'Allow', Principal: { AWS: operator }, Action: 'sts:AssumeRole' }],
  };

  it('lets exactly the named role assume', () => {
    expect(trustAllows(trust, operator)).toBe(true);
    expect(trustAllows(trust, 'arn:aws:iam::000000000000:role/other')).toBe(false);
    expect(trustAllows(trust, operator, 'sts:AssumeRoleWithWebIdentity')).toBe(false);
  });

  it('reads the account root and explicit denies', () => {
    const root: IamPolicy = {
      Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'sts:*' }],
    };
    expect(trustAllows(root, operator)).toBe(true);
    const denied: IamPolicy = {
      Statement: [
        ...(root.Statement as []),
        { Effect: 'Deny', Principal: { AWS: operator }, Action: 'sts:AssumeRole' },
      ],
    };
    expect(trustAllows(denied, operator)).toBe(false);
  });
});
