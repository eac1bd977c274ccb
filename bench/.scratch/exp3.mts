import { spawn } from 'node:child_process';
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
import { startDynamoDbLocal } from '/work/main/local/dynamodb-local.js';
import { localClient } from '/work/main/test/support/fleet.js';

const loops = await bundleLoops();
const ddb = await startDynamoDbLocal();
try {
  const client = localClient(ddb.endpoint);
  const arn = (await createTable(client, 'src', true)) as string;
  const [shard] = await streamShards(streamsClient(ddb.endpoint), arn);
  await createTable(client, 'dst');
  await createFenceTable(client, 'fence', shard!, 'bare');
  const child = spawn(process.execPath, [loops['bare-loop']], {
    env: {
      PATH: process.env.PATH,
      BENCH_LOOP: JSON.stringify({
        endpoint: ddb.endpoint,
        streamArn: arn,
        shardId: shard,
        target: 'dst',
        fenceTable: 'fence',
        instanceName: 'bare',
        expected: 0,
        concurrency: 4,
        mode: 'order-safe',
        iteratorType: process.env.IT ?? 'LATEST',
        emptyReadSleepMs: 10,
        stopAt: Date.now() + 8000,
      }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  await new Promise((r) => setTimeout(r, 2000));
  console.log('out so far', out);
  await preload(client, 'src', 300, 1, 'z');
  await new Promise((r) => setTimeout(r, 2000));
  console.log('count', await countItems(client, 'dst'));
  await new Promise((r) => child.on('exit', r));
  console.log('out', out);
} finally {
  await ddb.stop();
  await runCleanups();
}
