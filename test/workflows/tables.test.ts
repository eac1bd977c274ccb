/** ensureReplicationTables against DynamoDB Local: create, enable the stream, idempotence, refusals. */
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deleteTables, ensureReplicationTables } from '../../core/tables/tables.js';
import { PreconditionError } from '../../core/vocabulary/errors.js';
import { localClient, uniqueName } from '../support/fleet.js';

const endpoint = inject('ddbEndpoint');

describe('ensureReplicationTables', () => {
  let client: DynamoDBClient;
  beforeAll(() => {
    client = localClient(endpoint);
  });
  afterAll(() => client.destroy());

  const create = (name: string, extra: Record<string, unknown> = {}, key = 'email') =>
    client.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        ...extra,
      }),
    );

  it('creates both tables with the stream, and a second run changes nothing', async () => {
    const source = uniqueName('t-users');
    const replica = `${source}_replica`;
    const first = await ensureReplicationTables(client, {
      sourceTableName: source,
      replicaTableName: replica,
      create: true,
    });
    expect(first.created).toEqual([source, replica]);
    expect(first.streamArn).toMatch(new RegExp(`table/${source}/stream/`));
    expect(first.key).toEqual({ partitionKey: { name: 'email', type: 'S' } });
    const second = await ensureReplicationTables(client, {
      sourceTableName: source,
      replicaTableName: replica,
      create: true,
    });
    expect(second).toEqual({ ...first, created: [], streamEnabled: false });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: source }));
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(await deleteTables(client, [source, replica, 'absent-table'])).toEqual({
      deleted: [source, replica],
      absent: ['absent-table'],
    });
  });

  it('turns the stream on for an existing source table, and creates the replica with its key', async () => {
    const source = uniqueName('t-items');
    await create(source, {}, 'id');
    const result = await ensureReplicationTables(client, {
      sourceTableName: source,
      replicaTableName: `${source}_r`,
      create: true,
    });
    expect(result.streamEnabled).toBe(true);
    expect(result.created).toEqual([`${source}_r`]);
    expect(result.key).toEqual({ partitionKey: { name: 'id', type: 'S' } });
  });

  it('refuses, saying what to do: missing tables without create, a KEYS_ONLY stream, a replica with another key', async () => {
    const missing = await ensureReplicationTables(client, {
      sourceTableName: uniqueName('t-none'),
      replicaTableName: uniqueName('t-none-r'),
      create: false,
    }).catch((e) => e);
    expect(missing).toBeInstanceOf(PreconditionError);
    expect((missing as Error).message).toMatch(/does not exist\. What to do: .*"create": true/);

    const keysOnly = uniqueName('t-keys');
    await create(keysOnly, { StreamSpecification: { StreamEnabled: true, StreamViewType: 'KEYS_ONLY' } });
    const viewType = await ensureReplicationTables(client, {
      sourceTableName: keysOnly,
      replicaTableName: `${keysOnly}_r`,
      create: true,
    }).catch((e) => e);
    expect((viewType as Error).message).toContain('shows KEYS_ONLY; the replica needs NEW_AND_OLD_IMAGES');

    const source = uniqueName('t-src');
    const replica = uniqueName('t-rep');
    await create(source, {
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
    await create(replica, {}, 'id');
    const mismatch = await ensureReplicationTables(client, {
      sourceTableName: source,
      replicaTableName: replica,
      create: true,
    }).catch((e) => e);
    expect(mismatch).toBeInstanceOf(PreconditionError);
    expect((mismatch as Error).message).toContain(
      `has the key id (S, HASH), but ${source} has email (S, HASH)`,
    );
  });
});
