import { startDynamoDbLocal } from '/work/main/local/dynamodb-local.js';
import { localClient } from '/work/main/test/support/fleet.js';
import { createTable, deleteTables } from '/work/main/bench/lib/ddb.js';
import { RateWriter } from '/work/main/bench/lib/load.js';
import { BenchWorker } from '/work/main/bench/lib/worker.js';
import { runCleanups, installExitHandlers, onCleanup } from '/work/main/bench/lib/cleanup.js';
import { total } from '/work/main/bench/lib/metrics.js';
import { findJavaPid, cpuSeconds } from '/work/main/bench/lib/proc.js';
installExitHandlers();
let ddb = await startDynamoDbLocal();
onCleanup('ddb', () => ddb.stop());
let java = findJavaPid(ddb.pid);
let client = localClient(ddb.endpoint);
let k = 0;
try {
  for (const which of (process.env.ORDER ?? 'base,proto,base,proto').split(',')) {
    k++;
    if (process.env.RESTART && k > 1) { await ddb.stop(); ddb = await startDynamoDbLocal(); java = findJavaPid(ddb.pid); client = localClient(ddb.endpoint); onCleanup('ddb', () => ddb.stop()); }
    const srcName = process.env.SAMESRC ? 'src1' : `src${k}`;
    const arn = process.env.SAMESRC && k > 1 ? (globalThis as unknown as { arn: string }).arn : (await createTable(client, srcName, true))!;
    (globalThis as unknown as { arn: string }).arn = arn;
    await createTable(client, `tgt${k}`);
    const w = await BenchWorker.start({ endpoint: ddb.endpoint, tables: { source: srcName, target: `tgt${k}`, app: `app${k}`, streamArn: arn }, name: `w${k}`, bundle: `/tmp/${which}/dist/consumer.js`, env: JSON.parse(process.env.XENV ?? '{}') });
    await w.waitForLog(/shard consumer initialized/);
    const wc = localClient(ddb.endpoint);
    const writer = new RateWriter(wc, srcName, 300, `x${k}`);
    const j0 = cpuSeconds(java)!;
    writer.start();
    await new Promise((r) => setTimeout(r, 15000));
    await writer.stop();
    const lat = writer.written.filter((x) => x.ackedAt).map((x) => x.ackedAt! - x.writtenAt).sort((a, b) => a - b);
    const s = await w.scrape();
    const n = total(s, 'streamfleet_get_records_latency_seconds_count');
    console.log(which, 'rate', Math.round(writer.achievedRate), 'put p50', lat[Math.floor(lat.length / 2)], 'p99', lat[Math.floor(lat.length * 0.99)], 'getRecords', n, 'mean ms', Math.round(total(s, 'streamfleet_get_records_latency_seconds_sum') / n * 1000), 'ckpt', total(s, 'streamfleet_checkpoints_total'), 'processed', total(s, 'streamfleet_records_processed_total'), 'java cpu', (cpuSeconds(java)! - j0).toFixed(1), 'worker cpu', w.cpuSeconds());
    await w.stop(); wc.destroy();
    if (process.env.DEL) await deleteTables(client, [`tgt${k}`, `app${k}`]);
  }
} finally { await runCleanups(); }
process.exit(0);
