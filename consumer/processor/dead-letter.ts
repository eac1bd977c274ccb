/**
 * The optional dead-letter table (POISON_RECORD_POLICY=dead-letter): one item per record the target refused,
 * keyed by shard and sequence number, with the item's keys and the reason, so an operator can replay or fix it.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/clock.js';
import { errorName } from '../../core/errors.js';
import type { PoisonChange } from './replica-writer.js';

export class DeadLetterTable {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    private readonly clock: Clock,
  ) {}

  async ensureExists(): Promise<void> {
    try {
      await this.client.send(
        new CreateTableCommand({
          TableName: this.tableName,
          AttributeDefinitions: [
            { AttributeName: 'shardId', AttributeType: 'S' },
            { AttributeName: 'sequenceNumber', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'shardId', KeyType: 'HASH' },
            { AttributeName: 'sequenceNumber', KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } catch (error) {
      if (errorName(error) !== 'ResourceInUseException') throw error;
    }
    for (let i = 0; i < 120; i++) {
      const { Table } = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      if (Table?.TableStatus === 'ACTIVE') return;
      await this.clock.sleep(1_000);
    }
  }

  async record(shardId: string, poison: PoisonChange, worker: string, targetTable: string): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          shardId: { S: shardId },
          sequenceNumber: { S: poison.change.sequenceNumber },
          eventName: { S: poison.change.eventName },
          keys: { M: poison.change.keys },
          reason: { S: poison.reason.slice(0, 2_000) },
          targetTable: { S: targetTable },
          worker: { S: worker },
          failedAt: { S: new Date().toISOString() },
        },
      }),
    );
  }
}
