/**
 * The owner index added online to a lease table that lacks it (a KCL 1.x one: provisioned, hash key only), through
 * the strict layer, whose `tableUpdates` rule answers a second UpdateTable in flight as AWS does
 * (ResourceInUseException) where DynamoDB Local alone would accept both: of requests sent at once exactly one adds
 * it, and of a fleet started at once exactly one worker says it did, every worker switches to it once.
 */
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { addOwnerIndex } from '../../core/vocabulary/lease-owner-index.js';
import { metricValue, parsePrometheusText } from '../../core/vocabulary/prometheus.js';
import { createKcl1LeaseTable } from '../support/fake-kcl1.js';
import {
  createReplicationTables,
  localClient,
  stopAll,
  uniqueName,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const workers = new Set<WorkerProcess>();
afterAll(() => stopAll(workers));

const describeTable = async (name: string) =>
  (await client.send(new DescribeTableCommand({ TableName: name }))).Table;

describe('adding the owner index to a lease table that lacks it', () => {
  it('of three requests sent at once, exactly one adds it, with the provisioned table’s own units', async () => {
    for (let round = 0; round < 5; round++) {
      const name = uniqueName('kcl-index');
      await createKcl1LeaseTable(client, name, { read: 7, write: 5 });
      const table = await describeTable(name);
      if (!table) throw new Error('no table');
      const outcomes = await Promise.all([1, 2, 3].map(() => addOwnerIndex(client, table)));
      expect(
        outcomes.filter((o) => o === 'created'),
        outcomes.join(', '),
      ).toHaveLength(1);
      expect(outcomes.filter((o) => o !== 'created').every((o) => o === 'busy' || o === 'exists')).toBe(true);
      const index = (await describeTable(name))?.GlobalSecondaryIndexes ?? [];
      expect(index).toHaveLength(1);
      expect(index[0]?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 7, WriteCapacityUnits: 5 });
    }
  });

  it('an on-demand table: the index is added without throughput of its own', async () => {
    const name = uniqueName('ondemand-index');
    await client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const table = await describeTable(name);
    if (!table) throw new Error('no table');
    expect(await addOwnerIndex(client, table)).toBe('created');
    const [index] = (await describeTable(name))?.GlobalSecondaryIndexes ?? [];
    expect(index?.IndexName).toBe('LeaseOwnerToLeaseKeyIndex');
    expect(index?.ProvisionedThroughput?.ReadCapacityUnits ?? 0).toBe(0);
  });

  it('three workers started together on a KCL 1.x table: one says it added the index, all switch to it once', async () => {
    const tables = await createReplicationTables(client);
    await createKcl1LeaseTable(client, tables.app);
    const fleet = await Promise.all(
      ['ix-a', 'ix-b', 'ix-c'].map((name) =>
        WorkerProcess.start({
          endpoint,
          tables,
          name,
          env: { LEASE_DURATION_MS: '3000', LEASE_TAKER_INTERVAL_MS: '300', LOG_LEVEL: 'info' },
        }),
      ),
    );
    for (const worker of fleet) workers.add(worker);
    for (const worker of fleet)
      await worker.waitForEvent('lease-table.owner-index-ready', () => true, 30_000);
    const adding = fleet.flatMap((w) => w.events('lease-table.owner-index-adding'));
    expect(adding.filter((e) => e.created === true)).toHaveLength(1);
    expect(adding.every((e) => e.billingMode === 'PROVISIONED' && e.writeCapacityUnits === 10)).toBe(true);
    for (const worker of fleet) {
      expect(worker.events('lease-table.ready')[0]?.ownerIndex, worker.name).toBe(false);
      expect(worker.events('lease-table.owner-index-adding').length, worker.name).toBeLessThanOrEqual(1);
      expect(worker.events('lease-table.owner-index-ready'), worker.name).toHaveLength(1);
      expect(worker.events('lease-table.owner-index-failed'), worker.name).toEqual([]);
    }
    // Once ACTIVE, the lease loop reads the index (its own leases) instead of scanning every pass.
    const queries = async (worker: WorkerProcess) => {
      const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
      return (
        metricValue(parsePrometheusText(text), 'streamfleet_lease_table_requests_total', {
          operation: 'Query',
        }) ?? 0
      );
    };
    await waitFor(async () => (await Promise.all(fleet.map(queries))).some((q) => q > 0), {
      timeoutMs: 20_000,
      message: 'a worker to query the owner index',
    });
  }, 90_000);
});
