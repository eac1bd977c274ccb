import { describe, expect, it } from 'vitest';
import {
  oidcIssuerHostPath,
  oidcProviderArn,
  Partition,
  parseRoleArn,
  parseStreamArn,
  partitionForRegion,
  tableArn,
  tableIndexesArn,
  tableStreamsArn,
} from '../../core/arns.js';
import { InvalidInputError } from '../../core/errors.js';
import {
  consumerPolicy,
  irsaTrustPolicy,
  KEDA_OPERATOR_SERVICE_ACCOUNT,
  kedaOperatorPolicy,
  type PolicyDocument,
  serviceAccountSubject,
} from '../../core/iam-policies.js';
import { ScalingMode } from '../../core/keda.js';

const ACCOUNT = '123456789012';
const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-05-01T12:00:00.000';
const TABLE_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/users';
const ISSUER = 'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
const ISSUER_HOST_PATH = 'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';

function expectInvalid(fn: () => unknown, field: string): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe(field);
    return error as InvalidInputError;
  }
  throw new Error(`expected InvalidInputError for ${field}`);
}

function statement(policy: PolicyDocument, sid: string) {
  const found = policy.Statement.find((s) => s.Sid === sid);
  if (found === undefined) throw new Error(`no statement ${sid}`);
  return found;
}

function wildcardActions(policy: PolicyDocument): string[] {
  return policy.Statement.filter((s) => s.Resource?.some((r) => r === '*' || r.endsWith(':*'))).flatMap(
    (s) => s.Action,
  );
}

describe('ARN helpers', () => {
  it.each([
    ['us-east-1', Partition.Aws],
    ['eu-central-2', Partition.Aws],
    ['cn-north-1', Partition.China],
    ['us-gov-west-1', Partition.GovCloud],
  ])('partition of %s is %s', (region, partition) => {
    expect(partitionForRegion(region)).toBe(partition);
  });

  it('builds table ARNs in the region’s partition', () => {
    expect(tableArn({ region: 'us-east-1', accountId: ACCOUNT, tableName: 'users' })).toBe(TABLE_ARN);
    expect(tableArn({ region: 'cn-north-1', accountId: ACCOUNT, tableName: 'users' })).toBe(
      'arn:aws-cn:dynamodb:cn-north-1:123456789012:table/users',
    );
    expect(tableIndexesArn(TABLE_ARN)).toBe(`${TABLE_ARN}/index/*`);
    expect(tableStreamsArn(TABLE_ARN)).toBe(`${TABLE_ARN}/stream/*`);
  });

  it('rejects bad table ARN parts', () => {
    expectInvalid(() => tableArn({ region: 'us-east-1', accountId: ACCOUNT, tableName: 'ab' }), 'tableName');
    expectInvalid(() => tableArn({ region: 'us-east-1', accountId: '123', tableName: 'users' }), 'accountId');
  });

  it.each([
    ['aws', STREAM_ARN, 'us-east-1', 'users'],
    [
      'aws-cn',
      'arn:aws-cn:dynamodb:cn-north-1:123456789012:table/my.table_1/stream/2024-05-01T12:00:00.000',
      'cn-north-1',
      'my.table_1',
    ],
    [
      'aws-us-gov',
      'arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/Orders-v2/stream/2024-05-01T12:00:00.000',
      'us-gov-west-1',
      'Orders-v2',
    ],
    [
      'aws',
      'arn:aws:dynamodb:ddblocal:000000000000:table/users/stream/2024-05-01T12:00:00.000',
      'ddblocal',
      'users',
    ],
  ])('parses a %s stream ARN', (partition, arn, region, tableName) => {
    const parts = parseStreamArn(arn);
    expect(parts).toMatchObject({ partition, region, tableName, streamLabel: '2024-05-01T12:00:00.000' });
    expect(parts.tableArn).toBe(arn.slice(0, arn.indexOf('/stream/')));
    expect(parts.streamArn).toBe(arn);
  });

  it.each([
    'arn:aws:dynamodb:us-east-1:123456789012:table/users',
    'arn:aws:kinesis:us-east-1:123456789012:stream/users',
    'arn:aws-eu:dynamodb:us-east-1:123456789012:table/users/stream/2024',
    'arn:aws:dynamodb:us-east-1:12345:table/users/stream/2024',
    'arn:aws:dynamodb:us-east-1:123456789012:table/us/stream/2024',
    '',
  ])('rejects %s as a stream ARN', (arn) => {
    const error = expectInvalid(() => parseStreamArn(arn), 'streamArn');
    expect(error.message).toContain(
      'arn:(aws|aws-cn|aws-us-gov):dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL',
    );
  });

  it('parses role ARNs with and without a path', () => {
    expect(parseRoleArn('arn:aws:iam::123456789012:role/streamfleet-consumer')).toMatchObject({
      partition: 'aws',
      accountId: ACCOUNT,
      path: '/',
      roleName: 'streamfleet-consumer',
    });
    expect(parseRoleArn('arn:aws-us-gov:iam::123456789012:role/service/eks/consumer@x')).toMatchObject({
      partition: 'aws-us-gov',
      path: '/service/eks/',
      roleName: 'consumer@x',
    });
    expectInvalid(() => parseRoleArn('arn:aws:iam::123456789012:user/bob'), 'roleArn');
    expectInvalid(() => parseRoleArn(`arn:aws:iam::123456789012:role/${'r'.repeat(65)}`), 'roleArn');
  });

  it('derives the OIDC provider ARN from the issuer URL', () => {
    expect(oidcIssuerHostPath(ISSUER)).toBe(ISSUER_HOST_PATH);
    expect(oidcIssuerHostPath(`${ISSUER}/`)).toBe(ISSUER_HOST_PATH);
    expect(oidcProviderArn({ issuerUrl: ISSUER, accountId: ACCOUNT })).toBe(
      `arn:aws:iam::123456789012:oidc-provider/${ISSUER_HOST_PATH}`,
    );
    expect(
      oidcProviderArn({
        issuerUrl: 'https://oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC',
        accountId: ACCOUNT,
      }),
    ).toBe('arn:aws-cn:iam::123456789012:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC');
    expect(
      oidcProviderArn({
        issuerUrl: 'https://oidc.eks.us-gov-west-1.amazonaws.com/id/ABC',
        accountId: ACCOUNT,
      }),
    ).toBe('arn:aws-us-gov:iam::123456789012:oidc-provider/oidc.eks.us-gov-west-1.amazonaws.com/id/ABC');
    expectInvalid(() => oidcIssuerHostPath('http://oidc.example.com/id/ABC'), 'issuerUrl');
    expectInvalid(() => oidcIssuerHostPath('not a url'), 'issuerUrl');
  });
});

describe('IRSA trust policy', () => {
  it('lets exactly one service account assume the role through the cluster’s OIDC provider', () => {
    const policy = irsaTrustPolicy({
      issuerUrl: ISSUER,
      accountId: ACCOUNT,
      namespace: 'streamfleet',
      serviceAccountName: 'consumer',
    });
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'AssumeFromServiceAccount',
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${ISSUER_HOST_PATH}` },
          Action: ['sts:AssumeRoleWithWebIdentity'],
          Condition: {
            StringEquals: {
              [`${ISSUER_HOST_PATH}:aud`]: 'sts.amazonaws.com',
              [`${ISSUER_HOST_PATH}:sub`]: 'system:serviceaccount:streamfleet:consumer',
            },
          },
        },
      ],
    });
    expect(Object.keys(policy.Statement[0]?.Condition ?? {})).toEqual(['StringEquals']);
  });

  it('serves the KEDA operator’s service account too', () => {
    const policy = irsaTrustPolicy({
      issuerUrl: ISSUER,
      accountId: ACCOUNT,
      namespace: KEDA_OPERATOR_SERVICE_ACCOUNT.namespace,
      serviceAccountName: KEDA_OPERATOR_SERVICE_ACCOUNT.name,
    });
    expect(policy.Statement[0]?.Condition?.StringEquals?.[`${ISSUER_HOST_PATH}:sub`]).toBe(
      'system:serviceaccount:keda:keda-operator',
    );
  });

  it('rejects invalid names, naming the field', () => {
    expectInvalid(() => serviceAccountSubject('Bad_NS', 'consumer'), 'namespace');
    expectInvalid(() => serviceAccountSubject('streamfleet', 'Consumer'), 'serviceAccountName');
    expectInvalid(
      () => irsaTrustPolicy({ issuerUrl: ISSUER, accountId: 'x', namespace: 'a', serviceAccountName: 'b' }),
      'accountId',
    );
  });
});

describe('KEDA operator policy', () => {
  it('classic: DescribeTable on the exact table, DescribeStream on the exact stream', () => {
    const policy = kedaOperatorPolicy({ streamArn: STREAM_ARN });
    expect(policy.Statement).toEqual([
      {
        Sid: 'DescribeSourceTable',
        Effect: 'Allow',
        Action: ['dynamodb:DescribeTable'],
        Resource: [TABLE_ARN],
      },
      {
        Sid: 'DescribeSourceStream',
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream'],
        Resource: [STREAM_ARN],
      },
    ]);
    expect(wildcardActions(policy)).toEqual([]);
  });

  it('classic: every stream of the table when asked', () => {
    const policy = kedaOperatorPolicy({ streamArn: STREAM_ARN, anyStreamOfTable: true });
    expect(statement(policy, 'DescribeSourceStream').Resource).toEqual([`${TABLE_ARN}/stream/*`]);
  });

  it('unfinished-shards: GetMetricData only', () => {
    const policy = kedaOperatorPolicy({ streamArn: STREAM_ARN, scalingMode: ScalingMode.UnfinishedShards });
    expect(policy.Statement).toEqual([
      {
        Sid: 'ReadUnfinishedShardsMetric',
        Effect: 'Allow',
        Action: ['cloudwatch:GetMetricData'],
        Resource: ['*'],
      },
    ]);
  });
});

describe('consumer policy', () => {
  const policy = consumerPolicy({
    streamArn: STREAM_ARN,
    leaseTableName: 'streamfleet-users',
    targetTableName: 'users_replica',
    deadLetterTableName: 'users_dlq',
  });
  const lease = 'arn:aws:dynamodb:us-east-1:123456789012:table/streamfleet-users';

  it('reads exactly the source stream', () => {
    expect(statement(policy, 'ReadSourceStream')).toEqual({
      Sid: 'ReadSourceStream',
      Effect: 'Allow',
      Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
      Resource: [STREAM_ARN],
    });
  });

  it('ListStreams is the only DynamoDB action on *', () => {
    expect(statement(policy, 'ListStreams')).toEqual({
      Sid: 'ListStreams',
      Effect: 'Allow',
      Action: ['dynamodb:ListStreams'],
      Resource: ['*'],
    });
  });

  it('owns the lease table and its indexes, including ConditionCheckItem for fenced writes', () => {
    const leaseStatement = statement(policy, 'OwnLeaseTable');
    expect(leaseStatement.Resource).toEqual([lease, `${lease}/index/*`]);
    expect([...leaseStatement.Action].sort()).toEqual(
      [
        'dynamodb:ConditionCheckItem',
        'dynamodb:CreateTable',
        'dynamodb:DeleteItem',
        'dynamodb:DescribeTable',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:UpdateItem',
      ].sort(),
    );
  });

  it('writes the target table with the item actions TransactWriteItems is checked against', () => {
    expect(statement(policy, 'WriteTargetTable')).toEqual({
      Sid: 'WriteTargetTable',
      Effect: 'Allow',
      Action: [
        'dynamodb:DescribeTable',
        'dynamodb:PutItem',
        'dynamodb:DeleteItem',
        'dynamodb:ConditionCheckItem',
      ],
      Resource: ['arn:aws:dynamodb:us-east-1:123456789012:table/users_replica'],
    });
  });

  it('puts dead letters into the dead-letter table only', () => {
    expect(statement(policy, 'WriteDeadLetters')).toEqual({
      Sid: 'WriteDeadLetters',
      Effect: 'Allow',
      Action: ['dynamodb:PutItem'],
      Resource: ['arn:aws:dynamodb:us-east-1:123456789012:table/users_dlq'],
    });
    const withoutDeadLetters = consumerPolicy({
      streamArn: STREAM_ARN,
      leaseTableName: 'streamfleet-users',
      targetTableName: 'users_replica',
    });
    expect(withoutDeadLetters.Statement.map((s) => s.Sid)).not.toContain('WriteDeadLetters');
  });

  it('publishes metrics into the Streamfleet namespace only', () => {
    expect(statement(policy, 'PublishMetrics')).toEqual({
      Sid: 'PublishMetrics',
      Effect: 'Allow',
      Action: ['cloudwatch:PutMetricData'],
      Resource: ['*'],
      Condition: { StringEquals: { 'cloudwatch:namespace': 'Streamfleet' } },
    });
  });

  it('no * resource except ListStreams and the namespace-conditioned PutMetricData', () => {
    expect(wildcardActions(policy).sort()).toEqual(['cloudwatch:PutMetricData', 'dynamodb:ListStreams']);
    for (const s of policy.Statement) {
      for (const resource of s.Resource ?? []) {
        if (resource === '*') continue;
        expect(resource.startsWith('arn:aws:dynamodb:us-east-1:123456789012:table/')).toBe(true);
        expect(resource.endsWith('/index/*') || !resource.includes('*')).toBe(true);
      }
    }
  });

  it('follows the stream’s partition', () => {
    const gov = consumerPolicy({
      streamArn:
        'arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/users/stream/2024-05-01T12:00:00.000',
      leaseTableName: 'lease',
      targetTableName: 'replica',
    });
    expect(statement(gov, 'WriteTargetTable').Resource).toEqual([
      'arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/replica',
    ]);
  });

  it('rejects bad names, naming the field', () => {
    const base = { streamArn: STREAM_ARN, leaseTableName: 'lease', targetTableName: 'replica' };
    expectInvalid(() => consumerPolicy({ ...base, streamArn: TABLE_ARN }), 'streamArn');
    expectInvalid(() => consumerPolicy({ ...base, leaseTableName: 'x' }), 'leaseTableName');
    expectInvalid(() => consumerPolicy({ ...base, targetTableName: 'has space' }), 'targetTableName');
    expectInvalid(() => consumerPolicy({ ...base, deadLetterTableName: 'a/b' }), 'deadLetterTableName');
  });
});
