/**
 * PROCESSOR_MODULE gone wrong, with real workers (node dist/consumer.js): a module that is missing, one that
 * exports no processor, one that throws on every record, one that hangs. Each is said clearly (the module, the
 * shard, the sequence number), and no record is skipped: the shard stops before the record at fault, its lease
 * still held and renewed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  createReplicationTables,
  localClient,
  openLease,
  scanAll,
  stopAll,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const dir = mkdtempSync(join(tmpdir(), 'streamfleet-modules-'));
const workers: WorkerProcess[] = [];
afterEach(() => stopAll(workers.splice(0)));

function module(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

const THROWS = module(
  'throws.mjs',
  `export default { processRecords() { throw new Error('this processor refuses every record'); } };`,
);
const HANGS = module(
  'hangs.mjs',
  `export const processor = { processRecords: () => new Promise(() => {}) };`,
);
const NO_PROCESSOR = module('no-processor.mjs', `export const helper = 1;\nexport default { process() {} };`);

async function start(name: string, processorModule: string, env: Record<string, string> = {}) {
  const tables = await createReplicationTables(client);
  for (let i = 0; i < 3; i++)
    await client.send(new PutItemCommand({ TableName: tables.source, Item: { email: { S: `u${i}@x` } } }));
  const worker = await WorkerProcess.start({
    endpoint,
    tables,
    name,
    env: {
      PROCESSOR_MODULE: processorModule,
      LEASE_DURATION_MS: '3000',
      LEASE_TAKER_INTERVAL_MS: '500',
      IDLE_TIME_BETWEEN_READS_MS: '100',
      ...env,
    },
  });
  workers.push(worker);
  return { worker, tables };
}

describe('processor modules that cannot be used', () => {
  it('a module that does not exist: exit 2, naming PROCESSOR_MODULE and the path', async () => {
    const missing = join(dir, 'not-there.mjs');
    const { worker } = await start('no-module', missing);
    expect((await worker.exited).code).toBe(2);
    expect(worker.output).toContain('configuration error: PROCESSOR_MODULE: cannot find module');
    expect(worker.output).toContain(missing);
  });

  it('a module that exports no processor: exit 2, naming the module and what it exports', async () => {
    const { worker, tables } = await start('no-processor', NO_PROCESSOR);
    expect((await worker.exited).code).toBe(2);
    expect(worker.output).toMatch(
      /PROCESSOR_MODULE: module ".*no-processor\.mjs" exports no record processor/,
    );
    expect(worker.output).toContain('It exports: default, helper');
    // Nothing was written: not even the lease table.
    await expect(scanAll(client, tables.app)).rejects.toThrow(/non-existent table|not found/i);
  });
});

describe('processors that fail at run time', () => {
  it('throws on every record: retried, split to the first record, then the shard stops before it', async () => {
    const { worker, tables } = await start('throws', THROWS, { PROCESSOR_MAX_ATTEMPTS: '2' });
    const poison = await worker.waitForEvent('record.poison', () => true, 60_000);
    const failed = worker.events('batch.failed');
    expect(failed[0]).toMatchObject({ processor: THROWS, shardId: poison.shardId });
    expect((failed[0]?.err as { message?: string } | undefined)?.message).toBe(
      'this processor refuses every record',
    );
    expect(failed.at(-1)?.firstSequenceNumber).toBe(poison.sequenceNumber);
    expect(poison.reason).toBe('Error: this processor refuses every record');
    expect(poison.keys).toEqual({ email: { S: 'u0@x' } }); // the first record: nothing after it was skipped
    await waitFor(async () => (await worker.metric('streamfleet_shards_stalled')) === 1, {
      timeoutMs: 20_000,
      message: 'the shard to report itself stalled',
    });
    expect((await openLease(client, tables.app))?.checkpoint?.S).toBe('TRIM_HORIZON');
    expect(await worker.metric('streamfleet_records_processed_total')).toBe(0);
  });

  it('hangs: the call times out with the module, shard and records named; the lease stays held and renewed', async () => {
    const { worker, tables } = await start('hangs', HANGS, {
      PROCESSOR_TIMEOUT_MS: '1500',
      PROCESSOR_MAX_ATTEMPTS: '2',
    });
    const timedOut = await worker.waitForEvent(
      'batch.failed',
      (e) => (e.err as { name?: string }).name === 'ProcessorTimeoutError',
      60_000,
    );
    expect(timedOut).toMatchObject({ processor: HANGS });
    const message = (timedOut.err as { message?: string }).message ?? '';
    expect(message).toContain(HANGS);
    expect(message).toContain(`shard ${timedOut.shardId}`);
    expect(message).toContain(`records ${timedOut.firstSequenceNumber}..${timedOut.lastSequenceNumber}`);
    // Not silent, and not a lease left to expire: the worker keeps it, renewing it, stalled before the record.
    await worker.waitForEvent('record.poison', () => true, 60_000);
    const before = await openLease(client, tables.app);
    await waitFor(
      async () =>
        Number((await openLease(client, tables.app))?.leaseCounter?.N ?? 0) > Number(before?.leaseCounter?.N),
      { timeoutMs: 20_000, message: 'the lease to be renewed while the processor hangs' },
    );
    const after = await openLease(client, tables.app);
    expect(after?.leaseOwner?.S).toBe('hangs');
    expect(after?.checkpoint?.S).toBe('TRIM_HORIZON');
    expect(worker.events('lease.lost')).toEqual([]);
  });
});
