/**
 * The strict layer's DynamoDB Streams limits as pure logic with a fake clock, the iterator reading and
 * the rule's answers. No network.
 */
import { describe, expect, it } from 'vitest';
import { BufferedRequest } from '../../local/aws-rules/rule.js';
import {
  nextShardIteratorIn,
  type ShardRef,
  shardOfIterator,
} from '../../local/aws-rules/shard-iterators.js';
import { AwsRulesStatsRecorder } from '../../local/aws-rules/stats.js';
import { SlidingWindow, StreamLimits } from '../../local/aws-rules/stream-limits.js';
import { StreamLimitsRule } from '../../local/aws-rules/stream-limits-rule.js';
import { ALL_RULES_ON } from '../../local/aws-rules/switches.js';

const ARN = 'arn:aws:dynamodb:ddblocal:000000000000:table/users/stream/2026-01-01T00:00:00.000';
const SHARD: ShardRef = { streamArn: ARN, shardId: 'shardId-00000001796229866273-92e25e05' };
const OTHER_SHARD: ShardRef = { streamArn: ARN, shardId: 'shardId-00000001796229866274-aaaaaaaa' };
const ON = ALL_RULES_ON;

class ManualClock {
  constructor(public time = 1_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** DynamoDB Local's shape: `<arn>|001|base64("<shard>|<sequence>|<ms>")`. */
function ddbLocalIterator(shard: ShardRef, sequence: number, issuedAt = 1_796_229_866_406): string {
  const inner = `${shard.shardId}|${String(sequence).padStart(21, '0')}|${String(issuedAt).padStart(30, '0')}`;
  return `${shard.streamArn}|001|${Buffer.from(inner).toString('base64')}`;
}

function setUp(config: Partial<ConstructorParameters<typeof StreamLimits>[0]> = {}) {
  const clock = new ManualClock();
  const limits = new StreamLimits(
    {
      getRecordsPerShardPerSecond: 5,
      describeStreamPerSecond: 10,
      readersPerShard: 2,
      readerIdleMs: 1_000,
      ...config,
    },
    clock,
    () => undefined, // only iterators the limits have seen, unless a test says otherwise
  );
  return { clock, limits };
}

/** A reader chain: its GetShardIterator, then each GetRecords continued with a fresh next iterator. */
function reader(limits: StreamLimits, name: string, shard: ShardRef = SHARD) {
  let iterator = `${name}-0`;
  let step = 0;
  limits.iteratorIssued(shard, iterator);
  return {
    read() {
      const verdict = limits.getRecords(iterator, ON);
      if (verdict.kind === 'accepted') {
        step += 1;
        const next = `${name}-${step}`;
        limits.getRecordsAnswered(iterator, next);
        iterator = next;
      }
      return verdict.kind === 'refused' ? verdict.rule : verdict.kind;
    },
    endOfShard() {
      limits.getRecordsAnswered(iterator, undefined);
    },
  };
}

describe('SlidingWindow', () => {
  it('accepts at most the limit in any window, and refused calls do not count', () => {
    const window = new SlidingWindow(5, 1_000);
    const at = (t: number) => window.tryTake(t);
    expect([0, 100, 200, 300, 400].map(at)).toEqual([true, true, true, true, true]);
    expect([500, 900, 999].map(at)).toEqual([false, false, false]);
    expect(at(1_000)).toBe(true); // the call at 0 has left the window
    expect(at(1_050)).toBe(false);
    expect(at(1_100)).toBe(true);
  });
});

describe('StreamLimits: GetRecords rate', () => {
  it('refuses a 6th GetRecords on a shard within a second, and accepts again as the window slides', () => {
    const { clock, limits } = setUp();
    const one = reader(limits, 'a');
    const results = [];
    for (let i = 0; i < 6; i += 1) {
      results.push(one.read());
      clock.advance(100);
    }
    expect(results).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'getRecordsRate']);
    clock.advance(400); // t = 1,000 ms since the first accepted call
    expect(one.read()).toBe('accepted');
  });

  it('counts each shard on its own', () => {
    const { limits } = setUp();
    const a = reader(limits, 'a', SHARD);
    const b = reader(limits, 'b', OTHER_SHARD);
    for (let i = 0; i < 5; i += 1) a.read();
    expect(b.read()).toBe('accepted');
    expect(a.read()).toBe('getRecordsRate');
  });

  it('with the switch off, lets every call through', () => {
    const { limits } = setUp();
    limits.iteratorIssued(SHARD, 'it');
    const off = { ...ON, getRecordsRate: false };
    const verdicts = Array.from({ length: 20 }, () => limits.getRecords('it', off).kind);
    expect(new Set(verdicts)).toEqual(new Set(['accepted']));
  });
});

describe('StreamLimits: readers per shard', () => {
  it('refuses a third reader while two are active, and admits it once one has been idle for a second', () => {
    const { clock, limits } = setUp({ getRecordsPerShardPerSecond: 100 });
    const first = reader(limits, 'a');
    const second = reader(limits, 'b');
    const third = reader(limits, 'c');
    expect([first.read(), second.read(), third.read()]).toEqual(['accepted', 'accepted', 'readersPerShard']);
    expect(limits.activeReaders(SHARD)).toBe(2);

    clock.advance(600);
    expect(first.read()).toBe('accepted'); // established readers keep reading
    clock.advance(400); // second: 1,000 ms since its latest GetRecords
    expect(third.read()).toBe('accepted');
    expect(second.read()).toBe('readersPerShard');
  });

  it('does not refuse an established reader because a third one asked for an iterator', () => {
    const { limits } = setUp({ getRecordsPerShardPerSecond: 100 });
    const first = reader(limits, 'a');
    const second = reader(limits, 'b');
    reader(limits, 'c');
    expect([first.read(), second.read(), first.read()]).toEqual(['accepted', 'accepted', 'accepted']);
  });

  it('counts a reader as active from its GetShardIterator, before it reads', () => {
    const { limits } = setUp();
    reader(limits, 'a');
    reader(limits, 'b');
    expect(reader(limits, 'c').read()).toBe('readersPerShard');
  });

  it('follows a chain through its next iterators, and ends it at the end of the shard', () => {
    const { limits } = setUp({ getRecordsPerShardPerSecond: 100 });
    const first = reader(limits, 'a');
    const second = reader(limits, 'b');
    for (let i = 0; i < 4; i += 1) expect([first.read(), second.read()]).toEqual(['accepted', 'accepted']);
    first.endOfShard();
    expect(reader(limits, 'c').read()).toBe('accepted');
  });

  it('with the switch off, lets a third reader through', () => {
    const { limits } = setUp();
    reader(limits, 'a').read();
    reader(limits, 'b').read();
    limits.iteratorIssued(SHARD, 'c-0');
    expect(limits.getRecords('c-0', { ...ON, readersPerShard: false }).kind).toBe('accepted');
  });

  it('takes a rate-refused reader as still active: it is one of the readers, being throttled', () => {
    const { limits } = setUp({ getRecordsPerShardPerSecond: 1 });
    const first = reader(limits, 'a');
    const second = reader(limits, 'b');
    expect([first.read(), second.read()]).toEqual(['accepted', 'getRecordsRate']);
    expect(limits.activeReaders(SHARD)).toBe(2);
  });
});

describe('StreamLimits: attribution and DescribeStream', () => {
  it('reads the shard out of an iterator it has not seen, and counts one it cannot read as unattributed', () => {
    const clock = new ManualClock();
    const limits = new StreamLimits(undefined, clock);
    expect(limits.getRecords(ddbLocalIterator(SHARD, 4), ON)).toEqual({ kind: 'accepted', shard: SHARD });
    expect(limits.getRecords('opaque-aws-iterator', ON)).toEqual({ kind: 'unattributed' });
  });

  it('refuses the 11th DescribeStream of a stream within a second, per stream ARN', () => {
    const { clock, limits } = setUp();
    const calls = Array.from({ length: 11 }, () => {
      clock.advance(50);
      return limits.describeStream(ARN, ON);
    });
    expect(calls.filter(Boolean)).toHaveLength(10);
    expect(calls[10]).toBe(false);
    expect(limits.describeStream(`${ARN}-other`, ON)).toBe(true);
    expect(limits.describeStream(ARN, { ...ON, describeStreamRate: false })).toBe(true);
    clock.advance(500);
    expect(limits.describeStream(ARN, ON)).toBe(true);
  });

  it('forgets chains and windows nothing can use any more', () => {
    const { clock, limits } = setUp();
    for (let i = 0; i < 50; i += 1) reader(limits, `r${i}`, { ...SHARD, shardId: `shard-${i}` }).read();
    limits.describeStream(ARN, ON);
    expect(limits.size().shards).toBe(50);
    clock.advance(16 * 60_000);
    limits.describeStream(ARN, ON); // any call moves the sweep
    expect(limits.size()).toEqual({ shards: 0, iterators: 0, describeWindows: 1 });
  });
});

describe('shard iterators', () => {
  it("reads DynamoDB Local's iterators and the scripted stream's", () => {
    expect(shardOfIterator(ddbLocalIterator(SHARD, 1))).toEqual(SHARD);
    const scripted = `${ARN}|1|${Buffer.from(JSON.stringify({ shardId: 'shardId-1', position: 3, generation: 0 })).toString('base64url')}`;
    expect(shardOfIterator(scripted)).toEqual({ streamArn: ARN, shardId: 'shardId-1' });
    for (const other of ['', 'AAAA', `${ARN}|001|bm90IGEgc2hhcmQ=`, 'arn:aws:kinesis:x|1|e30=']) {
      expect(shardOfIterator(other)).toBeUndefined();
    }
  });

  it('finds NextShardIterator at the end of a GetRecords answer, and none at the end of a shard', () => {
    const next = ddbLocalIterator(SHARD, 9);
    const records = [{ dynamodb: { NewImage: { NextShardIterator: { S: '"NextShardIterator":"fake"' } } } }];
    expect(nextShardIteratorIn(JSON.stringify({ Records: records, NextShardIterator: next }))).toBe(next);
    expect(nextShardIteratorIn(JSON.stringify({ Records: records }))).toBeUndefined();
    expect(nextShardIteratorIn('{"Records":[],"NextShardIterator":null}')).toBeUndefined();
    expect(nextShardIteratorIn('{"Records": [], "NextShardIterator" : "a\\/b"}')).toBe('a/b');
  });
});

describe('StreamLimitsRule', () => {
  function request(operation: string, body: unknown) {
    return new BufferedRequest('streams', operation, {}, Buffer.from(JSON.stringify(body)));
  }

  it('answers LimitExceededException and counts refusals by rule and shard', () => {
    const clock = new ManualClock();
    const stats = new AwsRulesStatsRecorder();
    const rule = new StreamLimitsRule(new StreamLimits(undefined, clock), stats);
    const issue = rule.admit(request('GetShardIterator', { StreamArn: ARN, ShardId: SHARD.shardId }), ON);
    if (issue.kind !== 'pass') throw new Error('refused');
    const iterator = ddbLocalIterator(SHARD, 1);
    issue.watch?.settle({
      kind: 'answered',
      status: 200,
      tail: JSON.stringify({ ShardIterator: iterator }),
      complete: true,
    });

    const answers = Array.from({ length: 6 }, () =>
      rule.admit(request('GetRecords', { ShardIterator: iterator }), ON),
    );
    const last = answers[5];
    expect(answers.slice(0, 5).map((a) => a.kind)).toEqual(Array(5).fill('pass'));
    if (last?.kind !== 'refuse') throw new Error('not refused');
    expect(JSON.parse(last.reply.body)).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#LimitExceededException',
      message: `Rate exceeded for shard ${SHARD.shardId} in stream ${ARN}`,
    });
    const snapshot = stats.snapshot(ON);
    expect(snapshot.refused.getRecordsRate).toEqual({ total: 1, byShard: { [SHARD.shardId]: 1 } });
    expect(snapshot.streams.getRecordsByShard).toEqual({ [SHARD.shardId]: 5 });
    expect(snapshot.streams.peakGetRecordsPerSecondByShard).toEqual({ [SHARD.shardId]: 5 });

    clock.advance(1_000); // the peak is measured on the layer's clock, as the limit is
    rule.admit(request('GetRecords', { ShardIterator: iterator }), ON);
    expect(stats.snapshot(ON).streams).toMatchObject({
      getRecordsByShard: { [SHARD.shardId]: 6 },
      peakGetRecordsPerSecondByShard: { [SHARD.shardId]: 5 },
    });
  });

  it('inspects only what its switches need', () => {
    const rule = new StreamLimitsRule(new StreamLimits(), new AwsRulesStatsRecorder());
    const head = (operation: string) => ({ service: 'streams' as const, operation, headers: {} });
    const none = {
      transactionConflicts: true,
      getRecordsRate: false,
      readersPerShard: false,
      describeStreamRate: false,
      tableUpdates: true,
      iam: true,
    };
    expect(
      ['GetRecords', 'GetShardIterator', 'DescribeStream', 'ListStreams'].map((op) =>
        rule.inspects(head(op), ON),
      ),
    ).toEqual([true, true, true, false]);
    expect(
      ['GetRecords', 'GetShardIterator', 'DescribeStream'].some((op) => rule.inspects(head(op), none)),
    ).toBe(false);
  });
});
