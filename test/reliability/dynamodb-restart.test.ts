/**
 * DynamoDB itself goes away: a DynamoDB Local of this file's own, persisting to a folder on a fixed port, is
 * killed (SIGKILL) mid-stream and started again on the same port and folder, twice (a short and a long outage).
 * The workers are not restarted: they must retry with backoff, report not-ready while the table is unreachable,
 * keep or re-take their leases, and converge.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type DynamoDbLocal, freePort, startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { startAwsRules } from '../support/aws-rules.js';
import { localClient, type WorkerProcess } from '../support/fleet.js';
import {
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  FAST_LEASES,
  Fleet,
  Load,
  report,
  sleep,
  streamsClient,
} from './harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'streamfleet-ddb-'));
let server: DynamoDbLocal | undefined;
afterAll(async () => {
  await Fleet.stopEverything();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Polls /readyz of every worker while `during` runs; returns the statuses seen per worker. */
async function readinessDuring(workers: WorkerProcess[], during: Promise<unknown>): Promise<Set<number>[]> {
  const seen = workers.map(() => new Set<number>());
  let done = false;
  const polling = (async () => {
    while (!done) {
      await Promise.all(
        workers.map(async (worker, i) => {
          try {
            const response = await fetch(`http://127.0.0.1:${worker.port}/readyz`, {
              signal: AbortSignal.timeout(1_000),
            });
            seen[i]?.add(response.status);
          } catch {
            seen[i]?.add(0);
          }
        }),
      );
      await sleep(250);
    }
  })();
  await during;
  done = true;
  await polling;
  return seen;
}

describe('DynamoDB killed and restarted under the workers', () => {
  it('workers ride out two outages without restarting and nothing is lost', async () => {
    const started = Date.now();
    const port = await freePort();
    server = await startDynamoDbLocal({ port, dataDir });
    // The strict layer stays up while DynamoDB Local behind it is killed and restarted on the same port.
    const endpoint = (await startAwsRules({ upstream: server.endpoint })).endpoint;
    const client = localClient(endpoint);
    // The audit reads the streams behind the layer's back (see reliabilitySuite).
    const streams = streamsClient(server.endpoint);
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: FAST_LEASES });
    const load = new Load({ client, table: tables.source, items: 80, concurrency: 3, pauseMs: 10 }).start();
    const workers = [await fleet.start('restart-a'), await fleet.start('restart-b')];
    await sleep(4_000);

    const outages: { downMs: number; readyStatuses: number[][] }[] = [];
    for (const extraDownMs of [0, 6_000]) {
      await fleet.scrapeAll();
      const downSince = Date.now();
      await server.stop();
      const outage = (async () => {
        await sleep(extraDownMs);
        server = await startDynamoDbLocal({ port, dataDir });
      })();
      const statuses = await readinessDuring(workers, outage);
      outages.push({ downMs: Date.now() - downSince, readyStatuses: statuses.map((s) => [...s].sort()) });
      await sleep(5_000);
    }
    await load.stop();

    const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 45_000 });
    await fleet.scrapeAll();
    // Back to ready once DynamoDB answers again.
    const ready = await Promise.all(
      workers.map(async (w) => (await fetch(`http://127.0.0.1:${w.port}/readyz`)).status),
    );
    report({
      scenario: 'dynamodb-restart',
      faults: { dynamodbKilled: outages.length },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      outagesMs: outages.map((o) => o.downMs),
      readyStatusesDuringOutages: outages.map((o) => o.readyStatuses),
      workerLeaseLosses: fleet.total('streamfleet_lease_losses_total'),
      workerLeaseTakes: fleet.total('streamfleet_lease_takes_total'),
      workerProcessingErrors: fleet.total('streamfleet_processing_errors_total'),
      loadWriteFailures: load.failures,
      examples: result.examples,
    });
    expect(result.examples).toEqual([]);
    expect(result.lost).toBe(0);
    expect(result.staleOverwrites).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource);
    expect(workers.map((w) => w.child.exitCode)).toEqual([null, null]);
    expect(ready).toEqual([200, 200]);
    // The long outage (past the lease duration) made every worker report not-ready for a while.
    for (const statuses of outages[1]?.readyStatuses ?? []) expect(statuses).toContain(503);
  }, 90_000);
});
