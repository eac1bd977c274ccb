import { spawn } from 'node:child_process';
import { CreateTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { bundleLoops } from '/work/main/bench/lib/bundle.js';
import { runCleanups } from '/work/main/bench/lib/cleanup.js';
import {
  countItems,
  createFenceTable,
  createTable,
  preload,
  streamShards,
  streamsClient,
} from '/work/main/bench/lib/ddb.js';
import { scrape, total } from '/work/main/bench/lib/metrics.js';
import { cpuSeconds, findJavaPid } from '/work/main/bench/lib/proc.js';
import { startDynamoDbLocal } from '/work/main/local/dynamodb-local.js';
import { localClient, WorkerProcess } from '/work/main/test/support/fleet.js';

const N = 5000;
const loops = await bundleLoops();
const ddb = await startDynamoDbLocal();
const java = findJavaPid(ddb.pid);
try {
  const client = localClient(ddb.endpoint);
  const arn = (await createTable(client, 'src', true)) as string;
  await preload(client, 'src', N);
  const [shard] = await streamShards(streamsClient(ddb.endpoint), arn);
  let k = 0;
  const run = async (label: string, gsi: boolean, concurrency = 4) => {
    k++;
    await createTable(client, `dst${k}`);
    const fence = `fence${k}`;
    if (!gsi) await createFenceTable(client, fence, shard!, 'bare');
    else {
      await client.send(
        new CreateTableCommand({
          TableName: fence,
          AttributeDefinitions: [
            { AttributeName: 'leaseKey', AttributeType: 'S' },
            { AttributeName: 'leaseOwner', AttributeType: 'S' },
          ],
          KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
          GlobalSecondaryIndexes: [
            {
              IndexName: 'LeaseOwnerToLeaseKeyIndex',
              KeySchema: [
                { AttributeName: 'leaseOwner', KeyType: 'HASH' },
                { AttributeName: 'leaseKey', KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      await client.send(
        new PutItemCommand({
          TableName: fence,
          Item: { leaseKey: { S: shard! }, leaseOwner: { S: 'bare' } },
        }),
      );
    }
    const j0 = cpuSeconds(java)!;
    const t0 = Date.now();
    const child = spawn(process.execPath, [loops['bare-loop']], {
      env: {
        PATH: process.env.PATH,
        BENCH_LOOP: JSON.stringify({
          endpoint: ddb.endpoint,
          streamArn: arn,
          shardId: shard,
          target: `dst${k}`,
          fenceTable: fence,
          instanceName: 'bare',
          expected: N,
          concurrency,
          mode: 'order-safe',
        }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    await new Promise((r) => child.on('exit', r));
    const res = JSON.parse(out.trim().split('\n').at(-1)!);
    console.log(
      `${label}: ${Date.now() - t0} ms, steady ${Math.round(res.steadyRate)}, java cpu ${(cpuSeconds(java)! - j0).toFixed(2)}, retries ${res.retries}, count ${await countItems(client, `dst${k}`)}`,
    );
  };
  const worker = async (label: string, env: Record<string, string> = {}) => {
    k++;
    await createTable(client, `dst${k}`);
    const j0 = cpuSeconds(java)!;
    const t0 = Date.now();
    const w = await WorkerProcess.start({
      endpoint: ddb.endpoint,
      tables: { source: 'src', target: `dst${k}`, app: `app${k}`, streamArn: arn },
      name: `w${k}`,
      env,
    });
    const tl: [number, number][] = [];
    for (;;) {
      const s = await scrape(w.port).catch(() => undefined);
      const n = s ? total(s, 'streamfleet_records_processed_total') : -1;
      tl.push([Date.now(), n]);
      if (n >= N) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const a = tl.find(([, n]) => n >= 0.1 * N)!;
    const b = tl.find(([, n]) => n >= 0.9 * N)!;
    console.log(
      `${label}: ${Date.now() - t0} ms, steady ${Math.round(((b[1] - a[1]) / (b[0] - a[0])) * 1000)}, java cpu ${(cpuSeconds(java)! - j0).toFixed(2)}, worker cpu ${cpuSeconds(w.child.pid)}`,
    );
    await w.stop();
  };
  for (let i = 0; i < Number(process.env.WARM ?? 6); i++) await run('warm', false);
  for (let i = 0; i < 2; i++) {
    await worker('worker');
    await run('loop', false);
    await worker('worker-c8', { WRITE_CONCURRENCY: '8' });
  }
} finally {
  await ddb.stop();
  await runCleanups();
}
