/** IAM policy evaluation as pure logic: Allow/Deny, wildcards, Not* elements, conditions, trust, wording. */
import { describe, expect, it } from 'vitest';
import {
  accessDeniedMessage,
  assumedRoleArn,
  Decision,
  evaluatePolicies,
  type IamPolicy,
  type NamedPolicy,
  trustAllows,
  wildcardMatch,
} from '../../core/iam-evaluation.js';

const TABLE = 'arn:aws:dynamodb:ddblocal:000000000000:table/leases';
const OTHER = 'arn:aws:dynamodb:ddblocal:000000000000:table/other';

const named = (document: IamPolicy, name = 'p'): NamedPolicy => ({ name, document });
const allow = (Action: string | string[], Resource: string | string[], Sid?: string) => ({
  ...(Sid ? { Sid } : {}),
  Effect: 'Allow' as const,
  Action,
  Resource,
});

describe('evaluatePolicies', () => {
  it('allows what a statement names, on the resource it names, and nothing else', () => {
    const policies = [named({ Statement: [allow(['dynamodb:GetItem'], [TABLE], 'Read')] })];
    expect(evaluatePolicies(policies, { action: 'dynamodb:GetItem', resource: TABLE })).toEqual({
      decision: Decision.Allow,
      statement: { policy: 'p', index: 0, sid: 'Read' },
    });
    expect(evaluatePolicies(policies, { action: 'dynamodb:PutItem', resource: TABLE }).decision).toBe(
      Decision.ImplicitDeny,
    );
    expect(evaluatePolicies(policies, { action: 'dynamodb:GetItem', resource: OTHER }).decision).toBe(
      Decision.ImplicitDeny,
    );
    expect(evaluatePolicies([], { action: 'dynamodb:GetItem', resource: TABLE }).decision).toBe(
      Decision.ImplicitDeny,
    );
  });

  it('lets an explicit Deny win over any Allow, in any policy', () => {
    const policies = [
      named({ Statement: [allow('dynamodb:*', '*')] }, 'broad'),
      named({ Statement: { Effect: 'Deny', Action: 'dynamodb:DeleteTable', Resource: TABLE } }, 'guard'),
    ];
    expect(evaluatePolicies(policies, { action: 'dynamodb:DeleteTable', resource: TABLE })).toEqual({
      decision: Decision.ExplicitDeny,
      statement: { policy: 'guard', index: 0 },
    });
    expect(evaluatePolicies(policies, { action: 'dynamodb:DeleteTable', resource: OTHER }).decision).toBe(
      Decision.Allow,
    );
  });

  it('matches actions case-insensitively with wildcards, resources case-sensitively', () => {
    const policies = [named({ Statement: [allow('DynamoDB:Get*', `${TABLE}/index/*`)] })];
    expect(
      evaluatePolicies(policies, { action: 'dynamodb:GetItem', resource: `${TABLE}/index/byOwner` }).decision,
    ).toBe(Decision.Allow);
    expect(
      evaluatePolicies(policies, { action: 'dynamodb:GetItem', resource: `${TABLE.toUpperCase()}/index/x` })
        .decision,
    ).toBe(Decision.ImplicitDeny);
    // A table's ARN is not one of its indexes.
    expect(evaluatePolicies(policies, { action: 'dynamodb:GetItem', resource: TABLE }).decision).toBe(
      Decision.ImplicitDeny,
    );
    expect(wildcardMatch('table/?ab', 'table/xab', false)).toBe(true);
    expect(wildcardMatch('table/?ab', 'table/ab', false)).toBe(false);
  });

  it('reads NotAction and NotResource', () => {
    const policies = [
      named({
        Statement: [
          { Effect: 'Allow', NotAction: ['dynamodb:Delete*'], Resource: TABLE },
          { Effect: 'Deny', Action: 'dynamodb:*', NotResource: [TABLE, OTHER] },
        ],
      }),
    ];
    expect(evaluatePolicies(policies, { action: 'dynamodb:PutItem', resource: TABLE }).decision).toBe(
      Decision.Allow,
    );
    expect(evaluatePolicies(policies, { action: 'dynamodb:DeleteItem', resource: TABLE }).decision).toBe(
      Decision.ImplicitDeny,
    );
    expect(evaluatePolicies(policies, { action: 'dynamodb:PutItem', resource: `${TABLE}-2` }).decision).toBe(
      Decision.ExplicitDeny,
    );
  });

  it('fails closed on conditions it does not evaluate', () => {
    const conditioned = { StringEquals: { 'aws:RequestTag/team': 'a' } };
    const allowIf = named({ Statement: [{ ...allow('dynamodb:PutItem', TABLE), Condition: conditioned }] });
    expect(evaluatePolicies([allowIf], { action: 'dynamodb:PutItem', resource: TABLE }).decision).toBe(
      Decision.ImplicitDeny,
    );
    const denyIf = named({
      Statement: [
        allow('dynamodb:PutItem', TABLE),
        { ...allow('dynamodb:PutItem', TABLE), Effect: 'Deny', Condition: conditioned },
      ],
    });
    expect(evaluatePolicies([denyIf], { action: 'dynamodb:PutItem', resource: TABLE }).decision).toBe(
      Decision.ExplicitDeny,
    );
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
