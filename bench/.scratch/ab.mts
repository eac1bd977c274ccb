// A/B of the consumer prototype vs the same snapshot unmodified, alternating in one run on one stream.
import { writeFileSync } from 'node:fs';
import { startDynamoDbLocal } from '/work/main/local/dynamodb-local.js';
import { localClient } from '/work/main/test/support/fleet.js';
import { createTable, streamShards, streamsClient } from '/work/main/bench/lib/ddb.js';
import { bundleLoops } from '/work/main/bench/lib/bundle.js';
import { runCleanups, installExitHandlers, onCleanup } from '/work/main/bench/lib/cleanup.js';
import { findJavaPid } from '/work/main/bench/lib/proc.js';
import { workerPhase } from '/work/main/bench/benchmarks/lag.js';
installExitHandlers();
const loops = await bundleLoops();
const ddb = await startDynamoDbLocal();
onCleanup('ddb', () => ddb.stop());
const ctx = { endpoint: ddb.endpoint, client: localClient(ddb.endpoint), streams: streamsClient(ddb.endpoint), javaPid: findJavaPid(ddb.pid), quick: false, loops, profileDir: '/tmp', log: (m: string) => console.log(m) };
const bundles: Record<string, string> = { base: '/tmp/base/dist/consumer.js', proto: '/tmp/proto/dist/consumer.js' };
const out: unknown[] = [];
const secs = Number(process.env.SECS ?? 30);
const table = 'ab-users';
const streamArn = (await createTable(ctx.client, table, true))!;
const [shardId] = await streamShards(ctx.streams, streamArn);
const source = { table, streamArn, shardId: shardId! };
try {
  await workerPhase(ctx as never, { ratePerSecond: 300, seconds: 10, limitSeconds: 0, warmupSeconds: 0, rounds: 1, bundle: bundles.base }, source);
  for (const which of (process.env.ORDER ?? 'base,proto,proto,base,base,proto').split(',')) {
    const lag = await workerPhase(ctx as never, { ratePerSecond: 300, seconds: secs, limitSeconds: 0, warmupSeconds: 0, rounds: 1, bundle: bundles[which] }, source);
    const c = lag.counters;
    const per1000 = (n: number) => Math.round((n * 1000) / lag.records);
    const row = { which, p50: Math.round(lag.p50), p95: Math.round(lag.p95), p99: Math.round(lag.p99), rate: Math.round(lag.achievedWriteRate), putP50: Math.round(lag.sourceWriteP50), getRecordsPer1000: per1000(c.getRecords), checkpointsPer1000: per1000(c.checkpoints), leaseReqPer1000: per1000(Object.values(c.leaseTable).reduce((a, b) => a + b, 0)), records: lag.records };
    out.push(row);
    console.log(JSON.stringify(row));
    writeFileSync('/tmp/ab.json', JSON.stringify(out, null, 1));
  }
} finally { await runCleanups(); }
process.exit(0);
