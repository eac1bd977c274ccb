/**
 * The optional dead-letter table (POISON_RECORD_POLICY=dead-letter): one item per poison record, keyed by shard
 * and sequence number, with the item's keys and the reason, so an operator can replay or fix it.
 */
import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/vocabulary/clock.js';
import { errorName } from '../../core/vocabulary/errors.js';

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

  /**
   * Records one poison record: its shard and sequence number (the key), its event and item keys as the stream
   * gave them, why, and the table its refused write was for (when one was).
   */
  async record(entry: DeadLetter): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          shardId: { S: entry.shardId },
          sequenceNumber: { S: entry.sequenceNumber },
          eventName: { S: entry.eventName },
          keys: { M: entry.keys },
          reason: { S: entry.reason.slice(0, 2_000) },
          ...(entry.targetTable ? { targetTable: { S: entry.targetTable } } : {}),
          worker: { S: entry.worker },
          failedAt: { S: new Date().toISOString() },
        },
      }),
    );
  }
}

export interface DeadLetter {
  shardId: string;
  sequenceNumber: string;
  eventName: string;
  keys: Record<string, AttributeValue>;
  reason: string;
  /** The table a refused write was for; absent when the processor itself failed on the record. */
  targetTable?: string | undefined;
  worker: string;
}
