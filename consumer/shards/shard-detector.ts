/** The stream as the worker needs it: its description at start-up, its shards for the shard sync. */
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { errorName, ResourceError } from '../../core/vocabulary/errors.js';
import { describeStream, listShards, type Shard, type StreamSummary } from '../../core/vocabulary/shard.js';

export interface ShardDetector {
  listShards(): Promise<Shard[]>;
}

export class DynamoDBStreamsShardDetector implements ShardDetector {
  constructor(
    private readonly client: DynamoDBStreamsClient,
    private readonly streamArn: string,
  ) {}

  /** Fails with a ResourceError that says what to check when the stream does not exist. */
  async describe(): Promise<StreamSummary> {
    try {
      return await describeStream(this.client, this.streamArn);
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

  listShards(): Promise<Shard[]> {
    return listShards(this.client, this.streamArn);
  }
}
