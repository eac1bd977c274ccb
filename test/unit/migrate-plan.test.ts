/**
 * `streamfleet migrate --from-kcl`, the pure part (cli/migrate-plan.ts): what Streamfleet will do with each lease
 * of a KCL 1.x table, told from two readings of the table and the stream's shards; and the help text's width.
 */
import type { AttributeValue, TableDescription } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { HELP } from '../../cli/args.js';
import { type MigrationInput, planMigration } from '../../cli/migrate-plan.js';
import { InvalidInputError, PreconditionError } from '../../core/vocabulary/errors.js';
import { kcl1Item } from '../support/fake-kcl1.js';

const TABLE: TableDescription = {
  TableName: 'users-replicator',
  TableArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/users-replicator',
  KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
  AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
  ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 10 },
};
const STREAM = 'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-01-01T00:00:00.000';
const shard = (shardId: string, parentShardId?: string, ending?: string) => ({
  shardId,
  parentShardId,
  startingSequenceNumber: '100',
  endingSequenceNumber: ending,
});

function input(
  items: Record<string, AttributeValue>[],
  overrides: Partial<MigrationInput> = {},
): MigrationInput {
  return {
    table: TABLE,
    before: items,
    after: items,
    watchedMs: 11_000,
    failoverMs: 10_000,
    streamArn: STREAM,
    shards: [
      shard('p', undefined, '500'),
      shard('c1', 'p'),
      shard('c2', 'p'),
      shard('done', undefined, '900'),
    ],
    trimmed: [],
    foreignCheckpoints: [],
    ...overrides,
  };
}

const ITEMS = [
  kcl1Item({
    leaseKey: 'p',
    checkpoint: '300',
    leaseOwner: 'java-1',
    leaseCounter: 9,
    pendingCheckpoint: '350',
  }),
  kcl1Item({ leaseKey: 'c1', checkpoint: 'TRIM_HORIZON', parentShardIds: ['p'] }),
  kcl1Item({ leaseKey: 'c2', checkpoint: 'LATEST', parentShardIds: ['p'] }),
  kcl1Item({ leaseKey: 'done', checkpoint: 'SHARD_END', leaseOwner: 'java-1', leaseCounter: 4 }),
  kcl1Item({ leaseKey: 'gone', checkpoint: 'SHARD_END' }),
];

describe('planning the take-over of a KCL 1.x lease table', () => {
  it('says per shard what Streamfleet will do: resume, wait for the parent, oldest, latest, nothing', () => {
    const plan = planMigration(input(ITEMS));
    expect(plan.ready).toBe(true);
    expect(
      Object.fromEntries(plan.shards.map((s) => [s.shardId, [s.action, s.waitsFor, s.children]])),
    ).toEqual({
      p: ['resume-after-checkpoint', [], ['c1', 'c2']],
      c1: ['from-oldest-record', ['p'], []],
      c2: ['from-latest-record', ['p'], []],
      done: ['finished', [], []],
      gone: ['finished', [], []],
    });
    const p = plan.shards.find((s) => s.shardId === 'p');
    expect(p).toMatchObject({ pendingCheckpoint: '350', owner: 'java-1', renewed: false });
    expect(p?.says).toContain('reads after 300');
    expect(plan.shards.find((s) => s.shardId === 'c1')?.says).toContain('once p finished');
    expect(plan.shards.find((s) => s.shardId === 'gone')?.inStream).toBe(false);
  });

  it('a counter that moved during the watch is a live owner: not ready, its leases left to it', () => {
    const after = ITEMS.map((item) =>
      item.leaseKey?.S === 'done' ? { ...item, leaseCounter: { N: '6' } } : item,
    );
    const plan = planMigration(input(ITEMS, { after }));
    expect(plan.ready).toBe(false);
    expect(plan.renewing).toEqual([{ owner: 'java-1', leases: ['done'] }]);
    // A finished lease renewed (the adapter's StreamsLeaseTaker holds finished leases too) still means a live worker.
    expect(plan.shards.find((s) => s.shardId === 'done')?.renewed).toBe(true);
  });

  it('an unfinished lease whose shard aged out of the stream: records gone (PreconditionError, exit 3)', () => {
    const items = [...ITEMS, kcl1Item({ leaseKey: 'old', checkpoint: '120' })];
    expect(() => planMigration(input(items))).toThrow(PreconditionError);
    expect(() => planMigration(input(items))).toThrow(
      'old: every record after 120, the shard itself has aged out of the stream',
    );
  });

  it('a checkpoint behind the trim horizon names what is gone', () => {
    const trimmed = [{ shardId: 'p', checkpoint: '300', firstAvailable: '420' }];
    expect(() => planMigration(input(ITEMS, { trimmed }))).toThrow('p: the records after 300 and before 420');
  });

  it('leases of another stream, and AT_TIMESTAMP checkpoints (Kinesis only), are bad input (exit 2)', () => {
    expect(() => planMigration(input(ITEMS, { shards: [shard('x')] }))).toThrow(InvalidInputError);
    const kinesis = [kcl1Item({ leaseKey: 'p', checkpoint: 'AT_TIMESTAMP' })];
    expect(() => planMigration(input(kinesis))).toThrow(/AT_TIMESTAMP/);
  });

  it('the help text fits 80 columns', () => {
    for (const line of HELP.migrate.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });
});
