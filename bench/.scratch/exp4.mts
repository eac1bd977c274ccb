import { createTable } from '/work/main/bench/lib/ddb.js';
import { scrape } from '/work/main/bench/lib/metrics.js';
import { startDynamoDbLocal } from '/work/main/local/dynamodb-local.js';
import { localClient, WorkerProcess } from '/work/main/test/support/fleet.js';

const ddb = await startDynamoDbLocal();
try {
  const client = localClient(ddb.endpoint);
  const arn = (await createTable(client, 'src', true)) as string;
  await createTable(client, 'dst');
  const w = await WorkerProcess.start({
    endpoint: ddb.endpoint,
    tables: { source: 'src', target: 'dst', app: 'app', streamArn: arn },
    name: 'w',
  });
  await new Promise((r) => setTimeout(r, 8000));
  const s = await scrape(w.port);
  for (const [k, v] of s)
    if (/trimmed|get_records_latency_seconds_count|expired|lease_table/.test(k)) console.log(k, v);
  console.log(
    w.output
      .split('\n')
      .slice(0, 14)
      .map((l) => l.slice(0, 300))
      .join('\n'),
  );
  await w.stop();
} finally {
  await ddb.stop();
}
