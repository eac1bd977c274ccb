import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../consumer/config.js';
import { ConfigurationError } from '../../core/vocabulary/errors.js';

const valid = {
  SOURCE_TABLE_STREAM_ARN:
    'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-01-01T00:00:00.000',
  TARGET_TABLE_NAME: 'users_replica',
  APPLICATION_NAME: 'users-replicator',
  AWS_REGION: 'us-east-1',
};

function errorOf(env: Record<string, string>): ConfigurationError {
  try {
    parseConfig(env, 'host-1');
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error('expected a ConfigurationError');
}

describe('worker configuration', () => {
  it('watches its peers only when told which pods are theirs (PEER_POD_SELECTOR, as the manifests set it)', () => {
    expect(parseConfig(valid, 'pod-abc')).toMatchObject({
      peerPodSelector: undefined,
      podNamespace: undefined,
    });
    const selector = 'app.kubernetes.io/name=streamfleet,app.kubernetes.io/instance=users-replicator';
    expect(
      parseConfig({ ...valid, PEER_POD_SELECTOR: selector, POD_NAMESPACE: 'streamfleet' }, 'pod-abc'),
    ).toMatchObject({ peerPodSelector: selector, podNamespace: 'streamfleet' });
    expect(parseConfig({ ...valid, PEER_POD_SELECTOR: 'tier in (a, b),!canary' }, 'p').peerPodSelector).toBe(
      'tier in (a, b),!canary',
    );
    expect(errorOf({ ...valid, PEER_POD_SELECTOR: 'app=a b' }).message).toMatch(/PEER_POD_SELECTOR/);
    expect(errorOf({ ...valid, POD_NAMESPACE: 'Stream_Fleet' }).message).toMatch(/POD_NAMESPACE/);
  });

  it('applies the documented defaults', () => {
    const config = parseConfig(valid, 'pod-abc');
    expect(config).toMatchObject({
      instanceName: 'pod-abc',
      port: 8080,
      leaseDurationMs: 10_000,
      leaseRenewIntervalMs: 3_333,
      leaseTakerIntervalMs: 1_000,
      idleTimeBetweenReadsMs: 500,
      maxRecords: 1_000,
      initialPosition: 'TRIM_HORIZON',
      replication: { targetTableName: 'users_replica', writeMode: 'fenced', writeConcurrency: 1 },
      poisonRecordPolicy: 'stop',
      processorModule: undefined,
      processorTimeoutMs: 60_000,
      processorMaxAttempts: 3,
      checkpointIntervalMs: 1_000,
      stream: { region: 'us-east-1', accountId: '123456789012', tableName: 'users' },
    });
  });

  it('accepts DynamoDB Local stream ARNs', () => {
    const config = parseConfig(
      {
        ...valid,
        SOURCE_TABLE_STREAM_ARN:
          'arn:aws:dynamodb:ddblocal:000000000000:table/users/stream/2026-11-26T15:21:29.228',
      },
      'h',
    );
    expect(config.stream?.tableName).toBe('users');
  });

  it.each([
    ['SOURCE_TABLE_STREAM_ARN', undefined, /required/],
    [
      'SOURCE_TABLE_STREAM_ARN',
      'arn:aws:dynamodb:us-east-1:123456789012:table/users',
      /not a DynamoDB stream ARN/,
    ],
    ['TARGET_TABLE_NAME', '', /required/],
    ['TARGET_TABLE_NAME', 'no spaces allowed', /not a valid DynamoDB table name/],
    ['APPLICATION_NAME', 'ab', /not a valid DynamoDB table name/],
    ['APPLICATION_NAME', 'users_replica', /must differ/],
    ['AWS_REGION', 'moon', /not an AWS region/],
    ['PORT', '80a', /whole number from 0 to 65535/],
    ['PORT', '70000', /whole number/],
    ['LEASE_DURATION_MS', '-5', /whole number/],
    ['LEASE_DURATION_MS', '10', /from 1000/],
    ['LEASE_RENEW_INTERVAL_MS', '9000', /at most half/],
    ['MAX_RECORDS', '1001', /from 1 to 1000/],
    ['MAX_RECORDS', '1.5', /whole number/],
    ['INITIAL_POSITION', 'AT_TIMESTAMP', /TRIM_HORIZON, LATEST/],
    ['REPLICATION_WRITE_MODE', 'batch', /fenced, conditional/],
    ['POISON_RECORD_POLICY', 'ignore', /stop, dead-letter/],
    ['INSTANCE_NAME', 'has space', /1-128 characters/],
    ['LOG_LEVEL', 'loud', /expected one of/],
  ])('%s=%j is refused with a message naming it', (variable, value, message) => {
    const env: Record<string, string> = { ...valid };
    if (value === undefined) delete env[variable];
    else env[variable] = value;
    const error = errorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`${variable}:`)).toBe(true);
  });

  it('requires a dead-letter table with the dead-letter policy', () => {
    const error = errorOf({ ...valid, POISON_RECORD_POLICY: 'dead-letter' });
    expect(error.variable).toBe('DEAD_LETTER_TABLE_NAME');
  });
});
