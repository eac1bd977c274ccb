/**
 * The physical limits of a backlog drain on this machine, run as a child process (bundled by the bench,
 * like dist/consumer.js is) so that it starts cold and has a core to itself exactly as the worker does.
 *
 * order-safe: reads the shard from TRIM_HORIZON (GetRecords of 1000, reading ahead while writing) and writes
 *   the replica exactly as the worker's fenced writer does — TransactWriteItems of 99 guarded Puts
 *   (`_streamfleet_seq` older or absent) plus a ConditionCheck on a lease item — with `concurrency`
 *   transactions in flight across batch boundaries. No leases, checkpoints, metrics or logs.
 * unsafe: the same reads, BatchWriteItem of 25 unconditional Puts, `concurrency` in flight.
 *
 * Tail mode (the lag limit): `iteratorType` LATEST, `expected` 0 (no end), `emptyReadSleepMs` after an empty
 * read, until `stopAt`. The loop prints `READY` once it holds its iterator, so the writer starts after it.
 *
 * Under AWS's rules (the strict layer, local/aws-rules) the loop obeys them as the worker must: reads start at
 * most every `minReadIntervalMs` (default 205 ms, just under DynamoDB Streams' 5 a second per shard), and
 * the order-safe limit that obeys the transaction rule has `concurrency` 1 (every transaction includes the
 * fence item, and two in flight that share it conflict).
 *
 * Configuration comes as JSON in BENCH_LOOP; one JSON line with the result goes to stdout.
 */
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { toChangeRecord } from '../../consumer/processor/change-record.js';
import {
  coalesce,
  type ItemChange,
  replicaItem,
  SEQUENCE_ATTRIBUTE,
} from '../../consumer/replication/replication-processor.js';
import { toOrderedSequence } from '../../core/vocabulary/sequence.js';

export interface BareLoopConfig {
  endpoint: string;
  streamArn: string;
  shardId: string;
  target: string;
  fenceTable: string;
  instanceName: string;
  expected: number;
  concurrency: number;
  mode: 'order-safe' | 'unsafe';
  iteratorType?: 'TRIM_HORIZON' | 'LATEST';
  /** Pause after an empty GetRecords (default 10 ms). */
  emptyReadSleepMs?: number;
  /** Least time between the starts of two GetRecords (default 205 ms: under 5 a second). */
  minReadIntervalMs?: number;
  /** Epoch ms at which reading stops (tail mode). */
  stopAt?: number;
}

export interface BareLoopResult {
  mode: BareLoopConfig['mode'];
  concurrency: number;
  records: number;
  /** Epoch milliseconds (performance.timeOrigin based), comparable with the parent's clock. */
  startedAt: number;
  firstWriteAt: number;
  doneAt: number;
  /** Records/s between 10 % and 90 % of the records written. */
  steadyRate: number;
  requests: number;
  retries: number;
  trimmedEvents: number;
  cpuSeconds: number;
}

const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_LOOP ?? '{}') as BareLoopConfig;
  const startedAt = now();
  const clientOptions = {
    endpoint: config.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const ddb = new DynamoDBClient(clientOptions);
  const streams = new DynamoDBStreamsClient(clientOptions);
  const chunkSize = config.mode === 'order-safe' ? 99 : 25;

  const queue: ItemChange[][] = [];
  let readDone = false;
  let wake: (() => void) | undefined;
  let space: (() => void) | undefined;
  const signal = () => {
    wake?.();
    wake = undefined;
  };

  let written = 0;
  let firstWriteAt = 0;
  let requests = 0;
  let retries = 0;
  const marks: { at: number; written: number }[] = [];

  let trimmedEvents = 0;
  const reader = async () => {
    let lastSequence: string | undefined;
    const acquire = async () => {
      const { ShardIterator } = await streams.send(
        new GetShardIteratorCommand(
          lastSequence
            ? {
                StreamArn: config.streamArn,
                ShardId: config.shardId,
                ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
                SequenceNumber: lastSequence,
              }
            : {
                StreamArn: config.streamArn,
                ShardId: config.shardId,
                ShardIteratorType: config.iteratorType ?? 'TRIM_HORIZON',
              },
        ),
      );
      return ShardIterator;
    };
    let iterator = await acquire();
    process.stdout.write('READY\n');
    let read = 0;
    const expected = config.expected > 0 ? config.expected : Number.POSITIVE_INFINITY;
    const stopAt = config.stopAt ?? Number.POSITIVE_INFINITY;
    const idle = () => new Promise((r) => setTimeout(r, config.emptyReadSleepMs ?? 10));
    const minInterval = config.minReadIntervalMs ?? 205;
    let lastReadAt = Number.NEGATIVE_INFINITY;
    while (iterator && read < expected && now() < stopAt) {
      let records: NonNullable<GetRecordsCommandOutput['Records']>;
      try {
        const wait = lastReadAt + minInterval - now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        lastReadAt = now();
        const out = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        iterator = out.NextShardIterator;
        records = out.Records ?? [];
      } catch (error) {
        // DynamoDB Local answers TrimmedDataAccessException for a shard that has no record yet: wait, re-acquire.
        if ((error as Error).name !== 'TrimmedDataAccessException') throw error;
        trimmedEvents++;
        await idle();
        iterator = await acquire();
        continue;
      }
      if (records.length === 0) {
        await idle();
        continue;
      }
      read += records.length;
      lastSequence = records.at(-1)?.dynamodb?.SequenceNumber ?? lastSequence;
      const changes = coalesce(records.map(toChangeRecord));
      for (let i = 0; i < changes.length; i += chunkSize) queue.push(changes.slice(i, i + chunkSize));
      signal();
      // Read ahead, but not unboundedly: a few batches' worth of chunks.
      while (queue.length > config.concurrency + 3 * Math.ceil(1000 / chunkSize)) {
        await new Promise<void>((r) => {
          space = r;
        });
      }
    }
    readDone = true;
    signal();
  };

  const fence: TransactWriteItem = {
    ConditionCheck: {
      TableName: config.fenceTable,
      Key: { leaseKey: { S: config.shardId } },
      ConditionExpression: 'leaseOwner = :me',
      ExpressionAttributeValues: { ':me': { S: config.instanceName } },
    },
  };

  const send = async (chunk: ItemChange[]) => {
    for (let attempt = 0; ; attempt++) {
      requests++;
      try {
        if (config.mode === 'order-safe') {
          await ddb.send(
            new TransactWriteItemsCommand({
              TransactItems: [
                fence,
                ...chunk.map(
                  (change): TransactWriteItem => ({
                    Put: {
                      TableName: config.target,
                      Item: replicaItem(change, config.instanceName),
                      ConditionExpression: 'attribute_not_exists(#seq) OR #seq < :seq',
                      ExpressionAttributeNames: { '#seq': SEQUENCE_ATTRIBUTE },
                      ExpressionAttributeValues: { ':seq': { S: toOrderedSequence(change.sequenceNumber) } },
                    },
                  }),
                ),
              ],
            }),
          );
        } else {
          let pending: WriteRequest[] = chunk.map((change) => ({
            PutRequest: { Item: replicaItem(change, config.instanceName) },
          }));
          while (pending.length > 0) {
            const out = await ddb.send(
              new BatchWriteItemCommand({ RequestItems: { [config.target]: pending } }),
            );
            pending = out.UnprocessedItems?.[config.target] ?? [];
            if (pending.length > 0) {
              retries++;
              requests++;
            }
          }
        }
        return;
      } catch (error) {
        retries++;
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, Math.min(1_000, 20 * 2 ** attempt)));
      }
    }
  };

  const lane = async () => {
    for (;;) {
      const chunk = queue.shift();
      if (!chunk) {
        if (readDone) return;
        await new Promise<void>((r) => {
          const previous = wake;
          wake = () => {
            previous?.();
            r();
          };
        });
        continue;
      }
      space?.();
      space = undefined;
      await send(chunk);
      if (written === 0) firstWriteAt = now();
      written += chunk.length;
      marks.push({ at: now(), written });
    }
  };

  await Promise.all([reader(), ...Array.from({ length: config.concurrency }, lane)]);
  const doneAt = now();
  const at = (fraction: number) => marks.find((m) => m.written >= fraction * written) ?? marks[0];
  const m10 = at(0.1);
  const m90 = at(0.9);
  const steadyRate =
    m10 && m90 && m90.at > m10.at ? ((m90.written - m10.written) / (m90.at - m10.at)) * 1000 : Number.NaN;
  const cpu = process.cpuUsage();
  const result: BareLoopResult = {
    mode: config.mode,
    concurrency: config.concurrency,
    records: written,
    startedAt,
    firstWriteAt,
    doneAt,
    steadyRate,
    requests,
    retries,
    trimmedEvents,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  ddb.destroy();
  streams.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bare-loop: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
