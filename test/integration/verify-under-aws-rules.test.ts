/**
 * The scheduled replication check under AWS's stream rules, during steady load: two real workers replicate
 * through the strict layer (local/aws-rules: 5 GetRecords a second and 2 readers per shard, 10 DescribeStream
 * a second), and the check runs through the same layer with a counting proxy in front of it that sees only
 * the check's own requests. The check reads no stream record (no GetShardIterator, no GetRecords: only
 * DescribeStream, a listing), the workers get no read refused while it runs, its lag comes from the workers'
 * lease items, and the changes in flight under load are not reported as differing.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../core/fleet/fleet.js';
import { scanLeases } from '../../core/fleet/fleet-state.js';
import { verifyReplication } from '../../core/verification/checks.js';
import { AwsRulesProxy, type AwsRulesStats } from '../../local/aws-rules/index.js';
import { emulatorEndpoint } from '../support/aws-rules.js';
import { FaultProxy } from '../support/fault-proxy.js';
import {
  createReplicationTables,
  localClient,
  type ReplicationTables,
  stopAll,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';
import { FAST_WORKER_ENV } from '../workflows/local-fleet.js';

const workers = new Set<WorkerProcess>();
let layer: AwsRulesProxy;
let counting: FaultProxy;
let client: ReturnType<typeof localClient>;
let tables: ReplicationTables;

beforeAll(async () => {
  layer = await AwsRulesProxy.start({ upstream: emulatorEndpoint() });
  counting = await FaultProxy.start({ upstream: layer.endpoint });
  client = localClient(layer.endpoint);
  tables = await createReplicationTables(client);
});

afterAll(async () => {
  await stopAll(workers);
  client?.destroy();
  await counting?.close();
  await layer?.close();
});

const refusedReads = (stats: AwsRulesStats) => ({
  getRecordsRate: stats.refused.getRecordsRate.total,
  readersPerShard: stats.refused.readersPerShard.total,
  describeStreamRate: stats.refused.describeStreamRate.total,
});

describe('a verify run during steady load', () => {
  it('adds no stream read, costs the workers no throttled read, and reports no change in flight', async () => {
    for (const name of ['verify-w1', 'verify-w2']) {
      const worker = await WorkerProcess.start({
        endpoint: layer.endpoint,
        tables,
        name,
        env: FAST_WORKER_ENV,
      });
      workers.add(worker);
    }
    // Steady load: 25 writes a second into the source, new items and updates of recent ones.
    let written = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        const i = written++;
        await client.send(
          new PutItemCommand({
            TableName: tables.source,
            Item: { email: { S: `user-${i % 150}@example.com` }, n: { N: String(i) } },
          }),
        );
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    // The workers have taken the shard and recorded progress on its lease item.
    await waitFor(
      async () =>
        (await scanLeases(client, tables.app))?.some(
          (l) => l.leaseOwner !== undefined && (l.caughtUpAt ?? l.lastRecordCreatedAt) !== undefined,
        ),
      { timeoutMs: 30_000, message: 'a lease with an owner and recorded progress' },
    );
    await waitFor(() => written > 200, { timeoutMs: 30_000, message: '200 writes' });

    const before = layer.stats();
    const control = {
      dynamodb: localClient(counting.endpoint),
      streams: new DynamoDBStreamsClient({
        endpoint: counting.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    };
    const fleet = parseFleet({
      name: 'verify-under-rules',
      clusterName: 'local',
      sourceTableName: tables.source,
      replicaTableName: tables.target,
      applicationName: tables.app,
      // 150 keys: the budget pays for comparing every one, so nothing is left to chance.
      // DynamoDB Local stamps ApproximateCreationDateTime to the minute (AWS: to the second), and under
      // steady load no read comes back empty to refresh caughtUpAt: the bound here may reach a minute.
      checks: { readBudget: 2_000, recheckAfterMs: 2_000, maxLagMs: 120_000 },
    });
    const verdict = await verifyReplication(control, { fleet });
    const after = layer.stats();
    loading = false;
    await load;
    control.dynamodb.destroy();
    control.streams.destroy();

    // The check's own requests: a listing of the stream, never a read of it.
    const operations = Object.fromEntries(counting.operations);
    expect(operations.GetRecords ?? 0).toBe(0);
    expect(operations.GetShardIterator ?? 0).toBe(0);
    expect(operations.DescribeStream ?? 0).toBeGreaterThanOrEqual(1);
    // The workers were reading all along, and had none of their reads refused while the check ran.
    const shardReads = (s: AwsRulesStats) =>
      Object.values(s.streams.getRecordsByShard).reduce((a, b) => a + b, 0);
    expect(shardReads(after)).toBeGreaterThan(shardReads(before));
    expect(refusedReads(after)).toEqual(refusedReads(before));

    // Lag from the lease items; every key compared; what was in flight settled or is counted as in flight.
    const f = verdict.figures;
    expect(f.lag.byStatus.measured).toBeGreaterThanOrEqual(1);
    expect(f.lag.boundMs).not.toBeNull();
    expect(f.sample.source.census).toBe(true);
    expect(f.compared).toBe(150);
    expect({ missing: f.missing, differing: f.differing, extra: f.extra }).toEqual({
      missing: 0,
      differing: 0,
      extra: 0,
    });
    expect(verdict.healthy).toBe(true);
    expect(f.readUnits.total).toBeLessThanOrEqual(2_000);
  }, 120_000);
});
