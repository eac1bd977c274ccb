/**
 * Records the target table refuses for good (poison records), routed per POISON_RECORD_POLICY:
 *
 * - items at DynamoDB's 400 KB limit: a source item of exactly 409,600 bytes is fine in the source, but its
 *   replica copy carries `processed_by` and `_streamfleet_seq` (76 bytes + the instance name) and is refused;
 *   one byte less than that overhead still fits, exactly at the limit;
 * - stream images the target cannot take: DynamoDB Local's stream turns an empty map `{"M":{}}` into `{}`,
 *   which PutItem refuses ("Supplied AttributeValue is empty");
 * - near-limit items in one batch, which the fenced writer must split over several transactions (4 MB cap).
 *
 * stop (default): the shard stalls at the record, the checkpoint stays before it, streamfleet_shards_stalled
 * says so, the log names the record; a graceful stop still works. dead-letter: the record goes to the
 * dead-letter table with its keys and the reason, the shard moves on, everything else converges.
 */
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  PROCESSED_BY_ATTRIBUTE,
  SEQUENCE_ATTRIBUTE,
} from '../../consumer/replication/replication-processor.js';
import { ORDERED_SEQUENCE_WIDTH } from '../../core/vocabulary/sequence.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { scanAll, uniqueName, waitFor } from '../support/fleet.js';
import {
  type AuditedTables,
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  EMAIL_KEY,
  FAST_LEASES,
  Fleet,
  type Item,
  keyId,
  readWholeStream,
  reliabilitySuite,
  report,
  scrapeMetrics,
  sleep,
} from './harness.js';

const proxies: FaultProxy[] = [];
const { endpoint, client, streams } = reliabilitySuite(() => Promise.all(proxies.map((p) => p.close())));

const ITEM_LIMIT = 409_600;
/** Bytes the replica copy adds: both attribute names, the instance name, the fixed-width sequence number. */
const overhead = (instance: string) =>
  PROCESSED_BY_ATTRIBUTE.length + instance.length + SEQUENCE_ATTRIBUTE.length + ORDERED_SEQUENCE_WIDTH;

/** An item of exactly `size` bytes by DynamoDB's measure (names + values; ASCII here). */
function itemOfSize(email: string, size: number, extra: Item = {}): Item {
  const base = 'email'.length + email.length + 'data'.length;
  let extraBytes = 0;
  for (const [name, value] of Object.entries(extra)) extraBytes += name.length + (value.S?.length ?? 0);
  return { email: { S: email }, ...extra, data: { S: 'x'.repeat(size - base - extraBytes) } };
}

const put = (tables: AuditedTables, item: Item) =>
  client.send(new PutItemCommand({ TableName: tables.source, Item: item }));
const small = (email: string, version = 1): Item => ({
  email: { S: email },
  version: { N: String(version) },
});

async function checkpointOf(tables: AuditedTables): Promise<string | undefined> {
  return (await scanAll(client, tables.app)).find((l) => l.checkpoint?.S !== 'SHARD_END')?.checkpoint?.S;
}

describe('poison records (the target refuses the change)', () => {
  it('stop: the shard stalls before the record without moving its checkpoint; dead-letter then moves past it', async () => {
    const started = Date.now();
    const tables = await createAuditedTables(client);
    const stopper = 'poison-stop';
    // One record per batch, so "before the record" is a precise checkpoint.
    const fleet = new Fleet({ endpoint, tables, env: { ...FAST_LEASES, MAX_RECORDS: '1' } });
    for (let i = 1; i <= 3; i++) await put(tables, small(`a${i}@example.com`));
    await put(tables, itemOfSize('too-big@example.com', ITEM_LIMIT)); // fits the source, not the replica
    await put(tables, { email: { S: 'empty-map@example.com' }, m: { M: {} } }); // refused: see file comment
    for (let i = 1; i <= 3; i++) await put(tables, small(`b${i}@example.com`));
    const records = await readWholeStream(streams, tables.streamArn);
    const seqOf = (email: string) =>
      records.find((r) => r.dynamodb?.Keys?.email?.S === email)?.dynamodb?.SequenceNumber ?? '';

    const worker = await fleet.start(stopper);
    await waitFor(async () => (await scrapeMetrics(worker.port))?.get('streamfleet_shards_stalled') === 1, {
      timeoutMs: 15_000,
      message: 'the shard to stall',
    });
    await sleep(2_000); // a few retries of the stalled batch
    const metrics = await scrapeMetrics(worker.port);
    const stalledAt = await checkpointOf(tables);
    const replicaWhileStalled = (await scanAll(client, tables.target)).map((i) => i.email?.S).sort();
    expect(stalledAt).toBe(seqOf('a3@example.com'));
    expect(replicaWhileStalled).toEqual(['a1@example.com', 'a2@example.com', 'a3@example.com']);
    expect(metrics?.get('streamfleet_poison_records_total')).toBeGreaterThanOrEqual(1);
    const [poison] = worker.events('record.poison');
    expect(poison?.keys).toEqual({ email: { S: 'too-big@example.com' } });
    expect(poison?.reason).toMatch(
      /Item size has exceeded the maximum allowed size|Item size to update has exceeded/,
    );
    // The error says what to do about it.
    const failed = worker.events('batch.failed').map((e) => (e.err as { message?: string }).message ?? '');
    expect(failed.some((message) => message.includes('POISON_RECORD_POLICY=dead-letter'))).toBe(true);

    // A graceful stop still works while stalled, and the checkpoint still has not moved.
    const stopping = Date.now();
    expect(await fleet.terminate(worker)).toBe(0);
    const stopMs = Date.now() - stopping;
    expect(await checkpointOf(tables)).toBe(seqOf('a3@example.com'));

    // The operator switches to dead-letter: the two refused records are set aside, the rest converges.
    const deadLetterTable = uniqueName('dlq');
    const next = await fleet.start('poison-dlq', {
      env: { POISON_RECORD_POLICY: 'dead-letter', DEAD_LETTER_TABLE_NAME: deadLetterTable },
    });
    const refused = new Set([
      keyId({ email: { S: 'too-big@example.com' } }, EMAIL_KEY),
      keyId({ email: { S: 'empty-map@example.com' } }, EMAIL_KEY),
    ]);
    const result = await auditWhenConverged({
      client,
      streams,
      tables,
      excludeKeys: refused,
      timeoutMs: 20_000,
    });
    const dlq = await waitFor(
      async () => {
        const items = await scanAll(client, deadLetterTable);
        return items.length >= 2 ? items : undefined;
      },
      { timeoutMs: 10_000, message: 'two dead-lettered records' },
    );
    await fleet.scrapeAll();
    report({
      scenario: 'poison-stop-then-dead-letter',
      faults: { poisonRecords: 2 },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      stalledCheckpointHeld: true,
      gracefulStopWhileStalledMs: stopMs,
      deadLettered: dlq.length,
      examples: result.examples,
    });
    expect(result.lost + result.staleOverwrites + result.corrupted).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource - 2);
    expect(dlq.map((i) => i.keys?.M?.email?.S).sort()).toEqual([
      'empty-map@example.com',
      'too-big@example.com',
    ]);
    for (const item of dlq) {
      expect(item.reason?.S).toBeTruthy();
      expect(item.sequenceNumber?.S).toBe(seqOf(item.keys?.M?.email?.S ?? ''));
      expect(item.targetTable?.S).toBe(tables.target);
    }
    expect(await scrapeMetrics(next.port).then((m) => m?.get('streamfleet_dead_lettered_total'))).toBe(2);
    expect(await scrapeMetrics(next.port).then((m) => m?.get('streamfleet_shards_stalled'))).toBe(0);
  }, 80_000);

  for (const mode of ['fenced', 'conditional'] as const) {
    it(`dead-letter (${mode}): exactly at the limit fits, one byte over is dead-lettered, big batches split`, async () => {
      const started = Date.now();
      const tables = await createAuditedTables(client);
      const instance = `dl-${mode}`;
      const deadLetterTable = uniqueName('dlq');
      const fleet = new Fleet({
        endpoint,
        tables,
        env: {
          ...FAST_LEASES,
          REPLICATION_WRITE_MODE: mode,
          POISON_RECORD_POLICY: 'dead-letter',
          DEAD_LETTER_TABLE_NAME: deadLetterTable,
        },
      });
      const fitsExactly = ITEM_LIMIT - overhead(instance);
      // Twelve near-limit items written back to back land in one GetRecords batch: 4.6 MB, over a transaction's 4 MB.
      for (let i = 0; i < 12; i++) await put(tables, itemOfSize(`big-${i}@example.com`, 380_000));
      await put(tables, itemOfSize('exactly-at-limit@example.com', fitsExactly));
      await put(tables, itemOfSize('one-byte-over@example.com', fitsExactly + 1));
      await put(tables, itemOfSize('shrinks-later@example.com', ITEM_LIMIT));
      for (let i = 0; i < 20; i++) await put(tables, small(`n${i}@example.com`));
      // Through a proxy that injects nothing but measures each replica transaction.
      const transactionBytes: number[] = [];
      const proxy = await FaultProxy.start({ upstream: endpoint });
      proxies.push(proxy);
      proxy.observe((request) => {
        if (request.operation === 'TransactWriteItems')
          transactionBytes.push(Buffer.byteLength(request.body));
      });
      const worker = await fleet.start(instance, { endpoint: proxy.endpoint });
      await waitFor(async () => (await scanAll(client, deadLetterTable).catch(() => [])).length >= 2, {
        timeoutMs: 20_000,
        message: 'two records dead-lettered',
      });
      // The refused item changes again, small enough now: the newer version replicates.
      await client.send(
        new UpdateItemCommand({
          TableName: tables.source,
          Key: { email: { S: 'shrinks-later@example.com' } },
          UpdateExpression: 'REMOVE #data SET version = :v',
          ExpressionAttributeNames: { '#data': 'data' },
          ExpressionAttributeValues: { ':v': { N: '2' } },
        }),
      );
      for (let i = 0; i < 20; i++) await put(tables, small(`n${i}@example.com`, 2));
      const excluded = new Set([keyId({ email: { S: 'one-byte-over@example.com' } }, EMAIL_KEY)]);
      const result = await auditWhenConverged({
        client,
        streams,
        tables,
        excludeKeys: excluded,
        timeoutMs: 30_000,
      });
      const dlq = await scanAll(client, deadLetterTable);
      await fleet.scrapeAll();
      report({
        scenario: `poison-dead-letter-size-limits-${mode}`,
        faults: { poisonRecords: dlq.length },
        ...auditFigures(result, fleet),
        durationMs: Date.now() - started,
        replicaBytesOfExactItem: ITEM_LIMIT,
        deadLettered: dlq.map((i) => i.keys?.M?.email?.S).sort(),
        largestTransactionBytes: Math.max(0, ...transactionBytes),
        transactionsOver1MB: transactionBytes.filter((b) => b > 1_000_000).length,
        examples: result.examples,
      });
      if (mode === 'fenced') {
        // The 4.6 MB batch went out as more than one transaction, each under DynamoDB's 4 MB.
        expect(transactionBytes.filter((b) => b > 1_000_000).length).toBeGreaterThanOrEqual(2);
        expect(Math.max(...transactionBytes)).toBeLessThan(4_000_000);
      }
      expect(result.lost + result.staleOverwrites + result.corrupted).toBe(0);
      expect(result.replicated).toBe(result.itemsInSource - 1);
      expect(dlq.map((i) => i.keys?.M?.email?.S).sort()).toEqual([
        'one-byte-over@example.com',
        'shrinks-later@example.com',
      ]);
      expect(dlq.every((i) => /size/i.test(i.reason?.S ?? ''))).toBe(true);
      expect((await scrapeMetrics(worker.port))?.get('streamfleet_shards_stalled')).toBe(0);
    }, 70_000);
  }
});
