import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import {
  approximateItemSize,
  canonicalKey,
  coalesce,
  MalformedRecordError,
} from '../../consumer/processor/change.js';
import { chunkForTransactions, replicaItem } from '../../consumer/processor/replica-writer.js';

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
      Keys: { email: { S: email } },
      NewImage: eventName === 'REMOVE' ? undefined : { email: { S: email }, v: { S: v ?? seq } },
    },
  };
}

describe('coalescing a batch to one change per item', () => {
  it('keeps the last change of each item, in first-seen order, and counts what it stands for', () => {
    const changes = coalesce([
      record('9', 'INSERT', 'a', 'a1'),
      record('10', 'INSERT', 'b', 'b1'),
      record('11', 'MODIFY', 'a', 'a2'),
      record('100', 'REMOVE', 'b'),
      record('101', 'MODIFY', 'a', 'a3'),
    ]);
    expect(changes.map((c) => [c.id, c.kind, c.sequenceNumber, c.records])).toEqual([
      ['"email"=S:a', 'put', '101', 3],
      ['"email"=S:b', 'delete', '100', 2],
    ]);
    expect(changes[0]?.newImage?.v).toEqual({ S: 'a3' });
  });

  it('compares sequence numbers as numbers: "100" is newer than "99"', () => {
    const changes = coalesce([record('99', 'INSERT', 'a', 'old'), record('100', 'MODIFY', 'a', 'new')]);
    expect(changes[0]?.newImage?.v).toEqual({ S: 'new' });
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
    expect(() => coalesce([keysOnly])).toThrow(MalformedRecordError);
    expect(() => coalesce([keysOnly])).toThrow(/NEW_AND_OLD_IMAGES/);
  });
});

describe('replica items and transactions', () => {
  it('adds processed_by and the fixed-width sequence to the new image', () => {
    const [change] = coalesce([record('42', 'INSERT', 'a', 'x')]);
    if (!change) throw new Error('no change');
    expect(replicaItem(change, 'pod-1')).toEqual({
      email: { S: 'a' },
      v: { S: 'x' },
      processed_by: { S: 'pod-1' },
      _streamfleet_seq: { S: `${'0'.repeat(46)}42` },
    });
  });

  it('splits into transactions of at most 99 items and under the size limit', () => {
    const many = coalesce(Array.from({ length: 250 }, (_, i) => record(String(i + 1), 'INSERT', `u${i}`)));
    expect(chunkForTransactions(many).map((c) => c.length)).toEqual([99, 99, 52]);
    const big = coalesce(
      Array.from({ length: 20 }, (_, i) => record(String(i + 1), 'INSERT', `u${i}`, 'x'.repeat(390_000))),
    );
    const chunks = chunkForTransactions(big);
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks)
      expect(chunk.reduce((n, c) => n + approximateItemSize(c.newImage), 0)).toBeLessThan(4_000_000);
  });
});
