/**
 * The worker under AWS's rules, through the strict layer (local/aws-rules) that every test talks to:
 *
 * - its renewals race its own fenced transactions on the lease item and never collide (the lease item gate),
 *   and never lose the lease;
 * - a zombie's transactions hold the lease item for a moment (AWS models a transaction as ongoing while it is
 *   prepared, even one whose condition fails): the owner's renewals are refused for a conflict, are retried
 *   within the pass, and the lease is never lost, while the zombie writes nothing;
 * - its reads stay under five GetRecords a second on the shard, through a backlog and under steady load.
 *
 * Counters are the layer's own, per table and per shard, so other test files sharing the layer do not count.
 */
import { BatchWriteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DynamoDBLeaseRefresher } from '../../consumer/leases/dynamodb-lease-refresher.js';
import { LeaseCoordinator } from '../../consumer/leases/lease-coordinator.js';
import { LeaseItemGate } from '../../consumer/leases/lease-item-gate.js';
import { silentEvents } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { TransactionCommitter } from '../../consumer/processor/transaction-committer.js';
import { systemClock } from '../../core/vocabulary/clock.js';
import { type AwsRulesStats, fetchAwsRulesStats } from '../../local/aws-rules/index.js';
import { replicationTransactions } from '../support/batch-runner.js';
import {
  createEmailTable,
  createReplicationTables,
  localClient,
  stopAll,
  uniqueName,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';
import { waitForConvergence } from '../support/replica.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const silent = pino({ level: 'silent' });
const SHARD = 'shardId-under-rules';
const workers = new Set<WorkerProcess>();
afterAll(() => stopAll(workers));

function conflictsOn(stats: AwsRulesStats, table: string) {
  return (
    stats.refused.transactionConflicts.byTable[table] ?? { cancelledTransactions: 0, refusedSingleWrites: 0 }
  );
}

/**
 * A lease table with one lease held by `owner`'s coordinator (renewing every 100 ms, thirty times as often as
 * the default, so that renewals and transactions meet often), and a target table.
 */
async function heldLease(owner: string) {
  const prefix = uniqueName('race');
  const target = `${prefix}-replica`;
  const leaseTable = `${prefix}-app`;
  await createEmailTable(client, target);
  const gate = new LeaseItemGate(systemClock);
  const metrics = new WorkerMetrics();
  const refresher = new DynamoDBLeaseRefresher(client, leaseTable, systemClock, {
    onRequest: (operation) => metrics.leaseTableRequests.inc({ operation }),
    gate,
    renewalMaxWaitMs: 750,
  });
  await refresher.createLeaseTableIfNotExists();
  await refresher.createLeaseIfNotExists({
    leaseKey: SHARD,
    checkpoint: 'TRIM_HORIZON',
    parentShardIds: [],
    childShardIds: [],
  });
  const coordinator = new LeaseCoordinator(
    refresher,
    {
      workerId: owner,
      leaseDurationMs: 3_000,
      renewIntervalMs: 100,
      takerIntervalMs: 500,
      scanIntervalMs: 30_000,
      maxLeasesPerWorker: 10,
      maxLeasesToStealAtOnce: 1,
      ownerIndex: true,
    },
    systemClock,
    silent,
    metrics,
    silentEvents(),
  );
  await coordinator.takerPass();
  expect(coordinator.isHeld(SHARD)).toBe(true);
  /** A worker's fenced commits of replication's writes (its own gate: one per process). */
  const writer = (instanceName: string, writerGate: LeaseItemGate) => {
    const committer = new TransactionCommitter({
      client,
      leaseTableName: leaseTable,
      instanceName,
      gate: writerGate,
      clock: systemClock,
      metrics: new WorkerMetrics(),
      events: silentEvents(),
    });
    return {
      write: (records: StreamRecord[], context: Parameters<TransactionCommitter['commit']>[1]) =>
        committer.commit(replicationTransactions(records, target, instanceName, SHARD), context),
    };
  };
  return { target, leaseTable, gate, metrics, coordinator, refresher, writer };
}

function batch(from: number, size: number): StreamRecord[] {
  return Array.from({ length: size }, (_, i) => ({
    eventName: 'INSERT',
    dynamodb: {
      SequenceNumber: String(from + i),
      Keys: { email: { S: `u${(from + i) % 500}@x` } },
      NewImage: { email: { S: `u${(from + i) % 500}@x` }, n: { N: String(from + i) } },
    },
  }));
}

describe('worker under AWS rules', () => {
  it("renewals racing the owner's own fenced transactions never collide with them and never lose the lease", async () => {
    const { leaseTable, gate, metrics, coordinator, writer } = await heldLease('owner');
    coordinator.start();
    const own = writer('owner', gate);
    const signal = new AbortController().signal;
    let sequence = 1_000;
    const updates = async () =>
      (await metrics.leaseTableRequests.get()).values.find((v) => v.labels.operation === 'UpdateItem')
        ?.value ?? 0;
    const renewalsBefore = await updates();
    // About 4 s of back-to-back transactions, each moving the checkpoint, while the lease renews every 100 ms.
    for (let i = 0; i < 80; i++) {
      const changes = batch(sequence, 20);
      sequence += 20;
      const outcome = await own.write(changes, {
        shardId: SHARD,
        isHeld: () => coordinator.isHeld(SHARD),
        signal,
        checkpoint: { sequenceNumber: String(sequence - 1) },
      });
      expect(outcome).toMatchObject({ status: 'written', checkpointed: true });
      expect(coordinator.isHeld(SHARD)).toBe(true);
    }
    await coordinator.stop();
    const stats = await fetchAwsRulesStats(endpoint);
    expect(stats.rules.transactionConflicts).toBe(true);
    expect(conflictsOn(stats, leaseTable)).toEqual({ cancelledTransactions: 0, refusedSingleWrites: 0 });
    expect((await metrics.leaseLosses.get()).values[0]?.value ?? 0).toBe(0);
    // The race was real: the lease was renewed many times while the transactions ran.
    expect((await updates()) - renewalsBefore).toBeGreaterThanOrEqual(10);
  });

  it("a zombie's transactions make the owner's renewals conflict: they are retried and the lease is kept; the zombie writes nothing", async () => {
    const { target, leaseTable, metrics, coordinator, writer } = await heldLease('owner');
    coordinator.start();
    // A former owner still sending fenced transactions (its own process: its own gate).
    const zombie = writer('zombie', new LeaseItemGate(systemClock));
    const signal = new AbortController().signal;
    const before = conflictsOn(await fetchAwsRulesStats(endpoint), leaseTable).refusedSingleWrites;
    let refused = 0;
    for (let i = 0; i < 150 && refused < 5; i++) {
      const outcome = await zombie.write(batch(50_000 + i * 10, 10), {
        shardId: SHARD,
        isHeld: () => true, // it has not noticed
        signal,
        checkpoint: { sequenceNumber: String(50_000 + i * 10 + 9) },
      });
      expect(outcome).toEqual({ status: 'lease-lost' }); // the fence refuses every one of them
      refused = conflictsOn(await fetchAwsRulesStats(endpoint), leaseTable).refusedSingleWrites - before;
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(coordinator.isHeld(SHARD)).toBe(true);
    await coordinator.stop();
    expect(refused).toBeGreaterThan(0); // renewals did meet the zombie's transactions
    expect((await metrics.leaseLosses.get()).values[0]?.value ?? 0).toBe(0);
    const conflicts = (await metrics.transactionConflicts.get()).values.reduce((n, v) => n + v.value, 0);
    expect(conflicts).toBeGreaterThan(0);
    const written = await client.send(
      new PutItemCommand({
        TableName: target,
        Item: { email: { S: 'probe@x' } },
        ReturnValues: 'ALL_OLD',
      }),
    );
    expect(written.Attributes).toBeUndefined();
  });

  it('reads at most five GetRecords a second on the shard, through a backlog and under steady load', async () => {
    const tables = await createReplicationTables(client);
    // A backlog read in many small batches: 1,500 changes, 50 records a read.
    for (let i = 0; i < 1_500; i += 25) {
      await client.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [tables.source]: Array.from({ length: 25 }, (_, j) => ({
              PutRequest: { Item: { email: { S: `b${i + j}@x` }, n: { N: String(i + j) } } },
            })),
          },
        }),
      );
    }
    const worker = await WorkerProcess.start({
      endpoint,
      tables,
      name: 'paced',
      env: { MAX_RECORDS: '50' },
    });
    workers.add(worker);
    await waitFor(async () => (await worker.metric('streamfleet_records_processed_total')) >= 1_500, {
      timeoutMs: 90_000,
      message: 'the backlog to be replicated',
    });
    // Steady load for a few seconds.
    for (let i = 0; i < 100; i++) {
      await client.send(
        new PutItemCommand({ TableName: tables.source, Item: { email: { S: `s${i}@x` }, n: { N: '1' } } }),
      );
      await new Promise((r) => setTimeout(r, 30));
    }
    await waitForConvergence(client, tables.source, tables.target);
    const streams = new DynamoDBStreamsClient({
      endpoint: inject('ddbDirectEndpoint'),
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const shards =
      (await streams.send(new DescribeStreamCommand({ StreamArn: tables.streamArn }))).StreamDescription
        ?.Shards ?? [];
    streams.destroy();
    const stats = await fetchAwsRulesStats(endpoint);
    expect(stats.rules.getRecordsRate).toBe(true);
    for (const shard of shards) {
      const id = shard.ShardId ?? '';
      expect(stats.streams.getRecordsByShard[id] ?? 0).toBeGreaterThanOrEqual(30); // it was read a lot
      expect(stats.streams.peakGetRecordsPerSecondByShard[id] ?? 0).toBeLessThanOrEqual(5);
      expect(stats.refused.getRecordsRate.byShard[id] ?? 0).toBe(0);
      expect(stats.refused.readersPerShard.byShard[id] ?? 0).toBe(0);
    }
    expect(await worker.metric('streamfleet_throttles_total')).toBe(0);
  });
});
