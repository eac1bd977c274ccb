/**
 * The scheduled replication check's sample against DynamoDB Local: k differences planted at random in a
 * 20,000-item table are found as often as the verdict's confidence statement says (seeded runs), the read
 * budget holds whatever it finds, a table the budget covers is compared whole, and changes in flight while
 * the check runs are not reported as differing.
 */
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  detectionProbabilityWithoutReplacement,
  mismatchRateUpperBound,
} from '../../core/verification/confidence.js';
import type { ComparedTables } from '../../core/verification/replica-compare.js';
import {
  type SampledComparison,
  sampledComparison,
  type TableStats,
} from '../../core/verification/sampled-check.js';
import { seededRandom } from '../support/fault-proxy.js';
import { localClient, uniqueName } from '../support/fleet.js';
import { fillPair, plantDifferences, replicaOf, USERS_KEY, userItem } from '../support/replica-tables.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
afterAll(() => client.destroy());

async function createPair(prefix: string): Promise<ComparedTables> {
  const names = { sourceTable: `${prefix}-users`, replicaTable: `${prefix}-users_replica` };
  for (const TableName of [names.sourceTable, names.replicaTable]) {
    await client.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  return { key: USERS_KEY, ...names };
}

const noWait = { sleep: async () => {}, now: Date.now };

function run(
  tables: ComparedTables,
  stats: { source: TableStats; replica: TableStats },
  options: {
    readBudget: number;
    seed: number;
    sleep?: (ms: number) => Promise<void>;
    recheckAfterMs?: number;
  },
): Promise<SampledComparison> {
  return sampledComparison(
    client,
    { ...noWait, random: seededRandom(options.seed), ...(options.sleep ? { sleep: options.sleep } : {}) },
    tables,
    stats,
    {
      readBudget: options.readBudget,
      recheckAfterMs: options.recheckAfterMs ?? 0,
      lagBoundMs: null,
      maxDurationMs: 60_000,
    },
  );
}

describe('sampled replication check on a 20,000-item table', () => {
  const N = 20_000;
  const BUDGET = 100;
  let tables: ComparedTables;
  const stats = {
    source: { itemCount: N, sizeBytes: N * 110 },
    replica: { itemCount: N, sizeBytes: N * 170 },
  };

  beforeAll(async () => {
    tables = await createPair(uniqueName('sample'));
    await fillPair(client, { source: tables.sourceTable, replica: tables.replicaTable }, { to: N });
  }, 120_000);

  it('compares a bounded sample spread over many segments, within the budget, and finds nothing on a true replica', async () => {
    const result = await run(tables, stats, { readBudget: BUDGET, seed: 1 });
    expect(result.tally.missing + result.tally.differing + result.tally.extra).toBe(0);
    expect(result.source.census).toBe(false);
    expect(result.source.compared).toBeGreaterThan(50);
    expect(result.source.segments.read).toBeGreaterThan(3);
    expect(result.readUnits.total).toBeLessThanOrEqual(BUDGET);
    // The statement is the exact bound for what was compared.
    expect(result.source.statement.upperBound).toBeCloseTo(
      mismatchRateUpperBound(result.source.compared, 0),
      12,
    );
  });

  it('finds planted differences as often as its stated confidence says (seeded runs)', async () => {
    // Rates chosen against a typical sample: at the stated bound (≈95 % detection) and at a third of it (≈63 %).
    const typical = (await run(tables, stats, { readBudget: BUDGET, seed: 999 })).source.compared;
    const atBound = Math.ceil(N * mismatchRateUpperBound(typical, 0));
    const planted = await plantDifferences(
      client,
      { source: tables.sourceTable, replica: tables.replicaTable },
      {
        count: N,
        missing: Math.ceil(atBound / 2),
        differing: Math.floor(atBound / 2),
        extra: 0,
        random: seededRandom(7),
      },
    );
    const k = planted.missing.length + planted.differing.length;

    const RUNS = 60;
    let detected = 0;
    let expected = 0;
    let variance = 0;
    let falseStatements = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const result = await run(tables, stats, { readBudget: BUDGET, seed: 1_000 + seed });
      expect(result.readUnits.total).toBeLessThanOrEqual(BUDGET);
      const found = result.tally.missing + result.tally.differing;
      const n = result.source.compared;
      // Every mismatch it reports is one of the planted ones.
      for (const key of result.tally.examples.missing) expect(planted.missing).toContain(key);
      for (const key of result.tally.examples.differing) expect(planted.differing).toContain(key);
      if (found > 0) detected++;
      // A statement is false when the true rate lies above the bound it states.
      if (k / N > result.source.statement.upperBound) falseStatements++;
      const p = detectionProbabilityWithoutReplacement(N, k, n);
      expected += p;
      variance += p * (1 - p);
    }
    const sigma = Math.sqrt(variance);
    // Observed detections within 3σ of what the sample sizes predict, and ≥ 95 % − 3σ at the stated bound.
    expect(Math.abs(detected - expected)).toBeLessThanOrEqual(3 * sigma + 1);
    expect(detected / RUNS).toBeGreaterThanOrEqual(0.95 - (3 * sigma) / RUNS);
    // 95 % confidence: at most 5 % of the statements may be false, with the same slack.
    expect(falseStatements / RUNS).toBeLessThanOrEqual(0.05 + (3 * sigma) / RUNS);
  }, 120_000);
});

describe('a table the budget covers', () => {
  it('is compared whole, and a re-check tells changes in flight from a replica that is wrong', async () => {
    const tables = await createPair(uniqueName('census'));
    const pair = { source: tables.sourceTable, replica: tables.replicaTable };
    const N = 600;
    await fillPair(client, pair, { to: N });
    const put = (table: string, item: Record<string, AttributeValue>) =>
      client.send(new PutItemCommand({ TableName: table, Item: item }));
    const changed = (i: number, city: string) => ({ ...userItem(i), city: { S: city } });

    // Settling: the source changed and the fleet applies it during the re-check's wait.
    for (const i of [1, 2, 3]) await put(pair.source, changed(i, 'Rome'));
    // In flight: changed twice; the fleet has applied the first change only when the re-check reads.
    for (const i of [4, 5]) await put(pair.source, changed(i, 'Paris'));
    // Stuck: the source changed and the replica never follows.
    for (const i of [6, 7]) await put(pair.source, changed(i, 'Quito'));
    // A new source item the fleet writes during the wait, and a delete it applies during the wait.
    await put(pair.source, userItem(N + 1));
    await client.send(new PutItemCommand({ TableName: pair.replica, Item: replicaOf(userItem(N + 2)) }));

    let waited = 0;
    const fleetCatchesUp = async (ms: number) => {
      waited += ms;
      for (const i of [1, 2, 3]) await put(pair.replica, replicaOf(changed(i, 'Rome')));
      for (const i of [4, 5]) {
        await put(pair.replica, replicaOf(changed(i, 'Berlin')));
        await put(pair.source, changed(i, 'Madrid'));
      }
      await put(pair.replica, replicaOf(userItem(N + 1)));
      await client.send(
        new DeleteItemCommand({
          TableName: pair.replica,
          Key: { email: { S: userItem(N + 2).email?.S as string } },
        }),
      );
    };
    const result = await run(
      tables,
      { source: { itemCount: N, sizeBytes: N * 110 }, replica: { itemCount: N, sizeBytes: N * 170 } },
      { readBudget: 5_000, seed: 3, sleep: fleetCatchesUp, recheckAfterMs: 2_000 },
    );
    expect(result.source.census).toBe(true);
    expect(result.replica.census).toBe(true);
    expect(result.source.compared).toBe(N + 1);
    expect(waited).toBe(2_000);
    expect(result.tally).toMatchObject({
      settled: 3 + 1 + 1,
      inFlight: 2,
      differing: 2,
      missing: 0,
      extra: 0,
    });
    expect(result.tally.examples.differing.sort()).toEqual(
      [6, 7].map((i) => `{"email":{"S":"user-${i}@example.com"}}`),
    );
    expect(result.source.statement).toMatchObject({ census: true, mismatches: 2, compared: N + 1 });
  }, 60_000);
});
