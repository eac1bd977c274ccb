/**
 * The reader of one shard, on the real DynamoDBStreamsClient (its send mocked by aws-sdk-client-mock) and a
 * fake clock: pacing under the per-shard read limit, idle time after empty reads, expired iterators, throttling
 * backoff, trimmed data, and the "read at the tip" verdict.
 */
import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DataFetcher } from '../../consumer/lifecycle/data-fetcher.js';
import { silentEvents, type WorkerEvent } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { FakeClock, flush } from '../support/fake-clock.js';

const client = new DynamoDBStreamsClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
const streams = mockClient(client);
afterEach(() => streams.reset());

function records(from: number, n: number): StreamRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    eventName: 'INSERT',
    dynamodb: { SequenceNumber: String(from + i), Keys: { id: { S: `k${from + i}` } } },
  }));
}

function error(name: string): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: 400 } });
}

function fetcher(readsPerSecond = 4, maxRecords = 100) {
  const clock = new FakeClock();
  const metrics = new WorkerMetrics();
  const events = silentEvents();
  const seen: WorkerEvent[] = [];
  events.on((event) => seen.push(event));
  const reading = new AbortController();
  const reader = new DataFetcher(
    client,
    {
      streamArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/1',
      shardId: 'shard-1',
      maxRecords,
      idleTimeBetweenReadsMs: 500,
      readsPerSecond,
    },
    clock,
    metrics,
    events,
    reading.signal,
  );
  return { clock, metrics, seen, reader, stop: () => reading.abort() };
}

/** Read times (fake clock) of each GetRecords the mock saw. */
function readTimes(clock: FakeClock): number[] {
  const times: number[] = [];
  streams.on(GetRecordsCommand).callsFake(async () => {
    times.push(clock.now());
    return { Records: records(times.length * 10, 10), NextShardIterator: `it-${times.length}` };
  });
  return times;
}

describe('data fetcher', () => {
  it('starts at most readsPerSecond reads a second on the shard, however fast batches are handed over', async () => {
    const { clock, reader } = fetcher(4);
    streams.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-0' });
    const times = readTimes(clock);
    await reader.initialize('TRIM_HORIZON');
    for (let i = 0; i < 12; i++) {
      const next = reader.next();
      await clock.advance(250);
      await next;
    }
    expect(times.length).toBeGreaterThanOrEqual(12);
    for (let i = 1; i < times.length; i++)
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(250);
  });

  it('waits the idle time after an empty read', async () => {
    const { clock, reader } = fetcher(5);
    streams.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-0' });
    const times: number[] = [];
    streams.on(GetRecordsCommand).callsFake(async () => {
      times.push(clock.now());
      return { Records: [], NextShardIterator: 'it-next' };
    });
    await reader.initialize('LATEST');
    const first = reader.next();
    await clock.advance(0);
    const batch = await first;
    expect(batch.records).toEqual([]);
    expect(batch.reachedTip).toBe(true);
    const second = reader.next();
    await clock.advance(2_000);
    await second;
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(500);
  });

  it('an expired iterator is acquired again after the last record read', async () => {
    const { clock, reader, metrics } = fetcher();
    const iteratorRequests: unknown[] = [];
    streams.on(GetShardIteratorCommand).callsFake(async (input) => {
      iteratorRequests.push(input);
      return { ShardIterator: `it-${iteratorRequests.length}` };
    });
    let calls = 0;
    streams.on(GetRecordsCommand).callsFake(async () => {
      calls++;
      if (calls === 2) throw error('ExpiredIteratorException');
      return { Records: records(calls * 100, 3), NextShardIterator: `next-${calls}` };
    });
    await reader.initialize('TRIM_HORIZON');
    const first = reader.next();
    await clock.advance(0);
    await first;
    const second = reader.next();
    await clock.advance(2_000);
    const batch = await second;
    expect(batch.records.map((r) => r.dynamodb?.SequenceNumber)).toEqual(['300', '301', '302']);
    expect(iteratorRequests[1]).toMatchObject({
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      SequenceNumber: '102',
    });
    expect((await metrics.expiredIterators.get()).values[0]?.value).toBe(1);
  });

  it('backs off on throttling, counts it, and loses nothing', async () => {
    const { clock, reader, metrics } = fetcher();
    streams.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-0' });
    let calls = 0;
    streams.on(GetRecordsCommand).callsFake(async () => {
      calls++;
      if (calls <= 3) throw error('LimitExceededException');
      return { Records: records(1, 2), NextShardIterator: 'next' };
    });
    await reader.initialize('TRIM_HORIZON');
    const next = reader.next();
    await clock.advance(20_000);
    const batch = await next;
    expect(batch.records).toHaveLength(2);
    const throttles = (await metrics.throttles.get()).values.find((v) => v.labels.api === 'GetRecords');
    expect(throttles?.value).toBe(3);
  });

  it('trimmed data: loud, counted, and reading resumes at the oldest record', async () => {
    const { clock, reader, metrics, seen } = fetcher();
    const types: string[] = [];
    streams.on(GetShardIteratorCommand).callsFake(async (input) => {
      types.push(input.ShardIteratorType ?? '');
      return { ShardIterator: `it-${types.length}` };
    });
    let calls = 0;
    streams.on(GetRecordsCommand).callsFake(async () => {
      calls++;
      if (calls === 1) throw error('TrimmedDataAccessException');
      return { Records: records(5_000, 1), NextShardIterator: 'next' };
    });
    await reader.initialize('123');
    const next = reader.next();
    await clock.advance(1_000);
    await next;
    expect(types).toEqual(['AFTER_SEQUENCE_NUMBER', 'TRIM_HORIZON']);
    expect((await metrics.trimmedDataEvents.get()).values[0]?.value).toBe(1);
    expect(seen.map((e) => e.name)).toContain('read.trimmed');
  });

  it('a full batch is not "at the tip"; a short one is; the end of the shard is the end', async () => {
    const { clock, reader } = fetcher(5, 10);
    streams.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-0' });
    let calls = 0;
    streams.on(GetRecordsCommand).callsFake(async () => {
      calls++;
      if (calls === 1) return { Records: records(1, 10), NextShardIterator: 'a' };
      if (calls === 2) return { Records: records(11, 4), NextShardIterator: 'b' };
      return { Records: records(15, 1) }; // no next iterator: the shard is closed and read to its end
    });
    await reader.initialize('TRIM_HORIZON');
    const verdicts: [boolean, boolean][] = [];
    for (let i = 0; i < 3; i++) {
      const next = reader.next();
      await clock.advance(300);
      const batch = await next;
      verdicts.push([batch.reachedTip, batch.shardEnded]);
    }
    expect(verdicts).toEqual([
      [false, false],
      [true, false],
      [true, true],
    ]);
    await flush();
  });
});
