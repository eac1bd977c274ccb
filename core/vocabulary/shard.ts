/**
 * A stream's shards, as DynamoDB Streams lists them: one lister (DescribeStream, every page) for the workers'
 * shard sync, the checks, the local KEDA, the tests and the bench.
 */
import { DescribeStreamCommand, type DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';

/** A shard as the stream lists it, reduced to what lineage needs. */
export interface Shard {
  shardId: string;
  parentShardId: string | undefined;
  startingSequenceNumber: string | undefined;
  /** Present once the shard is closed: no records will be added after it. */
  endingSequenceNumber: string | undefined;
}

export function isOpen(shard: Shard): boolean {
  return shard.endingSequenceNumber === undefined;
}

/** What a stream is, without its shards: one DescribeStream of one shard. */
export interface StreamSummary {
  status: string | undefined;
  tableName: string | undefined;
  viewType: string | undefined;
}

/** The stream's status, table and view type. AWS errors are thrown as they are. */
export async function describeStream(
  streams: DynamoDBStreamsClient,
  streamArn: string,
): Promise<StreamSummary> {
  const { StreamDescription: d } = await streams.send(
    new DescribeStreamCommand({ StreamArn: streamArn, Limit: 1 }),
  );
  return { status: d?.StreamStatus, tableName: d?.TableName, viewType: d?.StreamViewType };
}

/** DescribeStream answers at most this many shards a page. */
const SHARDS_PER_PAGE = 100;

/**
 * Every shard the stream lists, closed ones included, following DescribeStream's pages. AWS errors are
 * thrown as they are: callers say what they mean for them (a missing stream, a retry).
 */
export async function listShards(streams: DynamoDBStreamsClient, streamArn: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let exclusiveStartShardId: string | undefined;
  do {
    const { StreamDescription: d } = await streams.send(
      new DescribeStreamCommand({
        StreamArn: streamArn,
        ExclusiveStartShardId: exclusiveStartShardId,
        Limit: SHARDS_PER_PAGE,
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
