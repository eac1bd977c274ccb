/**
 * Read-only views of what a fleet works on: the stream's shards (DescribeStream, every page) and the lease
 * table (a strongly consistent scan), in the KCL names the workers write. Used by the checks and the local
 * KEDA; never writes.
 */
import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, type DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { errorName, PreconditionError } from './errors.js';
import type { ShardState } from './keda.js';
import { ReadConsistency, type ReadMeter, reportedUnits, scanPageUnits } from './read-units.js';
import { asTransientWhenRetriable } from './tables.js';

export const SHARD_END = 'SHARD_END';

export interface ShardView {
  shardId: string;
  parentShardId: string | undefined;
  /** The shard has an ending sequence number. */
  closed: boolean;
}

export interface LeaseView {
  leaseKey: string;
  leaseOwner: string | undefined;
  leaseCounter: number;
  checkpoint: string;
  /**
   * Epoch ms: the stream's ApproximateCreationDateTime (one-second granularity) of the newest record the
   * checkpoint covers, as the owner wrote it. Absent until a worker writes it, or when malformed.
   */
  lastRecordCreatedAt?: number;
  /** Epoch ms on the owner's clock: the last read that found nothing more in the shard. Same rules. */
  caughtUpAt?: number;
  /** Names of lag attributes present on the item but not a usable epoch-ms number. */
  malformed?: string[];
}

/** The progress attributes the workers write on each lease item (read here, never written). */
export const LEASE_PROGRESS_ATTRIBUTES = ['lastRecordCreatedAt', 'caughtUpAt'] as const;
export type LeaseProgressAttribute = (typeof LEASE_PROGRESS_ATTRIBUTES)[number];

/** A positive, finite epoch-ms number from an N attribute; anything else is malformed. */
function epochMs(value: AttributeValue | undefined): number | 'malformed' | undefined {
  if (value === undefined || value.NULL === true) return undefined;
  if (value.N === undefined) return 'malformed';
  const ms = Number(value.N);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms) : 'malformed';
}

/** Every shard DescribeStream lists for the stream (closed ones included, as KEDA's scaler counts them). */
export async function describeShards(
  streams: DynamoDBStreamsClient,
  streamArn: string,
): Promise<ShardView[]> {
  const shards: ShardView[] = [];
  let start: string | undefined;
  try {
    do {
      const { StreamDescription } = await streams.send(
        new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: start }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        shards.push({
          shardId: shard.ShardId ?? '',
          parentShardId: shard.ParentShardId,
          closed: shard.SequenceNumberRange?.EndingSequenceNumber !== undefined,
        });
      }
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') {
      throw new PreconditionError(
        `The stream ${streamArn} does not exist.`,
        'run the setup workflow, which enables the stream on the source table.',
      );
    }
    throw asTransientWhenRetriable(error);
  }
  return shards;
}

/** A lease item as the checks read it; missing or malformed progress attributes are left out, never guessed. */
export function leaseViewFromItem(item: Record<string, AttributeValue>): LeaseView {
  const lease: LeaseView = {
    leaseKey: item.leaseKey?.S ?? '',
    leaseOwner: item.leaseOwner?.S,
    leaseCounter: Number(item.leaseCounter?.N ?? '0'),
    checkpoint: item.checkpoint?.S ?? 'TRIM_HORIZON',
  };
  const malformed: string[] = [];
  for (const name of LEASE_PROGRESS_ATTRIBUTES) {
    const value = epochMs(item[name]);
    if (value === 'malformed') malformed.push(name);
    else if (value !== undefined) lease[name] = value;
  }
  if (malformed.length > 0) lease.malformed = malformed;
  return lease;
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
  let start: Record<string, AttributeValue> | undefined;
  try {
    do {
      const page = await dynamodb.send(
        new ScanCommand({
          TableName: leaseTable,
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ...(meter ? { ReturnConsumedCapacity: 'TOTAL' as const } : {}),
        }),
      );
      meter?.add(leaseTable, {
        reported: reportedUnits(page.ConsumedCapacity, leaseTable),
        computed: scanPageUnits(page.Items ?? [], ReadConsistency.Strong),
      });
      for (const item of page.Items ?? []) leases.push(leaseViewFromItem(item));
      start = page.LastEvaluatedKey;
    } while (start);
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
