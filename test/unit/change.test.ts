import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import { MalformedRecordError, toChangeRecord } from '../../consumer/processor/change-record.js';
import {
  approximateItemSize,
  MAX_TRANSACTION_BYTES,
  type PlannedWrite,
  planTransactions,
  planWrites,
} from '../../consumer/processor/writes.js';
import {
  canonicalKey,
  coalesce,
  MissingImageError,
  replicaItem,
  replicaWrite,
} from '../../consumer/replication/replication-processor.js';
import { InvalidWriteError } from '../../core/vocabulary/errors.js';

function record(
  seq: string,
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE',
  email: string,
  v?: string,
): StreamRecord {
  return {
    eventID: seq,
    eventName,
    dynamodb: {
      SequenceNumber: seq,
      ApproximateCreationDateTime: new Date(1_700_000_000_000),
      Keys: { email: { S: email } },
      NewImage: eventName === 'REMOVE' ? undefined : { email: { S: email }, v: { S: v ?? seq } },
      OldImage: eventName === 'INSERT' ? undefined : { email: { S: email }, v: { S: 'before' } },
    },
  };
}

const changes = (records: StreamRecord[]) => coalesce(records.map(toChangeRecord));

describe('change records (what a processor sees)', () => {
  it('unmarshals keys and images to plain values, keeping the raw record', () => {
    const raw: StreamRecord = {
      eventName: 'MODIFY',
      dynamodb: {
        SequenceNumber: '12345678901234567890',
        ApproximateCreationDateTime: new Date(1_700_000_000_000),
        Keys: { pk: { S: 'a' }, n: { N: '7' } },
        NewImage: {
          pk: { S: 'a' },
          n: { N: '7' },
          big: { N: '123456789012345678901234567890' },
          fraction: { N: '1.5' },
          precise: { N: '12345678901234567890.25' },
          tags: { SS: ['x', 'y'] },
          nested: {
            M: { on: { BOOL: true }, none: { NULL: true }, list: { L: [{ N: '1' }, { S: 'two' }] } },
          },
        },
      },
    };
    const change = toChangeRecord(raw);
    expect(change.eventName).toBe('MODIFY');
    expect(change.sequenceNumber).toBe('12345678901234567890');
    expect(change.approximateCreationTime.getTime()).toBe(1_700_000_000_000);
    expect(change.keys).toEqual({ pk: 'a', n: 7 });
    expect(change.newImage).toEqual({
      pk: 'a',
      n: 7,
      big: 123456789012345678901234567890n,
      fraction: 1.5,
      precise: Number('12345678901234567890.25'),
      tags: new Set(['x', 'y']),
      nested: { on: true, none: null, list: [1, 'two'] },
    });
    expect(change.oldImage).toBeUndefined();
    expect(change.raw).toBe(raw);
  });

  it('refuses a record without keys or a sequence number, and an unknown event name', () => {
    expect(() => toChangeRecord({ eventName: 'INSERT', dynamodb: { Keys: { a: { S: '1' } } } })).toThrow(
      MalformedRecordError,
    );
    expect(() =>
      toChangeRecord({
        eventName: 'UPSERT' as 'INSERT',
        dynamodb: { SequenceNumber: '1', Keys: { a: { S: '1' } } },
      }),
    ).toThrow(/not INSERT, MODIFY or REMOVE/);
  });
});

describe('replication: one change per item', () => {
  it('keeps the last change of each item, in first-seen order', () => {
    const result = changes([
      record('9', 'INSERT', 'a', 'a1'),
      record('10', 'INSERT', 'b', 'b1'),
      record('11', 'MODIFY', 'a', 'a2'),
      record('100', 'REMOVE', 'b'),
      record('101', 'MODIFY', 'a', 'a3'),
    ]);
    expect(result.map((c) => [c.id, c.kind, c.sequenceNumber])).toEqual([
      ['"email"=S:a', 'put', '101'],
      ['"email"=S:b', 'delete', '100'],
    ]);
    expect(result[0]?.newImage?.v).toEqual({ S: 'a3' });
  });

  it('compares sequence numbers as numbers: "100" is newer than "99"', () => {
    const result = changes([record('99', 'INSERT', 'a', 'old'), record('100', 'MODIFY', 'a', 'new')]);
    expect(result[0]?.newImage?.v).toEqual({ S: 'new' });
  });

  it('gives equal keys equal ids whatever the attribute order, and different types different ids', () => {
    expect(canonicalKey({ pk: { S: '1' }, sk: { N: '2' } })).toBe(
      canonicalKey({ sk: { N: '2' }, pk: { S: '1' } }),
    );
    expect(canonicalKey({ pk: { S: '1' } })).not.toBe(canonicalKey({ pk: { N: '1' } }));
    expect(canonicalKey({ pk: { B: new Uint8Array([1, 2]) } })).toBe(
      canonicalKey({ pk: { B: new Uint8Array([1, 2]) } }),
    );
  });

  it('refuses records without a new image (KEYS_ONLY streams) with a message that says what to change', () => {
    const keysOnly: StreamRecord = {
      eventName: 'INSERT',
      dynamodb: { SequenceNumber: '1', Keys: { email: { S: 'a' } } },
    };
    expect(() => changes([keysOnly])).toThrow(MissingImageError);
    expect(() => changes([keysOnly])).toThrow(/NEW_AND_OLD_IMAGES/);
  });

  it('adds processed_by and the fixed-width sequence to the new image, guarded and skippable', () => {
    const [change] = changes([record('42', 'INSERT', 'a', 'x')]);
    if (!change) throw new Error('no change');
    expect(replicaItem(change, 'pod-1')).toEqual({
      email: { S: 'a' },
      v: { S: 'x' },
      processed_by: { S: 'pod-1' },
      _streamfleet_seq: { S: `${'0'.repeat(46)}42` },
    });
    const write = replicaWrite(change, 'users_replica', 'pod-1');
    expect(write).toMatchObject({ sequenceNumber: '42', onConditionFailed: 'skip' });
    expect(write.item.Put?.ConditionExpression).toBe('attribute_not_exists(#seq) OR #seq < :seq');
  });
});

describe('writes planned into transactions', () => {
  const plan = (records: StreamRecord[]) =>
    planWrites(
      changes(records).map((c) => replicaWrite(c, 'users_replica', 'w')),
      'shard-1',
      records.at(-1)?.dynamodb?.SequenceNumber ?? '',
    );

  it('splits into transactions of at most 99 writes and under the size limit, in sequence order', () => {
    const many = plan(Array.from({ length: 250 }, (_, i) => record(String(i + 1), 'INSERT', `u${i}`)));
    const result = planTransactions([...many].reverse());
    if (!result.fits) throw new Error('expected a plan');
    expect(result.transactions.map((t) => t.length)).toEqual([99, 99, 52]);
    expect(result.transactions[0]?.[0]?.sequenceNumber).toBe('1');
    const big = plan(
      Array.from({ length: 20 }, (_, i) => record(String(i + 1), 'INSERT', `u${i}`, 'x'.repeat(390_000))),
    );
    const bigPlan = planTransactions(big);
    if (!bigPlan.fits) throw new Error('expected a plan');
    expect(bigPlan.transactions.length).toBeGreaterThan(2);
    for (const transaction of bigPlan.transactions)
      expect(transaction.reduce((n, w) => n + approximateItemSize(w.item.Put?.Item), 0)).toBeLessThan(
        MAX_TRANSACTION_BYTES,
      );
  });

  it('never splits the writes of one record, and says when they cannot fit one transaction', () => {
    const last = '500';
    const unattributed: PlannedWrite[] = planWrites(
      Array.from({ length: 100 }, (_, i) => ({
        Update: { TableName: 'view', Key: { k: { S: String(i) } }, UpdateExpression: 'ADD n :one' },
      })),
      'shard-1',
      last,
    );
    expect(planTransactions(unattributed)).toMatchObject({ fits: false, sequenceNumber: last, writes: 100 });
    expect(planTransactions(unattributed.slice(0, 99))).toMatchObject({ fits: true });
    const shared = planTransactions([
      ...planWrites(
        Array.from({ length: 60 }, () => ({
          item: { Delete: { TableName: 't', Key: {} } },
          sequenceNumber: '10',
        })),
        's',
        last,
      ),
      ...planWrites(
        Array.from({ length: 60 }, () => ({
          item: { Delete: { TableName: 't', Key: {} } },
          sequenceNumber: '20',
        })),
        's',
        last,
      ),
    ]);
    if (!shared.fits) throw new Error('expected a plan');
    expect(shared.transactions.map((t) => [t.length, t.at(-1)?.sequenceNumber])).toEqual([
      [60, '10'],
      [60, '20'],
    ]);
  });

  it('refuses writes it cannot commit, naming the shard, the write and what is wrong', () => {
    expect(() =>
      planWrites([{ Put: { TableName: 't', Item: {} }, Delete: { TableName: 't', Key: {} } }], 's-1', '5'),
    ).toThrow(InvalidWriteError);
    expect(() =>
      planWrites([{ item: { Put: { TableName: 't', Item: {} } }, sequenceNumber: '6' }], 's-1', '5'),
    ).toThrow(/Write 0 returned for shard s-1.*not a sequence number of this batch/);
    expect(() => planWrites([{ Put: { Item: {} } } as never], 's-1', '5')).toThrow(/no TableName/);
  });
});
