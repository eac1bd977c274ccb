/**
 * The target table deleted under a running worker (a missing target at start-up is exit 3, covered by
 * test/integration/consumer-replication.test.ts and config-fuzz.test.ts). While it is gone: a clear error in the
 * log, streamfleet_processing_errors_total{error="ResourceError"} rises, the log names the table, and the checkpoint does not
 * move past a single unwritten record. Once it is re-created, what came after the checkpoint converges by itself;
 * what the deleted table held is gone with it and comes back only when the operator replays the stream
 * (checkpoints rewound to TRIM_HORIZON, within the stream's 24 h retention), which this test does last.
 */
import { DeleteTableCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { scanAll, waitFor } from '../support/fleet.js';
import {
  type AuditedTables,
  audit,
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  createReplicaTable,
  FAST_LEASES,
  Fleet,
  readWholeStream,
  reliabilitySuite,
  report,
  scrapeMetrics,
  sleep,
} from './harness.js';

const { endpoint, client, streams } = reliabilitySuite();

const put = (tables: AuditedTables, i: number, version: number) =>
  client.send(
    new PutItemCommand({
      TableName: tables.source,
      Item: { email: { S: `user-${i}@example.com` }, version: { N: String(version) } },
    }),
  );

async function checkpoints(tables: AuditedTables): Promise<string[]> {
  return (await scanAll(client, tables.app)).map((lease) => lease.checkpoint?.S ?? '');
}

async function lastSequenceNumber(tables: AuditedTables): Promise<string | undefined> {
  return (await readWholeStream(streams, tables.streamArn)).at(-1)?.dynamodb?.SequenceNumber;
}

describe('target table deleted while the worker runs', () => {
  for (const mode of ['fenced', 'conditional'] as const) {
    it(`${mode}: clear error and metric, checkpoint held; converges once re-created (and replayed)`, async () => {
      const started = Date.now();
      const tables = await createAuditedTables(client);
      const fleet = new Fleet({ endpoint, tables, env: { ...FAST_LEASES, REPLICATION_WRITE_MODE: mode } });
      let worker = await fleet.start(`target-${mode}`);
      for (let i = 0; i < 30; i++) await put(tables, i, 1);
      await auditWhenConverged({ client, streams, tables, timeoutMs: 15_000 });
      const caughtUp = await lastSequenceNumber(tables);
      await waitFor(async () => (await checkpoints(tables))[0] === caughtUp, {
        timeoutMs: 10_000,
        message: 'the checkpoint to reach the last record',
      });

      await client.send(new DeleteTableCommand({ TableName: tables.target }));
      const outputBefore = worker.output.length;
      for (let i = 0; i < 10; i++) await put(tables, i, 2); // changes of replicated items
      for (let i = 30; i < 40; i++) await put(tables, i, 1); // new items
      const seen = new Set<string>();
      for (let t = 0; t < 16; t++) {
        for (const checkpoint of await checkpoints(tables)) seen.add(checkpoint);
        await sleep(250);
      }
      const errors = (await scrapeMetrics(worker.port))?.get(
        'streamfleet_processing_errors_total{error="ResourceError"}',
      );
      const log = worker.output.slice(outputBefore);
      expect([...seen]).toEqual([caughtUp]); // never past an unwritten record
      expect(errors).toBeGreaterThan(0);
      expect(worker.events('batch.failed').length).toBeGreaterThan(0);
      expect(log).toMatch(/ResourceNotFoundException/); // the cause, as DynamoDB said it
      // And which table, in our words, on the structured event (its error is the worker's own, never poison).
      const failed = worker.events('batch.failed').at(-1)?.err as
        | { name?: string; message?: string }
        | undefined;
      expect(failed?.name).toBe('ResourceError');
      expect(failed?.message).toContain(`table ${tables.target} `);
      expect(worker.events('record.poison')).toEqual([]);

      // Re-created empty: what came after the checkpoint arrives by itself (the failed batch is retried).
      const replicaStreamArn = await createReplicaTable(client, tables.target, tables.key);
      const recreated = { ...tables, replicaStreamArn };
      const last = await lastSequenceNumber(tables);
      await waitFor(async () => (await checkpoints(tables))[0] === last, {
        timeoutMs: 40_000,
        message: 'the worker to write and checkpoint what came while the table was gone',
      });
      const beforeReplay = await audit({ client, streams, tables: recreated });
      // Items 10..29 were only in the deleted table: 20 items the consumer cannot know about by itself.
      expect(beforeReplay.lost).toBe(20);
      expect(beforeReplay.replicated).toBe(20);

      // The operator replays the stream: stop, rewind every checkpoint, start again.
      expect(await fleet.terminate(worker)).toBe(0);
      for (const lease of await scanAll(client, tables.app)) {
        await client.send(
          new UpdateItemCommand({
            TableName: tables.app,
            Key: { leaseKey: { S: lease.leaseKey?.S ?? '' } },
            UpdateExpression: 'SET checkpoint = :th',
            ExpressionAttributeValues: { ':th': { S: 'TRIM_HORIZON' } },
          }),
        );
      }
      worker = await fleet.start(`target-${mode}-replay`);
      const result = await auditWhenConverged({ client, streams, tables: recreated, timeoutMs: 20_000 });
      await fleet.scrapeAll();
      report({
        scenario: `target-table-deleted-${mode}`,
        faults: { targetTableDeleted: 1 },
        ...auditFigures(result, fleet),
        durationMs: Date.now() - started,
        checkpointsSeenWhileMissing: seen.size,
        processingErrorsWhileMissing: errors,
        itemsOnlyInDeletedTable: beforeReplay.lost,
        examples: result.examples,
      });
      expect(result.lost + result.staleOverwrites + result.corrupted).toBe(0);
      expect(result.replicated).toBe(result.itemsInSource);
    }, 85_000);
  }
});
