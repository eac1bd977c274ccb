/**
 * `npm start`: the story on one machine. DynamoDB Local, the `users` table with its stream and the
 * `users_replica` table, two consumer workers (the built bundle, as in a pod), a burst of writes
 * (inserts, modifies, removes), then a check that the replica equals the source. Everything it starts
 * is stopped on every exit path, Ctrl-C included.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { type DynamoDbLocal, freePort, JavaMissingError, startDynamoDbLocal } from './dynamodb-local.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const HELP = `Usage: npm start -- [options]

Starts DynamoDB Local, creates users (with a stream) and users_replica, runs consumer workers that
replicate every change, writes a load, and checks that the replica converges.

Options:
  --items N        items to write (default 500)
  --workers N      consumer workers to run (default 2)
  --keep-running   keep DynamoDB Local and the workers running until Ctrl-C
  -h, --help       show this help
`;

interface Options {
  items: number;
  workers: number;
  keepRunning: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      items: { type: 'string', default: '500' },
      workers: { type: 'string', default: '2' },
      'keep-running': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const whole = (name: string, raw: string, min: number, max: number) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max)
      throw new UsageError(`--${name} expects a whole number from ${min} to ${max}, got "${raw}".`);
    return n;
  };
  return {
    items: whole('items', values.items, 1, 1_000_000),
    workers: whole('workers', values.workers, 1, 16),
    keepRunning: values['keep-running'],
  };
}

class UsageError extends Error {}

const BUNDLE = resolve(import.meta.dirname, '../dist/consumer.js');
const children = new Set<ChildProcess>();
let database: DynamoDbLocal | undefined;

async function cleanup(): Promise<void> {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all([...children].map((child) => new Promise((r) => child.once('exit', r))));
  await database?.stop();
}

function progress(label: string, done: number, total: number): void {
  if (!process.stdout.isTTY) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stdout.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
  if (done === total) process.stdout.write('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(BUNDLE)) throw new UsageError(`${BUNDLE} is missing: run "npm run build" first.`);
  const started = Date.now();
  console.log('Starting DynamoDB Local ...');
  database = await startDynamoDbLocal();
  console.log(`DynamoDB Local on ${database.endpoint}`);
  const client = new DynamoDBClient({
    endpoint: database.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const keys = {
    AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' as const }],
    KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' as const }],
    BillingMode: 'PAY_PER_REQUEST' as const,
  };
  const source = await client.send(
    new CreateTableCommand({
      TableName: 'users',
      ...keys,
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  await client.send(new CreateTableCommand({ TableName: 'users_replica', ...keys }));
  const streamArn = source.TableDescription?.LatestStreamArn ?? '';
  console.log(`Tables users (stream ${streamArn}) and users_replica created`);

  const ports: number[] = [];
  for (let i = 1; i <= options.workers; i++) {
    const port = await freePort();
    ports.push(port);
    const child = spawn(process.execPath, [BUNDLE], {
      env: {
        ...process.env,
        SOURCE_TABLE_STREAM_ARN: streamArn,
        TARGET_TABLE_NAME: 'users_replica',
        APPLICATION_NAME: 'streamfleet-local',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: database.endpoint,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        INSTANCE_NAME: `consumer-${i}`,
        PORT: String(port),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    console.log(
      `Worker consumer-${i} started (pid ${child.pid}, metrics on http://127.0.0.1:${port}/metrics)`,
    );
  }

  const cities = ['Lisbon', 'Porto', 'Faro', 'Braga', 'Coimbra'];
  for (let i = 0; i < options.items; i++) {
    await client.send(
      new PutItemCommand({
        TableName: 'users',
        Item: {
          email: { S: `user${i}@example.com` },
          name: { S: `User ${i}` },
          city: { S: cities[i % cities.length] as string },
        },
      }),
    );
    if (i % 25 === 0 || i === options.items - 1) progress('Writing users  ', i + 1, options.items);
  }
  const modified = Math.floor(options.items / 5);
  for (let i = 0; i < modified; i++) {
    await client.send(
      new PutItemCommand({
        TableName: 'users',
        Item: { email: { S: `user${i}@example.com` }, name: { S: `User ${i}` }, city: { S: 'Madrid' } },
      }),
    );
  }
  const removed = Math.floor(options.items / 10);
  for (let i = options.items - removed; i < options.items; i++) {
    await client.send(
      new DeleteItemCommand({ TableName: 'users', Key: { email: { S: `user${i}@example.com` } } }),
    );
  }
  console.log(`Wrote ${options.items} inserts, ${modified} modifies, ${removed} removes`);

  const expected = options.items - removed;
  const deadline = Date.now() + 120_000;
  let summary: { items: number; byWorker: Record<string, number>; madrid: number } = {
    items: 0,
    byWorker: {},
    madrid: 0,
  };
  while (Date.now() < deadline) {
    const items = await scanAll(client, 'users_replica');
    const byWorker: Record<string, number> = {};
    for (const item of items)
      byWorker[item.processed_by?.S ?? '?'] = (byWorker[item.processed_by?.S ?? '?'] ?? 0) + 1;
    summary = {
      items: items.length,
      byWorker,
      madrid: items.filter((item) => item.city?.S === 'Madrid').length,
    };
    progress('Replicated     ', Math.min(summary.items, expected), expected);
    if (summary.items === expected && summary.madrid === modified) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const leases = await scanAll(client, 'streamfleet-local');
  const converged = summary.items === expected && summary.madrid === modified;
  console.log('');
  console.log(`Replica items        ${summary.items} (expected ${expected})`);
  console.log(`Modifies replicated  ${summary.madrid} of ${modified}`);
  console.log(`processed_by         ${JSON.stringify(summary.byWorker)}`);
  console.log(
    `Leases               ${leases.map((l) => `${l.leaseKey?.S} → ${l.leaseOwner?.S ?? 'unowned'} @ ${l.checkpoint?.S}`).join('; ')}`,
  );
  console.log(
    `Result               ${converged ? 'CONVERGED' : 'NOT CONVERGED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  if (options.keepRunning && converged) {
    console.log('Keeping everything running; press Ctrl-C to stop.');
    await new Promise(() => undefined);
  }
  await cleanup();
  process.exit(converged ? 0 : 1);
}

async function scanAll(client: DynamoDBClient, table: string): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`\n${signal}: stopping workers and DynamoDB Local ...`);
    cleanup().finally(() => process.exit(130));
  });
}

main().catch(async (error: unknown) => {
  if (error instanceof UsageError || error instanceof JavaMissingError)
    console.error(`npm start: ${error.message}`);
  else console.error(error);
  await cleanup();
  process.exit(error instanceof UsageError ? 2 : 1);
});
