/**
 * The strict layer's IAM rule as pure logic: what each request is authorised as, the registry of roles and
 * sessions, and the rule's verdicts and counters over parsed requests. No network.
 */
import { describe, expect, it } from 'vitest';
import type { NamedPolicy } from '../../core/iam/iam-evaluation.js';
import { errorTypeOf } from '../../local/aws-rules/errors.js';
import {
  IamRegistrationError,
  IamRegistry,
  parseRegisteredRole,
} from '../../local/aws-rules/iam-registry.js';
import { authorizationsOf, streamArnOfIterator } from '../../local/aws-rules/iam-requests.js';
import { IamRule, requestContextOf } from '../../local/aws-rules/iam-rule.js';
import { BufferedRequest, type Service } from '../../local/aws-rules/rule.js';
import { AwsRulesStatsRecorder } from '../../local/aws-rules/stats.js';
import { ALL_RULES_OFF, ALL_RULES_ON } from '../../local/aws-rules/switches.js';

const ARN = 'arn:aws:dynamodb:ddblocal:000000000000:table';
const STREAM = `${ARN}/users/stream/2026-01-01T00:00:00.000`;
const ROLE = 'arn:aws:iam::000000000000:role/users-consumer';

describe('authorizationsOf', () => {
  it('names the table, or the index a Query or Scan reads', () => {
    expect(authorizationsOf('dynamodb', 'GetItem', { TableName: 'leases', Key: {} })).toEqual([
      { action: 'dynamodb:GetItem', resource: `${ARN}/leases` },
    ]);
    expect(authorizationsOf('dynamodb', 'Query', { TableName: 'leases', IndexName: 'byOwner' })).toEqual([
      { action: 'dynamodb:Query', resource: `${ARN}/leases/index/byOwner` },
    ]);
    expect(authorizationsOf('dynamodb', 'ListTables', {})).toEqual([
      { action: 'dynamodb:ListTables', resource: '*' },
    ]);
  });

  it('checks batches per table and transactions per item, with each item’s own action', () => {
    expect(authorizationsOf('dynamodb', 'BatchGetItem', { RequestItems: { leases: {}, users: {} } })).toEqual(
      [
        { action: 'dynamodb:BatchGetItem', resource: `${ARN}/leases` },
        { action: 'dynamodb:BatchGetItem', resource: `${ARN}/users` },
      ],
    );
    expect(
      authorizationsOf('dynamodb', 'TransactWriteItems', {
        TransactItems: [
          { Put: { TableName: 'replica', Item: {} } },
          { Delete: { TableName: 'replica', Key: {} } },
          { Update: { TableName: 'leases', Key: {} } },
          { ConditionCheck: { TableName: 'leases', Key: {} } },
        ],
      }),
    ).toEqual([
      { action: 'dynamodb:PutItem', resource: `${ARN}/replica` },
      { action: 'dynamodb:DeleteItem', resource: `${ARN}/replica` },
      { action: 'dynamodb:UpdateItem', resource: `${ARN}/leases` },
      { action: 'dynamodb:ConditionCheckItem', resource: `${ARN}/leases` },
    ]);
  });

  it('reads streams by their ARN, GetRecords by its iterator’s stream, ListStreams on *', () => {
    expect(authorizationsOf('streams', 'DescribeStream', { StreamArn: STREAM })).toEqual([
      { action: 'dynamodb:DescribeStream', resource: STREAM },
    ]);
    const iterator = `${STREAM}|001|${Buffer.from('shardId-1|1|2').toString('base64')}`;
    expect(streamArnOfIterator(iterator)).toBe(STREAM);
    expect(authorizationsOf('streams', 'GetRecords', { ShardIterator: iterator })).toEqual([
      { action: 'dynamodb:GetRecords', resource: STREAM },
    ]);
    expect(authorizationsOf('streams', 'ListStreams', { TableName: 'users' })).toEqual([
      { action: 'dynamodb:ListStreams', resource: '*' },
    ]);
  });

  it('says what it cannot tell', () => {
    expect(authorizationsOf('streams', 'GetRecords', { ShardIterator: 'opaque' })).toEqual({
      unjudgeable: 'GetRecords with an unreadable iterator',
    });
    expect(authorizationsOf('dynamodb', 'PutItem', undefined)).toHaveProperty('unjudgeable');
    expect(
      authorizationsOf('dynamodb', 'TransactWriteItems', { TransactItems: [{ Get: { TableName: 't' } }] }),
    ).toHaveProperty('unjudgeable');
  });
});

describe('IamRegistry', () => {
  const policies: NamedPolicy[] = [
    {
      name: 'consumer',
      document: { Statement: [{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: `${ARN}/leases` }] },
    },
  ];

  it('names a session of a registered role, and denies it everything once the role is gone', () => {
    const registry = new IamRegistry();
    registry.putRole('r1', { arn: ROLE, policies });
    registry.putCredentials('ASIAKEY1', { roleId: 'r1', sessionName: 'pod-a' });
    expect(registry.identify('ASIAKEY1')).toEqual({
      arn: 'arn:aws:sts::000000000000:assumed-role/users-consumer/pod-a',
      roleArn: ROLE,
      policies,
    });
    expect(registry.identify('local')).toBeUndefined();
    expect(registry.deleteRole('r1')).toBe(true);
    expect(registry.identify('ASIAKEY1')?.policies).toEqual([]);
  });

  it('refuses credentials for an unknown role and malformed roles, saying what to send', () => {
    const registry = new IamRegistry();
    expect(() => registry.putCredentials('K', { roleId: 'nope', sessionName: 'pod' })).toThrow(
      /register the role before its credentials/,
    );
    expect(() => parseRegisteredRole({ arn: 'arn:aws:iam::1:role/x', policies: [] })).toThrow(
      IamRegistrationError,
    );
    expect(() => parseRegisteredRole({ arn: ROLE, policies: [{ name: 'p' }] })).toThrow(/document/);
  });
});

describe('IamRule', () => {
  function setUp() {
    const registry = new IamRegistry();
    const stats = new AwsRulesStatsRecorder();
    const rule = new IamRule(registry, stats);
    registry.putRole('r1', {
      arn: ROLE,
      policies: [
        {
          name: 'consumer',
          document: {
            Statement: [
              {
                Effect: 'Allow',
                Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
                Resource: [`${ARN}/leases`],
              },
            ],
          },
        },
      ],
    });
    registry.putCredentials('ASIAKEY1', { roleId: 'r1', sessionName: 'pod-a' });
    const signed = (key: string) => ({
      authorization: `AWS4-HMAC-SHA256 Credential=${key}/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x`,
    });
    const request = (operation: string, body: unknown, key = 'ASIAKEY1', service: Service = 'dynamodb') =>
      new BufferedRequest(service, operation, signed(key), Buffer.from(JSON.stringify(body)));
    return { rule, stats, request };
  }

  it('inspects only requests of registered principals, with the rule on', () => {
    const { rule, stats, request } = setUp();
    expect(rule.inspects(request('GetItem', {}), ALL_RULES_ON)).toBe(true);
    expect(rule.inspects(request('GetItem', {}, 'local'), ALL_RULES_ON)).toBe(false);
    expect(rule.inspects(request('GetItem', {}), ALL_RULES_OFF)).toBe(false);
    expect(stats.snapshot(ALL_RULES_ON).iam.unchecked).toBe(1);
  });

  it('passes what the policies allow and counts it as used', async () => {
    const { rule, stats, request } = setUp();
    expect((await rule.admit(request('GetItem', { TableName: 'leases' }))).kind).toBe('pass');
    expect(stats.snapshot(ALL_RULES_ON).iam).toMatchObject({
      judged: 1,
      allowed: { [ROLE]: { 'dynamodb:GetItem': { [`${ARN}/leases`]: 1 } } },
    });
  });

  it('refuses a batch naming the table it may not read, as AWS words it, and counts the refusal', async () => {
    const { rule, stats, request } = setUp();
    const admission = await rule.admit(request('BatchGetItem', { RequestItems: { leases: { Keys: [] } } }));
    if (admission.kind !== 'refuse') throw new Error('expected a refusal');
    expect(admission.reply.status).toBe(400);
    expect(errorTypeOf(admission.reply.body)).toBe('AccessDeniedException');
    const principal = 'arn:aws:sts::000000000000:assumed-role/users-consumer/pod-a';
    expect(JSON.parse(admission.reply.body).Message).toBe(
      `User: ${principal} is not authorized to perform: dynamodb:BatchGetItem on resource: ${ARN}/leases because no identity-based policy allows the dynamodb:BatchGetItem action`,
    );
    const { refused, iam } = stats.snapshot(ALL_RULES_ON);
    expect(refused.total).toBe(1);
    expect(refused.iam.byPrincipal).toEqual({
      [ROLE]: { 'dynamodb:BatchGetItem': { [`${ARN}/leases`]: 1 } },
    });
    expect(refused.iam.recent[0]).toMatchObject({
      principal,
      action: 'dynamodb:BatchGetItem',
      decision: 'implicit-deny',
    });
    expect(iam.allowed).toEqual({});
  });

  it('judges conditions on the region the request is signed for and on the calling role, as AWS does', async () => {
    const registry = new IamRegistry();
    const rule = new IamRule(registry, new AwsRulesStatsRecorder());
    const inRegion = (region: string) => ({ StringEquals: { 'aws:RequestedRegion': region } });
    registry.putRole('r1', {
      arn: ROLE,
      policies: [
        {
          name: 'home-region',
          document: {
            Statement: [
              {
                Effect: 'Allow',
                Action: 'dynamodb:GetItem',
                Resource: `${ARN}/leases`,
                Condition: inRegion('eu-west-1'),
              },
              {
                Effect: 'Allow',
                Action: 'dynamodb:PutItem',
                Resource: `${ARN}/leases`,
                Condition: {
                  ArnEquals: { 'aws:PrincipalArn': ROLE },
                  StringEquals: { 'aws:PrincipalType': 'AssumedRole' },
                },
              },
            ],
          },
        },
      ],
    });
    registry.putCredentials('ASIAKEY1', { roleId: 'r1', sessionName: 'pod-a' });
    const signedIn = (region: string, operation: string) =>
      new BufferedRequest(
        'dynamodb',
        operation,
        {
          authorization: `AWS4-HMAC-SHA256 Credential=ASIAKEY1/20260101/${region}/dynamodb/aws4_request, SignedHeaders=host, Signature=x`,
        },
        Buffer.from(JSON.stringify({ TableName: 'leases' })),
      );
    expect((await rule.admit(signedIn('eu-west-1', 'GetItem'))).kind).toBe('pass');
    expect((await rule.admit(signedIn('us-east-1', 'GetItem'))).kind).toBe('refuse');
    expect((await rule.admit(signedIn('us-east-1', 'PutItem'))).kind).toBe('pass');
    expect(
      requestContextOf(
        { arn: 'arn:aws:sts::000000000000:assumed-role/users-consumer/pod-a', roleArn: ROLE, policies: [] },
        signedIn('eu-west-1', 'GetItem').headers.authorization,
      ),
    ).toEqual({
      'aws:RequestedRegion': 'eu-west-1',
      'aws:PrincipalArn': ROLE,
      'aws:PrincipalAccount': '000000000000',
      'aws:PrincipalType': 'AssumedRole',
    });
  });

  it('refuses a transaction when one item is not allowed, counting none of it as used', async () => {
    const { rule, stats, request } = setUp();
    const admission = await rule.admit(
      request('TransactWriteItems', {
        TransactItems: [
          { Put: { TableName: 'leases', Item: {} } },
          { ConditionCheck: { TableName: 'leases', Key: {} } },
        ],
      }),
    );
    expect(admission.kind).toBe('refuse');
    const snapshot = stats.snapshot(ALL_RULES_ON);
    expect(Object.keys(snapshot.refused.iam.byPrincipal[ROLE] ?? {})).toEqual([
      'dynamodb:ConditionCheckItem',
    ]);
    expect(snapshot.iam.allowed).toEqual({});
  });
});
