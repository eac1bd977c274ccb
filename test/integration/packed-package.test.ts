/**
 * The package as a user gets it: `npm pack`, installed from the tarball into an empty project, a stream
 * application written only against `import … from 'streamfleet'`, type-checked with `tsc --strict` against the
 * shipped declarations, built, and run as two worker processes through the strict layer. The one holding the
 * shard is SIGKILLed while it works. Asserted on what the application saw (it logs each delivery to a file):
 * every record of the stream delivered at least once, each key's records in order within every consumer's run,
 * the newest version of each item delivered.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compareSequenceNumbers, isSequenceNumber } from '../../core/vocabulary/sequence.js';
import { workerEnvironment } from '../../local/worker/environment.js';
import { loggedEvents } from '../../local/worker/events.js';
import { type SpawnedWorker, spawnWorker } from '../../local/worker/process.js';
import { readWholeStream } from '../reliability/harness.js';
import { createReplicationTables, localClient, openLease, waitFor } from '../support/fleet.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);

/** The application's files, as a user writes them: nothing but the package's public API. */
const APPLICATION: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'my-stream-app', private: true, type: 'module' }, null, 2),
  'tsconfig.json': JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        outDir: 'dist',
        types: ['node'],
      },
      include: ['src'],
    },
    null,
    2,
  ),
  'src/delivery-log.ts': `import { appendFileSync } from 'node:fs';
import type { ChangeRecord, ProcessRecordsInput, RecordProcessor } from 'streamfleet';

/** An at-least-once sink: every delivery appended to a file, one JSON line each. */
export function deliveryLog(path: string): RecordProcessor {
  let runs = 0;
  const runOf = new Map<string, number>();
  const line = (value: object) => appendFileSync(path, \`\${JSON.stringify(value)}\\n\`);
  return {
    initialize({ shardId, checkpoint }) {
      runOf.set(shardId, ++runs);
      line({ kind: 'initialize', shardId, checkpoint, run: runs });
    },
    processRecords({ shardId, records, signal }: ProcessRecordsInput) {
      if (signal.aborted) throw new Error('lease lost before the batch was written');
      const run = runOf.get(shardId);
      const rows = records.map((record: ChangeRecord) => ({
        kind: 'record',
        shardId,
        run,
        key: String(record.keys.email),
        seq: record.sequenceNumber,
        version: record.newImage?.version ?? null,
        at: record.approximateCreationTime.toISOString(),
      }));
      appendFileSync(path, rows.map((row) => \`\${JSON.stringify(row)}\\n\`).join(''));
      return undefined;
    },
  };
}
`,
  'src/main.ts': `import { startWorker, type Worker } from 'streamfleet';
import { deliveryLog } from './delivery-log.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(\`\${name} is required\`);
  return value;
}

const worker: Worker = await startWorker({
  applicationName: required('APP'),
  streamArn: required('STREAM_ARN'),
  region: 'us-east-1',
  instanceName: required('NAME'),
  port: 0,
  leaseDurationMs: 3_000,
  leaseTakerIntervalMs: 500,
  maxRecords: 25,
  processor: deliveryLog(required('LOG_FILE')),
});
process.on('SIGTERM', () => {
  void worker.stop().then(() => process.exit(0));
});
`,
  // Compile-time checks of the shipped types: a misspelt option and a malformed write must not compile.
  'src/types-hold.ts': `import { startWorker, type ProcessRecordsResult } from 'streamfleet';

export const result: ProcessRecordsResult = {
  writes: [{ item: { Put: { TableName: 'view', Item: { pk: { S: 'a' } } } }, sequenceNumber: '1' }],
};
// @ts-expect-error: writes are TransactWriteItems items, not plain objects
export const wrong: ProcessRecordsResult = { writes: [{ table: 'view' }] };
export async function misspelt(): Promise<void> {
  await startWorker({
    applicationName: 'app',
    processor: { processRecords: () => undefined },
    // @ts-expect-error: the option is leaseDurationMs
    leaseDurationMS: 1,
  });
}
`,
};

let project = '';
let tarball = '';
const workers: SpawnedWorker[] = [];

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'streamfleet-app-'));
  const packs = mkdtempSync(join(tmpdir(), 'streamfleet-pack-'));
  // npm pack runs prepack: the library bundle and its one declaration file.
  await run('npm', ['pack', '--silent', '--pack-destination', packs], { cwd: ROOT });
  tarball = join(packs, readdirSync(packs).find((f) => f.endsWith('.tgz')) ?? '');
  for (const [file, text] of Object.entries(APPLICATION)) {
    mkdirSync(join(project, file, '..'), { recursive: true });
    writeFileSync(join(project, file), text);
  }
  // npm's cache (npm ci filled it) has the tarballs: the package's dependencies are pinned to this repository's
  // versions; only their metadata may come from the registry.
  const typesNode = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies[
    '@types/node'
  ];
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      tarball,
      `@types/node@${typesNode}`,
    ],
    { cwd: project },
  );
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], {
    cwd: project,
  });
}, 600_000);

afterAll(async () => {
  for (const worker of workers) worker.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the library and its types only', async () => {
    const listed = (await run('tar', ['tzf', tarball])).stdout.split('\n').filter(Boolean);
    expect(
      listed.filter((f) => /^package\/(test|local|bench|infra|cli|core|consumer|functions)\//.test(f)),
    ).toEqual([]);
    expect(listed).toEqual(
      expect.arrayContaining([
        'package/dist/lib/index.js',
        'package/dist/lib/index.d.ts',
        'package/package.json',
      ]),
    );
    const installed = JSON.parse(
      readFileSync(join(project, 'node_modules/streamfleet/package.json'), 'utf8'),
    );
    expect(Object.keys(installed.dependencies).sort()).toEqual([
      '@aws-sdk/client-dynamodb',
      '@aws-sdk/client-dynamodb-streams',
      '@aws-sdk/util-dynamodb',
      'pino',
      'prom-client',
    ]);
  });

  it('runs an application written against it on two workers; a SIGKILL loses nothing and keeps order per key', async () => {
    const tables = await createReplicationTables(client);
    const start = (name: string) => {
      const logFile = join(project, `${name}.jsonl`);
      writeFileSync(logFile, '');
      const worker = spawnWorker({
        bundle: join(project, 'dist/main.js'),
        env: workerEnvironment({
          endpoint,
          settings: { APP: tables.app, STREAM_ARN: tables.streamArn, NAME: name, LOG_FILE: logFile },
        }),
      });
      workers.push(worker);
      return { name, worker, logFile };
    };
    const a = start('app-a');
    const b = start('app-b');
    for (const { worker, name } of [a, b]) {
      await waitFor(() => loggedEvents(worker.output(), 'worker.started').length > 0, {
        timeoutMs: 60_000,
        message: `${name} to start\n${worker.output().slice(-2000)}`,
      });
    }
    // 60 users, each written 5 times (versions 1..5), in batches of 25 while the workers read.
    const load = (async () => {
      const writes = Array.from({ length: 300 }, (_, i) => ({
        email: `u${i % 60}@example.com`,
        version: Math.floor(i / 60) + 1,
      }));
      for (let i = 0; i < writes.length; i += 25) {
        await client.send(
          new BatchWriteItemCommand({
            RequestItems: {
              [tables.source]: writes.slice(i, i + 25).map((w) => ({
                PutRequest: { Item: { email: { S: w.email }, version: { N: String(w.version) } } },
              })),
            },
          }),
        );
      }
    })();
    const holderName = await waitFor(async () => (await openLease(client, tables.app))?.leaseOwner?.S, {
      timeoutMs: 30_000,
      message: 'a worker to hold the shard',
    });
    const holder = holderName === a.name ? a : b;
    const survivor = holder === a ? b : a;
    // Once it has checkpointed (at most once a second without writes), so the survivor resumes mid-stream.
    await waitFor(async () => isSequenceNumber((await openLease(client, tables.app))?.checkpoint?.S ?? ''), {
      timeoutMs: 30_000,
      message: `${holder.name} to checkpoint`,
    });
    holder.worker.kill('SIGKILL');
    await holder.worker.exited;
    await load;

    const stream = await readWholeStream(
      new DynamoDBStreamsClient({
        endpoint: inject('ddbDirectEndpoint'),
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
      tables.streamArn,
    );
    expect(stream).toHaveLength(300);
    const all = () => [...deliveries(a.logFile), ...deliveries(b.logFile)];
    await waitFor(
      () => {
        const seen = new Set(all().map((d) => d.seq));
        return stream.every((r) => seen.has(r.dynamodb?.SequenceNumber ?? '')) || undefined;
      },
      { timeoutMs: 60_000, message: 'every record of the stream delivered' },
    );
    expect(
      loggedEvents(survivor.worker.output(), 'lease.taken').some((e) => e.previousOwner === holder.name),
    ).toBe(true);
    // Order per key within each run of a consumer (a run starts at its checkpoint): never backwards.
    const byRun = new Map<string, string[]>();
    for (const [file, list] of [
      [a.logFile, deliveries(a.logFile)],
      [b.logFile, deliveries(b.logFile)],
    ] as const) {
      for (const d of list) {
        const key = `${file}#${d.run}#${d.key}`;
        byRun.set(key, [...(byRun.get(key) ?? []), d.seq]);
      }
    }
    const outOfOrder = [...byRun.entries()].filter(([, seqs]) =>
      seqs.some((seq, i) => i > 0 && compareSequenceNumbers(seq, seqs[i - 1] as string) <= 0),
    );
    expect(outOfOrder).toEqual([]);
    // The newest version of every item was delivered.
    const newest = new Map<string, number>();
    for (const d of all()) newest.set(d.key, Math.max(newest.get(d.key) ?? 0, Number(d.version)));
    expect(newest.size).toBe(60);
    expect([...newest.values()].every((v) => v === 5)).toBe(true);
    const delivered = all();
    // The figures of this run, for the record (the closing note and RELIABILITY quote them).
    console.log(
      `PACKED-PACKAGE ${JSON.stringify({ records: stream.length, deliveries: delivered.length, distinct: new Set(delivered.map((d) => d.seq)).size, deliveredAgain: delivered.length - new Set(delivered.map((d) => d.seq)).size, outOfOrder: outOfOrder.length })}`,
    );
    // The survivor resumed from the killed worker's checkpoint, not from the shard's start.
    const [survivorRun] = loggedEvents(survivor.worker.output(), 'shard.initialized');
    expect(survivorRun?.checkpoint).not.toBe('TRIM_HORIZON');
  }, 240_000);
});

interface Delivery {
  run: number;
  key: string;
  seq: string;
  version: number | null;
}

/** The deliveries a worker logged; a line a SIGKILL cut short is left out. */
function deliveries(file: string): Delivery[] {
  const out: Delivery[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    try {
      const row = JSON.parse(line) as Delivery & { kind: string };
      if (row.kind === 'record') out.push(row);
    } catch {
      // the last line of a killed process
    }
  }
  return out;
}
