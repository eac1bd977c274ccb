/**
 * KCL 1.x's reading rules (core/tables/kcl1-lease.ts) on items shaped as KCL 1.x's KinesisClientLeaseSerializer writes
 * them, and the owner index's UpdateTable request on each billing mode (core/vocabulary/lease-owner-index.ts).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { kcl1KeyProblems, kcl1RenewIntervalMs, readAsKcl1 } from '../../core/tables/kcl1-lease.js';
import { ownerIndexCreation, ownerIndexState } from '../../core/vocabulary/lease-owner-index.js';

type Item = Record<string, AttributeValue>;

/** A lease as KCL 1.x's toDynamoRecord writes it, mid-shard, with a prepared checkpoint (KCL 1.7+). */
const KCL_ITEM: Item = {
  leaseKey: { S: 'shardId-00000001700000000000-0a1b2c3d' },
  leaseOwner: { S: 'ip-10-0-1-17.ec2.internal:5f0c1d2e-aaaa-bbbb-cccc-0123456789ab' },
  leaseCounter: { N: '4711' },
  ownerSwitchesSinceCheckpoint: { N: '0' },
  checkpoint: { S: '000000000000000000012345678901234567890' },
  checkpointSubSequenceNumber: { N: '0' },
  parentShardId: { SS: ['shardId-00000001699990000000-99999999'] },
  pendingCheckpoint: { S: '000000000000000000012345678901234599999' },
  pendingCheckpointSubSequenceNumber: { N: '0' },
};

describe('reading a lease item by KCL 1.x rules', () => {
  it('reads every field of an item KCL 1.x wrote, with the types it reads them as', () => {
    const reading = readAsKcl1(KCL_ITEM);
    expect(reading).toEqual({
      ok: true,
      lease: {
        leaseKey: 'shardId-00000001700000000000-0a1b2c3d',
        leaseOwner: 'ip-10-0-1-17.ec2.internal:5f0c1d2e-aaaa-bbbb-cccc-0123456789ab',
        leaseCounter: 4711n,
        checkpoint: { sequenceNumber: '000000000000000000012345678901234567890', subSequenceNumber: 0n },
        pendingCheckpoint: {
          sequenceNumber: '000000000000000000012345678901234599999',
          subSequenceNumber: 0n,
        },
        ownerSwitchesSinceCheckpoint: 0n,
        parentShardIds: ['shardId-00000001699990000000-99999999'],
        childShardIds: [],
        ignored: [],
      },
    });
  });

  it('an unowned lease at a sentinel, and attributes KCL does not read, are fine', () => {
    const reading = readAsKcl1({
      leaseKey: { S: 'shardId-1' },
      leaseCounter: { N: '0' },
      checkpoint: { S: 'TRIM_HORIZON' },
      checkpointSubSequenceNumber: { N: '0' },
      ownerSwitchesSinceCheckpoint: { N: '0' },
      handoffTo: { S: 'w' },
      caughtUpAt: { N: '1' },
      streamfleetOwner: { S: 'w' },
    });
    expect(reading.ok && reading.lease.leaseOwner).toBeUndefined();
    expect(reading.ok && reading.lease.ignored).toEqual(['caughtUpAt', 'handoffTo', 'streamfleetOwner']);
  });

  it.each([
    ['a counter of another type', { leaseCounter: { S: '12' } }, 'leaseCounter is S, KCL 1.x reads it as N'],
    ['a counter that is not a long', { leaseCounter: { N: '1.5' } }, 'leaseCounter is "1.5"'],
    ['a counter beyond a long', { leaseCounter: { N: '9223372036854775808' } }, 'leaseCounter is'],
    ['no counter', { leaseCounter: undefined }, 'leaseCounter is missing'],
    ['no checkpoint', { checkpoint: undefined }, 'checkpoint is missing'],
    ['a checkpoint KCL cannot compare', { checkpoint: { S: 'abc' } }, 'neither a sequence number'],
    ['parents as a string', { parentShardId: { S: 'shardId-0' } }, 'parentShardId is S'],
    [
      'owner switches as a string',
      { ownerSwitchesSinceCheckpoint: { S: '0' } },
      'ownerSwitchesSinceCheckpoint is S',
    ],
    ['a pending checkpoint of another type', { pendingCheckpoint: { N: '5' } }, 'pendingCheckpoint is N'],
  ] as const)('names what would break KCL 1.x: %s', (_, change, problem) => {
    const item: Item = { ...KCL_ITEM };
    for (const [name, value] of Object.entries(change)) {
      if (value === undefined) delete item[name];
      else item[name] = value as AttributeValue;
    }
    const reading = readAsKcl1(item);
    expect(reading.ok).toBe(false);
    expect(reading.ok ? [] : reading.problems.join('; ')).toContain(problem);
  });

  it('knows the key of a KCL 1.x lease table, and what else a table has', () => {
    const kcl = {
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' as const }],
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' as const }],
    };
    expect(kcl1KeyProblems(kcl)).toEqual([]);
    expect(
      kcl1KeyProblems({
        KeySchema: [
          { AttributeName: 'email', KeyType: 'HASH' },
          { AttributeName: 'at', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
      }),
    ).toEqual(["its hash key is email, KCL 1.x's is leaseKey", "it has a sort key (at); KCL 1.x's has none"]);
  });

  it('renews at KCL 1.x LeaseCoordinator pace: a third of the failover time, less epsilon', () => {
    expect(kcl1RenewIntervalMs(10_000)).toBe(3_308);
  });
});

describe('adding the owner index to a lease table that lacks it', () => {
  it('a provisioned table (KCL 1.x creates it so, without a billing mode): the index gets the table’s units', () => {
    const request = ownerIndexCreation({
      TableName: 'users-replicator',
      ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 7 },
    });
    expect(request.GlobalSecondaryIndexUpdates?.[0]?.Create).toMatchObject({
      IndexName: 'LeaseOwnerToLeaseKeyIndex',
      KeySchema: [
        { AttributeName: 'leaseOwner', KeyType: 'HASH' },
        { AttributeName: 'leaseKey', KeyType: 'RANGE' },
      ],
      ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 7 },
    });
    expect(request.AttributeDefinitions).toContainEqual({ AttributeName: 'leaseOwner', AttributeType: 'S' });
  });

  it('an on-demand table: no throughput, which AWS refuses there', () => {
    const request = ownerIndexCreation({
      TableName: 'users-replicator',
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
      ProvisionedThroughput: { ReadCapacityUnits: 0, WriteCapacityUnits: 0 },
    });
    expect(request.GlobalSecondaryIndexUpdates?.[0]?.Create?.ProvisionedThroughput).toBeUndefined();
  });

  it('tells an index being built from one ready, and from none', () => {
    const index = (IndexStatus: 'CREATING' | 'ACTIVE') => ({
      GlobalSecondaryIndexes: [{ IndexName: 'LeaseOwnerToLeaseKeyIndex', IndexStatus }],
    });
    expect(ownerIndexState({})).toBe('ABSENT');
    expect(ownerIndexState(index('CREATING'))).toBe('CREATING');
    expect(ownerIndexState(index('ACTIVE'))).toBe('ACTIVE');
  });
});
