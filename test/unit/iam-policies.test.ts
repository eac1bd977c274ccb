/**
 * ARN helpers and the IRSA trust policies. What each role may do is tested as properties against what its
 * code calls in iam-least-privilege.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  irsaTrustPolicy,
  KEDA_OPERATOR_SERVICE_ACCOUNT,
  serviceAccountSubject,
} from '../../core/iam/iam-policies.js';
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
} from '../../core/vocabulary/arns.js';
import { InvalidInputError } from '../../core/vocabulary/errors.js';

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
