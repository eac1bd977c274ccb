/**
 * Real lineage from AWS's own emulator: DynamoDB Local driven to roll its shards over every 1.5 s while two
 * worker processes replicate a steady load. Every change must arrive, parents must finish before children.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, describe, expect, it } from 'vitest';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { startAwsRules } from '../support/aws-rules.js';
import { createReplicationTables, localClient, scanAll, stopAll, WorkerProcess } from '../support/fleet.js';
import { waitForConvergence } from '../support/replica.js';

const workers = new Set<WorkerProcess>();
let database: DynamoDbLocal | undefined;
afterAll(async () => {
  await stopAll(workers);
  await database?.stop();
});

describe('shard rollovers in DynamoDB Local', () => {
  it('two workers follow a growing chain of shards, parents before children, and lose nothing', async () => {
    database = await startDynamoDbLocal({ rolloverIntervalMs: 1_500 });
    const layer = await startAwsRules({ upstream: database.endpoint });
    const client = localClient(layer.endpoint);
    const tables = await createReplicationTables(client);
    for (const name of ['roll-a', 'roll-b']) {
      const worker = await WorkerProcess.start({
        endpoint: layer.endpoint,
        tables,
        name,
        env: { IDLE_TIME_BETWEEN_READS_MS: '200', SHARD_SYNC_INTERVAL_MS: '2000' },
      });
      workers.add(worker);
    }
    const started = database.rollovers();
    for (let i = 0; i < 300; i++) {
      await client.send(
        new PutItemCommand({
          TableName: tables.source,
          Item: { email: { S: `r${i % 120}@x` }, v: { N: String(i) } },
        }),
      );
      if (i % 30 === 29) await new Promise((r) => setTimeout(r, 250));
    }
    await database.waitForRollovers(started + 3, 20_000);
    await waitForConvergence(client, tables.source, tables.target, 60_000);

    const streams = new DynamoDBStreamsClient({
      endpoint: database.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const shards =
      (await streams.send(new DescribeStreamCommand({ StreamArn: tables.streamArn }))).StreamDescription
        ?.Shards ?? [];
    streams.destroy();
    expect(shards.length).toBeGreaterThanOrEqual(4);

    // Rollovers go on while we look: the newest shard may be younger than one shard sync, so poll for leases.
    let leases = new Map<string | undefined, Awaited<ReturnType<typeof scanAll>>[number]>();
    await expect
      .poll(
        async () => {
          leases = new Map((await scanAll(client, tables.app)).map((lease) => [lease.leaseKey?.S, lease]));
          return shards.filter((shard) => !leases.has(shard.ShardId)).map((shard) => shard.ShardId);
        },
        { timeout: 15_000 },
      )
      .toEqual([]);
    for (const shard of shards) {
      const lease = leases.get(shard.ShardId);
      if (shard.ParentShardId) expect(lease?.parentShardId?.SS).toEqual([shard.ParentShardId]);
      // Closed shards were read to their end, so their children could start.
      if (shard.SequenceNumberRange?.EndingSequenceNumber) {
        await expect
          .poll(
            async () =>
              (await scanAll(client, tables.app)).find((l) => l.leaseKey?.S === shard.ShardId)?.checkpoint?.S,
            {
              timeout: 15_000,
            },
          )
          .toBe('SHARD_END');
      }
    }
    // From the workers' logs: no child started reading before its parent was checkpointed SHARD_END.
    const firstAt = (msg: string) => {
      const times = new Map<string, number>();
      for (const worker of workers) {
        for (const line of worker.output.split('\n')) {
          if (!line.startsWith('{')) continue;
          const entry = JSON.parse(line) as { msg?: string; shardId?: string; time?: string };
          if (entry.msg !== msg || !entry.shardId || !entry.time) continue;
          const at = Date.parse(entry.time);
          times.set(entry.shardId, Math.min(at, times.get(entry.shardId) ?? at));
        }
      }
      return times;
    };
    const ended = firstAt('shard finished (SHARD_END checkpointed)');
    const reading = firstAt('shard consumer initializing: reading starts');
    let ordered = 0;
    for (const shard of shards) {
      const parentEnd = shard.ParentShardId ? ended.get(shard.ParentShardId) : undefined;
      const childStart = shard.ShardId ? reading.get(shard.ShardId) : undefined;
      if (parentEnd === undefined || childStart === undefined) continue;
      expect(childStart, `${shard.ShardId} started before its parent ended`).toBeGreaterThanOrEqual(
        parentEnd,
      );
      ordered++;
    }
    expect(ordered).toBeGreaterThanOrEqual(3);
    const completed = await Promise.all(
      [...workers].map((w) => w.metric('streamfleet_shards_completed_total')),
    );
    expect(completed.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
