/** The lease table itself: created on a worker's first start, as KCL does, with the index by owner. */
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/vocabulary/clock.js';
import { errorName, ResourceError } from '../../core/vocabulary/errors.js';
import {
  LEASE_OWNER_INDEX,
  LEASE_OWNER_INDEX_KEY,
  LEASE_TABLE_ATTRIBUTES,
  ownerIndexState,
} from '../../core/vocabulary/lease-owner-index.js';

/**
 * Creates the lease table with its owner index (on-demand) unless another worker did first, and waits until it
 * is ACTIVE; says whether the owner index is ACTIVE too.
 */
export async function createLeaseTableIfNotExists(
  client: DynamoDBClient,
  tableName: string,
  clock: Clock,
): Promise<{ ownerIndex: boolean }> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: LEASE_TABLE_ATTRIBUTES.map((a) => ({ ...a })),
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: LEASE_OWNER_INDEX,
            KeySchema: LEASE_OWNER_INDEX_KEY.map((k) => ({ ...k })),
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    // Another worker created it first: fine.
    if (errorName(error) !== 'ResourceInUseException') throw error;
  }
  const deadline = clock.now() + 120_000;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    // An index still CREATING (being added to a table KCL 1.x left) is not waited for: the table works meanwhile.
    if (Table?.TableStatus === 'ACTIVE') return { ownerIndex: ownerIndexState(Table) === 'ACTIVE' };
    if (clock.now() > deadline) {
      throw new ResourceError(
        `Lease table ${tableName} did not become ACTIVE within 120 s (status ${Table?.TableStatus}).`,
      );
    }
    await clock.sleep(1_000);
  }
}
