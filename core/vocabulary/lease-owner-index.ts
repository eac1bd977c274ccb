/**
 * The lease table's index by owner, `LeaseOwnerToLeaseKeyIndex` (KCL 3's name), by which a worker lists its own
 * leases without scanning the table, and how to add it online to a lease table that lacks it: the one a KCL 1.x
 * application left behind has the hash key `leaseKey` and nothing else (core/tables/kcl1-lease.ts). The worker adds it
 * at start-up (consumer/leases/owner-index.ts), `streamfleet migrate --from-kcl --apply` before the switch.
 *
 * AWS's rules for it (DynamoDB API reference, UpdateTable and GlobalSecondaryIndexUpdate; Developer Guide,
 * "Adding a global secondary index to an existing table"):
 * - one index created per UpdateTable, with `AttributeDefinitions` naming its key attributes;
 * - on a table with provisioned capacity the new index needs its own `ProvisionedThroughput`; on an on-demand
 *   table (`BillingModeSummary.BillingMode` PAY_PER_REQUEST) it must have none. A table that never had a billing
 *   mode set (KCL 1.x creates its tables so) has no `BillingModeSummary` and is provisioned. Every write to the
 *   table that touches the index's keys also writes the index, and an index short of write capacity throttles
 *   the table's writes: the index gets the table's own read and write units. Auto scaling set on the table does not
 *   extend to a new index; set it on the index too;
 * - the call is asynchronous: the index is CREATING (backfilling) until ACTIVE, and the table works meanwhile. While
 *   the table is UPDATING no other UpdateTable is accepted (`ResourceInUseException`), and a second request for an
 *   index that exists already is refused with a `ValidationException`; so of a fleet that asks at once exactly one
 *   request adds it. `LimitExceededException` means too many table operations in the account at once: try later.
 */
import {
  type DynamoDBClient,
  type TableDescription,
  UpdateTableCommand,
  type UpdateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { errorName } from './errors.js';

export const LEASE_OWNER_INDEX = 'LeaseOwnerToLeaseKeyIndex';

/** The index's key: owner, then lease key; every attribute projected. */
export const LEASE_OWNER_INDEX_KEY = [
  { AttributeName: 'leaseOwner', KeyType: 'HASH' },
  { AttributeName: 'leaseKey', KeyType: 'RANGE' },
] as const;

/** The attribute definitions of the lease table with its owner index. */
export const LEASE_TABLE_ATTRIBUTES = [
  { AttributeName: 'leaseKey', AttributeType: 'S' },
  { AttributeName: 'leaseOwner', AttributeType: 'S' },
] as const;

/** Where the owner index of a table stands: ACTIVE, CREATING (backfilling), ABSENT, or UPDATING/DELETING. */
export type OwnerIndexState = 'ACTIVE' | 'CREATING' | 'ABSENT' | 'UPDATING' | 'DELETING';

export function ownerIndexState(table: Pick<TableDescription, 'GlobalSecondaryIndexes'>): OwnerIndexState {
  const index = table.GlobalSecondaryIndexes?.find((i) => i.IndexName === LEASE_OWNER_INDEX);
  if (!index) return 'ABSENT';
  const status = index.IndexStatus;
  return status === 'CREATING' || status === 'UPDATING' || status === 'DELETING' ? status : 'ACTIVE';
}

/** Provisioned capacity of a table, or undefined for an on-demand one. */
export function provisionedCapacity(
  table: Pick<TableDescription, 'BillingModeSummary' | 'ProvisionedThroughput'>,
): { read: number; write: number } | undefined {
  if (table.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST') return undefined;
  return {
    read: Math.max(1, table.ProvisionedThroughput?.ReadCapacityUnits ?? 1),
    write: Math.max(1, table.ProvisionedThroughput?.WriteCapacityUnits ?? 1),
  };
}

/** The UpdateTable request that adds the owner index to `table` (see the rules above). */
export function ownerIndexCreation(
  table: Pick<TableDescription, 'TableName' | 'BillingModeSummary' | 'ProvisionedThroughput'>,
): UpdateTableCommandInput {
  const capacity = provisionedCapacity(table);
  return {
    TableName: table.TableName,
    AttributeDefinitions: LEASE_TABLE_ATTRIBUTES.map((a) => ({ ...a })),
    GlobalSecondaryIndexUpdates: [
      {
        Create: {
          IndexName: LEASE_OWNER_INDEX,
          KeySchema: LEASE_OWNER_INDEX_KEY.map((k) => ({ ...k })),
          Projection: { ProjectionType: 'ALL' },
          ...(capacity
            ? {
                ProvisionedThroughput: {
                  ReadCapacityUnits: capacity.read,
                  WriteCapacityUnits: capacity.write,
                },
              }
            : {}),
        },
      },
    ],
  };
}

/**
 * How a request to add the index ended: `created` (this request added it), `exists` (another request did), or
 * `busy` (the table is being updated — most likely another worker's request for the same index — or the account
 * has too many table operations under way): look again later.
 */
export type AddOwnerIndexOutcome = 'created' | 'exists' | 'busy';

/** Asks DynamoDB to add the owner index to `table` once; AWS's answers to a race are outcomes, not errors. */
export async function addOwnerIndex(
  client: DynamoDBClient,
  table: Pick<TableDescription, 'TableName' | 'BillingModeSummary' | 'ProvisionedThroughput'>,
): Promise<AddOwnerIndexOutcome> {
  try {
    await client.send(new UpdateTableCommand(ownerIndexCreation(table)));
    return 'created';
  } catch (error) {
    const name = errorName(error);
    if (name === 'ResourceInUseException' || name === 'LimitExceededException') return 'busy';
    if (name === 'ValidationException' && /already exists/i.test((error as Error).message)) return 'exists';
    throw error;
  }
}
