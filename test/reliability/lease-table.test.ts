/**
 * The lease table tampered with while workers run: deleted outright, and its items edited by hand (owner
 * changed to a worker that does not exist, the lease item deleted, the checkpoint rewound, the checkpoint
 * replaced by garbage). The workers are never restarted; each time they must recover, and at the end the
 * replica must equal the source with no stale write in its history. Replays are expected (at-least-once):
 * the sequence guard makes them harmless.
 */
import { DeleteItemCommand, DeleteTableCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../core/vocabulary/clock.js';
import { isTransactionConflict } from '../../core/vocabulary/errors.js';
import { retry } from '../../core/vocabulary/retry.js';
import { openLease, type WorkerProcess, waitFor, waitForOpenLeaseOwner } from '../support/fleet.js';
import {
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  FAST_LEASES,
  Fleet,
  Load,
  reliabilitySuite,
  report,
  scrapeMetrics,
  sleep,
} from './harness.js';

const { endpoint, client, streams } = reliabilitySuite();

async function readiness(worker: WorkerProcess): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${worker.port}/readyz`, { signal: AbortSignal.timeout(1_000) }))
      .status;
  } catch {
    return 0;
  }
}

describe('lease table deleted or edited by hand while running', () => {
  it('deleted: workers go not-ready and stop checkpointing; re-created by a starting peer, all recover', async () => {
    const started = Date.now();
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: FAST_LEASES });
    const load = new Load({ client, table: tables.source, items: 40, concurrency: 2, pauseMs: 20 }).start();
    const workers = [await fleet.start('lease-a'), await fleet.start('lease-b')];
    await sleep(3_000);

    await client.send(new DeleteTableCommand({ TableName: tables.app }));
    const deletedAt = Date.now();
    await waitFor(async () => (await Promise.all(workers.map(readiness))).every((s) => s === 503), {
      timeoutMs: 10_000,
      message: 'both workers to report not ready',
    });
    const notReadyAfterMs = Date.now() - deletedAt;
    await sleep(2_000);
    const metrics = await Promise.all(workers.map((w) => scrapeMetrics(w.port)));
    const leaseLosses = metrics.reduce((n, m) => n + (m?.get('streamfleet_lease_losses_total') ?? 0), 0);
    expect(leaseLosses).toBeGreaterThanOrEqual(1);
    // Loud once per cause, with the cause DynamoDB gave.
    const failures = workers[0]?.events('lease-loop.failed') ?? [];
    expect(failures.some((e) => e.cause === 'ResourceNotFoundException')).toBe(true);

    // A peer starting (or restarting) creates the table again, with its index; shard sync starts over.
    const newcomer = await fleet.start('lease-c');
    await waitFor(async () => (await Promise.all(workers.map(readiness))).every((s) => s === 200), {
      timeoutMs: 15_000,
      message: 'the original workers to be ready again without a restart',
    });
    const recoveredAfterMs = Date.now() - deletedAt;
    await sleep(2_000);
    await load.stop();
    const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 30_000 });
    await fleet.scrapeAll();
    report({
      scenario: 'lease-table-deleted',
      faults: { leaseTableDeleted: 1 },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      notReadyAfterMs,
      recoveredWithoutRestartAfterMs: recoveredAfterMs,
      leaseLosses,
      examples: result.examples,
    });
    expect(result.lost + result.staleOverwrites + result.corrupted).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource);
    expect([...workers, newcomer].map((w) => w.child.exitCode)).toEqual([null, null, null]);
  }, 80_000);

  it('items edited by hand: ghost owner, deleted lease, rewound and garbage checkpoints', async () => {
    const started = Date.now();
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: FAST_LEASES });
    const load = new Load({ client, table: tables.source, items: 40, concurrency: 2, pauseMs: 20 }).start();
    const worker = await fleet.start('hand-edits');
    await waitForOpenLeaseOwner(client, tables.app, worker.name, { timeoutMs: 45_000 });
    await sleep(1_500);
    const key = { leaseKey: { S: (await openLease(client, tables.app))?.leaseKey?.S ?? '' } };
    // By hand on AWS too, an edit of a lease item can meet the owner's transaction on that item
    // (TransactionConflictException): the operator tries again, as this does.
    const byHand = <T>(send: () => Promise<T>) =>
      retry(send, { clock: systemClock, isRetriable: isTransactionConflict });
    const edit = (expression: string, values?: Record<string, { S: string }>) =>
      byHand(() =>
        client.send(
          new UpdateItemCommand({
            TableName: tables.app,
            Key: key,
            UpdateExpression: expression,
            ExpressionAttributeValues: values,
          }),
        ),
      );
    const recoveries: Record<string, number> = {};

    // 1. Someone hands the lease to a worker that does not exist: it never renews, so it expires.
    await edit('SET leaseOwner = :ghost', { ':ghost': { S: 'ghost-worker' } });
    recoveries.ghostOwner = await waitForOpenLeaseOwner(client, tables.app, worker.name, {
      timeoutMs: 45_000,
    });
    await sleep(1_500);
    // 2. Someone deletes the lease item: shard sync creates it again (at TRIM_HORIZON: a replay).
    await byHand(() => client.send(new DeleteItemCommand({ TableName: tables.app, Key: key })));
    recoveries.leaseDeleted = await waitForOpenLeaseOwner(client, tables.app, worker.name, {
      timeoutMs: 45_000,
    });
    await sleep(1_500);
    // 3. Someone rewinds the checkpoint and frees the lease: the worker takes it and replays.
    await edit('SET checkpoint = :th REMOVE leaseOwner', { ':th': { S: 'TRIM_HORIZON' } });
    recoveries.checkpointRewound = await waitForOpenLeaseOwner(client, tables.app, worker.name, {
      timeoutMs: 45_000,
    });
    await sleep(1_500);
    // 4. Someone writes garbage into the checkpoint: read as "no position", i.e. from TRIM_HORIZON.
    await edit('SET checkpoint = :junk REMOVE leaseOwner', { ':junk': { S: 'not-a-sequence-number' } });
    recoveries.checkpointGarbage = await waitForOpenLeaseOwner(client, tables.app, worker.name, {
      timeoutMs: 45_000,
    });
    await sleep(1_500);
    await load.stop();

    const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 30_000 });
    await fleet.scrapeAll();
    const checkpoint = (await openLease(client, tables.app))?.checkpoint?.S ?? '';
    report({
      scenario: 'lease-items-edited',
      faults: { ghostOwner: 1, leaseItemDeleted: 1, checkpointRewound: 1, checkpointGarbage: 1 },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      recoveryMs: recoveries,
      leaseLosses: fleet.total('streamfleet_lease_losses_total'),
      staleSkippedWrites: fleet.total('streamfleet_replica_writes_total{outcome="stale-skipped"}'),
      examples: result.examples,
    });
    expect(result.lost + result.staleOverwrites + result.corrupted).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource);
    expect(checkpoint).toMatch(/^\d+$/); // the garbage is gone, replaced by a real position
    expect(worker.events('shard.checkpoint-malformed').map((e) => e.checkpoint)).toContain(
      'not-a-sequence-number',
    );
    expect(fleet.total('streamfleet_records_processed_total')).toBeGreaterThan(result.recordsWritten); // replays
    expect(worker.child.exitCode).toBeNull();
  }, 240_000);
});
