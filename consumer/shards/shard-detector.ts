/** Lists a stream's shards, following DescribeStream's pages (at most 100 shards each). */
import { DescribeStreamCommand, type DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { errorName, ResourceError } from '../../core/errors.js';
import type { Shard } from './shard.js';

export interface ShardDetector {
  listShards(): Promise<Shard[]>;
}

export interface StreamDescription {
  status: string | undefined;
  tableName: string | undefined;
  viewType: string | undefined;
}

export class DynamoDBStreamsShardDetector implements ShardDetector {
  constructor(
    private readonly client: DynamoDBStreamsClient,
    private readonly streamArn: string,
  ) {}

  /** Fails with a ResourceError that says what to check when the stream does not exist. */
  async describe(): Promise<StreamDescription> {
    try {
      const { StreamDescription: d } = await this.client.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, Limit: 1 }),
      );
      return { status: d?.StreamStatus, tableName: d?.TableName, viewType: d?.StreamViewType };
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') {
        throw new ResourceError(
          `Stream ${this.streamArn} does not exist. Set SOURCE_TABLE_STREAM_ARN to the table's current stream ARN ` +
            '(aws dynamodb describe-table --table-name TABLE --query Table.LatestStreamArn); ' +
            'a stream that was disabled and re-enabled has a new ARN.',
          { cause: error },
        );
      }
      throw error;
    }
  }

  async listShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription: d } = await this.client.send(
        new DescribeStreamCommand({
          StreamArn: this.streamArn,
          ExclusiveStartShardId: exclusiveStartShardId,
          Limit: 100,
        }),
      );
      for (const s of d?.Shards ?? []) {
        if (!s.ShardId) continue;
        shards.push({
          shardId: s.ShardId,
          parentShardId: s.ParentShardId,
          startingSequenceNumber: s.SequenceNumberRange?.StartingSequenceNumber,
          endingSequenceNumber: s.SequenceNumberRange?.EndingSequenceNumber,
        });
      }
      exclusiveStartShardId = d?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    return shards;
  }
}
