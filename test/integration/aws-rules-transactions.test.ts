/**
 * The strict layer's transaction conflicts, through the real AWS SDK v3 client, in front of the shared
 * DynamoDB Local. One layer for this file; each test has its own tables.
 */
import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactionConflictException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsRulesProxy, fetchAwsRulesStats, setAwsRules } from '../../local/aws-rules/index.js';
import { emulatorEndpoint } from '../support/aws-rules.js';

const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

let layer: AwsRulesProxy;
let ddb: DynamoDBClient;

beforeAll(async () => {
  layer = await AwsRulesProxy.start({ upstream: emulatorEndpoint() });
  // One attempt: the SDK would otherwise retry some refusals and hide them.
  ddb = new DynamoDBClient({ endpoint: layer.endpoint, region, credentials, maxAttempts: 1 });
});

afterAll(async () => {
  ddb?.destroy();
  await layer?.close();
});

async function createTables(): Promise<{ leases: string; replica: string }> {
  const prefix = `rules-${randomUUID().slice(0, 8)}`;
  const tables = { leases: `${prefix}-leases`, replica: `${prefix}-replica` };
  for (const [table, keyName] of [
    [tables.leases, 'leaseKey'],
    [tables.replica, 'id'],
  ] as const) {
    await ddb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: keyName, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: keyName, KeyType: 'HASH' }],
      }),
    );
  }
  await ddb.send(
    new PutItemCommand({
      TableName: tables.leases,
      Item: { leaseKey: { S: 'shard-1' }, leaseCounter: { N: '0' } },
    }),
  );
  return tables;
}

interface ExperimentResult {
  committed: number;
  cancelled: TransactionCanceledException[];
  renewed: number;
  refusedRenewals: TransactionConflictException[];
  other: unknown[];
}

const WRITERS = 8;
const TRANSACTIONS_PER_WRITER = 25;
const RENEWALS = 50;
const TRANSACTIONS = WRITERS * TRANSACTIONS_PER_WRITER;

/**
 * The experiment: 8 concurrent writers, 200 transactions that each ConditionCheck the shard's
 * lease item and Put a replica item, while a renewer updates the lease item 50 times. A writer waits a
 * few milliseconds after a cancellation, as any client backs off.
 */
async function runExperiment(tables: { leases: string; replica: string }): Promise<ExperimentResult> {
  const result: ExperimentResult = {
    committed: 0,
    cancelled: [],
    renewed: 0,
    refusedRenewals: [],
    other: [],
  };
  const writer = async (w: number) => {
    for (let i = 0; i < TRANSACTIONS_PER_WRITER; i += 1) {
      try {
        await ddb.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: tables.leases,
                  Key: { leaseKey: { S: 'shard-1' } },
                  ConditionExpression: 'attribute_exists(leaseKey)',
                },
              },
              { Put: { TableName: tables.replica, Item: { id: { S: `w${w}-${i}` }, v: { N: String(i) } } } },
            ],
          }),
        );
        result.committed += 1;
      } catch (error) {
        if (error instanceof TransactionCanceledException) result.cancelled.push(error);
        else result.other.push(error);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
  const renewer = async () => {
    for (let i = 0; i < RENEWALS; i += 1) {
      try {
        await ddb.send(
          new UpdateItemCommand({
            TableName: tables.leases,
            Key: { leaseKey: { S: 'shard-1' } },
            UpdateExpression: 'SET leaseCounter = leaseCounter + :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
          }),
        );
        result.renewed += 1;
      } catch (error) {
        if (error instanceof TransactionConflictException) result.refusedRenewals.push(error);
        else result.other.push(error);
      }
    }
  };
  await Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), renewer()]);
  return result;
}

describe('transaction conflicts through the strict layer', () => {
  it("makes the issue's experiment conflict, in both shapes the SDK parses, and counts every refusal", async () => {
    const tables = await createTables();
    const result = await runExperiment(tables);

    expect(result.other).toEqual([]);
    expect(result.committed).toBeGreaterThan(0);
    expect(result.cancelled.length).toBeGreaterThan(0);
    expect(result.refusedRenewals.length).toBeGreaterThan(0);
    for (const error of result.cancelled) {
      expect(error.name).toBe('TransactionCanceledException');
      expect(error.CancellationReasons).toEqual([
        { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
        { Code: 'None' },
      ]);
    }
    for (const error of result.refusedRenewals) {
      expect(error.name).toBe('TransactionConflictException');
      expect(error.message).toBe('Transaction is ongoing for the item');
      expect(error.$metadata.httpStatusCode).toBe(400);
    }

    const stats = await fetchAwsRulesStats(layer.endpoint);
    expect(stats.refused.transactionConflicts.byTable[tables.leases]).toEqual({
      cancelledTransactions: result.cancelled.length,
      refusedSingleWrites: result.refusedRenewals.length,
    });
    expect(stats.refused.transactionConflicts.byTable[tables.replica]).toBeUndefined();
    expect(stats.requests.byTable[tables.replica]).toBe(1 + TRANSACTIONS); // its CreateTable, then every transaction

    // What committed is in the table; what was cancelled is not.
    const written = await Promise.all(
      Array.from({ length: TRANSACTIONS }, (_, n) =>
        ddb.send(
          new GetItemCommand({
            TableName: tables.replica,
            Key: { id: { S: `w${n % WRITERS}-${Math.floor(n / WRITERS)}` } },
          }),
        ),
      ),
    );
    expect(written.filter((answer) => answer.Item).length).toBe(result.committed);
  });

  it('lets everything through with the rule switched off over HTTP', async () => {
    const tables = await createTables();
    expect(await setAwsRules(layer.endpoint, { transactionConflicts: false })).toMatchObject({
      transactionConflicts: false,
      getRecordsRate: true,
    });
    try {
      const result = await runExperiment(tables);
      expect(result).toMatchObject({
        committed: TRANSACTIONS,
        cancelled: [],
        renewed: RENEWALS,
        refusedRenewals: [],
        other: [],
      });
      const stats = await fetchAwsRulesStats(layer.endpoint);
      expect(stats.refused.transactionConflicts.byTable[tables.leases]).toBeUndefined();
      expect(stats.rules.transactionConflicts).toBe(false);
    } finally {
      await setAwsRules(layer.endpoint, { transactionConflicts: true });
    }
  });

  it('refuses a renewal of the item a long transaction checks, and lets it through once that has answered', async () => {
    const tables = await createTables();
    const slow = await AwsRulesProxy.start({
      upstream: emulatorEndpoint(),
      transactionCommitLatencyMs: 1_500,
    });
    const client = new DynamoDBClient({ endpoint: slow.endpoint, region, credentials, maxAttempts: 1 });
    const renew = () =>
      client.send(
        new UpdateItemCommand({
          TableName: tables.leases,
          Key: { leaseKey: { S: 'shard-1' } },
          UpdateExpression: 'SET leaseCounter = leaseCounter + :one',
          ExpressionAttributeValues: { ':one': { N: '1' } },
        }),
      );
    try {
      const transaction = client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: tables.leases,
                Key: { leaseKey: { S: 'shard-1' } },
                ConditionExpression: 'leaseCounter = :zero',
                ExpressionAttributeValues: { ':zero': { N: '0' } },
              },
            },
            {
              Update: {
                TableName: tables.replica,
                Key: { id: { S: 'a' } },
                UpdateExpression: 'SET v = :v',
                ExpressionAttributeValues: { ':v': { N: '1' } },
              },
            },
          ],
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await expect(renew()).rejects.toBeInstanceOf(TransactionConflictException);
      await transaction; // its condition held: the renewal never reached the table
      await renew();
      expect(slow.stats().transactions).toEqual({ committed: 1, failedUpstream: 0, unmodelled: 0 });
      expect(slow.stats().refused.transactionConflicts.refusedSingleWrites).toBe(1);
    } finally {
      client.destroy();
      await slow.close();
    }
  });

  it("leaves DynamoDB Local's own condition failures as they are", async () => {
    const tables = await createTables();
    await expect(
      ddb.send(
        new PutItemCommand({
          TableName: tables.leases,
          Item: { leaseKey: { S: 'shard-1' } },
          ConditionExpression: 'attribute_not_exists(leaseKey)',
        }),
      ),
    ).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const error = await ddb
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: tables.replica, Item: { id: { S: 'x' } } } },
            {
              ConditionCheck: {
                TableName: tables.leases,
                Key: { leaseKey: { S: 'shard-1' } },
                ConditionExpression: 'attribute_not_exists(leaseKey)',
              },
            },
          ],
        }),
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect((error as TransactionCanceledException).CancellationReasons?.map((reason) => reason.Code)).toEqual(
      ['None', 'ConditionalCheckFailed'],
    );
  });
});
