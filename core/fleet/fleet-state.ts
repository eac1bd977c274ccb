/**
 * Read-only views of what a fleet works on: the stream's shards (DescribeStream, every page) and the lease
 * table (a strongly consistent scan), in the KCL names the workers write. Used by the checks and the local
 * KEDA; never writes.
 */
import { type DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { ShardState } from '../kubernetes/keda.js';
import { ReadConsistency, type ReadMeter, reportedUnits, scanPageUnits } from '../tables/read-units.js';
import { asTransientWhenRetriable } from '../tables/tables.js';
import { errorName, PreconditionError } from '../vocabulary/errors.js';
import { type Lease, leaseFromItem } from '../vocabulary/lease.js';
import { Sentinel } from '../vocabulary/sequence.js';
import { listShards } from '../vocabulary/shard.js';

/** The lease's checkpoint once its shard was read to the end (core/vocabulary/sequence.ts). */
export const SHARD_END = Sentinel.SHARD_END;

export interface ShardView {
  shardId: string;
  parentShardId: string | undefined;
  /** The shard has an ending sequence number. */
  closed: boolean;
}

/** What the checks read of a lease: a part of the one lease vocabulary (core/vocabulary/lease.ts). */
export type LeaseView = Pick<Lease, 'leaseKey' | 'leaseOwner' | 'leaseCounter' | 'checkpoint'> &
  Partial<Pick<Lease, 'caughtUpAt' | 'lastRecordCreatedAt' | 'malformed'>>;

/** Every shard DescribeStream lists for the stream (closed ones included, as KEDA's scaler counts them). */
export async function describeShards(
  streams: DynamoDBStreamsClient,
  streamArn: string,
): Promise<ShardView[]> {
  try {
    return (await listShards(streams, streamArn)).map((shard) => ({
      shardId: shard.shardId,
      parentShardId: shard.parentShardId,
      closed: shard.endingSequenceNumber !== undefined,
    }));
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') {
      throw new PreconditionError(
        `The stream ${streamArn} does not exist.`,
        'run the setup workflow, which enables the stream on the source table.',
      );
    }
    throw asTransientWhenRetriable(error);
  }
}

/**
 * Every lease, or undefined when the lease table does not exist yet (no worker has started). With a meter,
 * the read units are counted too.
 */
export async function scanLeases(
  dynamodb: DynamoDBClient,
  leaseTable: string,
  meter?: ReadMeter,
): Promise<LeaseView[] | undefined> {
  const leases: LeaseView[] = [];
  try {
    const pages = paginateScan(
      { client: dynamodb },
      {
        TableName: leaseTable,
        ConsistentRead: true,
        ...(meter ? { ReturnConsumedCapacity: 'TOTAL' as const } : {}),
      },
    );
    for await (const page of pages) {
      meter?.add(leaseTable, {
        reported: reportedUnits(page.ConsumedCapacity, leaseTable),
        computed: scanPageUnits(page.Items ?? [], ReadConsistency.Strong),
      });
      for (const item of page.Items ?? []) leases.push(leaseFromItem(item));
    }
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') return undefined;
    throw asTransientWhenRetriable(error);
  }
  return leases;
}

/**
 * What the replica arithmetic needs per shard. A closed shard is finished when its lease reached SHARD_END,
 * or when it has no lease at all (cleaned up after finishing, or closed before the fleet started at
 * LATEST) — the same rule the workers use for parents.
 */
export function shardStates(shards: readonly ShardView[], leases: readonly LeaseView[]): ShardState[] {
  const byKey = new Map(leases.map((lease) => [lease.leaseKey, lease]));
  return shards.map((shard) => {
    const lease = byKey.get(shard.shardId);
    return {
      closed: shard.closed,
      finished: shard.closed && (lease === undefined || lease.checkpoint === SHARD_END),
    };
  });
}
