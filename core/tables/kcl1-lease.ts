/**
 * KCL 1.x's lease table, by KCL 1.x's own rules: written from its source (awslabs/amazon-kinesis-client, the 1.x
 * line: `LeaseSerializer`, `KinesisClientLeaseSerializer`, `DynamoUtils`, `ExtendedSequenceNumber`,
 * `SentinelCheckpoint`, `LeaseManager`), not from Streamfleet's reading of the same items (core/vocabulary/lease.ts), so that
 * it can judge two things independently: whether a table is one a KCL 1.x application left behind
 * (`streamfleet migrate --from-kcl`), and whether KCL 1.x could read a table again after Streamfleet ran on it
 * (rollback; the tests parse every item with it).
 *
 * The table (`LeaseSerializer.getKeySchema` / `getAttributeDefinitions`; `LeaseManager.createLeaseTableIfNotExists`):
 * hash key `leaseKey` (S) and nothing else, created with provisioned throughput (10 read and 10 write units unless
 * the application set others: `KinesisClientLibLeaseCoordinator`), no secondary index.
 *
 * An item (`KinesisClientLeaseSerializer.fromDynamoRecord` over `LeaseSerializer.fromDynamoRecord`):
 *
 * | attribute | type | meaning |
 * |---|---|---|
 * | `leaseKey` | S | the shard id |
 * | `leaseOwner` | S | the worker holding the lease; absent when nobody does |
 * | `leaseCounter` | N | bumped by every renew, take, evict and update (`LeaseManager`); expiry is judged on it |
 * | `checkpoint` | S | a sequence number, or a `SentinelCheckpoint`: TRIM_HORIZON, LATEST, SHARD_END, AT_TIMESTAMP |
 * | `checkpointSubSequenceNumber` | N | position inside a KPL-aggregated record (always 0 on DynamoDB Streams) |
 * | `ownerSwitchesSinceCheckpoint` | N | takes by another owner since the last checkpoint (`getDynamoTakeLeaseUpdate` ADDs 1; a checkpoint sets 0) |
 * | `parentShardId` | SS | the shard's parents, written only when there are some |
 * | `childShardIds` | SS | the shard's children (newer 1.x releases: the serializer's `CHILD_SHARD_IDS_KEY`) |
 * | `pendingCheckpoint`, `pendingCheckpointSubSequenceNumber` | S, N | a prepared checkpoint (KCL 1.7+ `prepareCheckpoint`); a checkpoint deletes both |
 *
 * How it reads them (`DynamoUtils`): `safeGetString` is the S value (null when absent or of another type),
 * `safeGetLong` is `new Long(value.getN())` — an attribute present with another type, or an N that is not a whole
 * number in Java's long range, throws NumberFormatException and the whole lease list fails — `safeGetSS` is the SS
 * value. A missing `leaseCounter` is null and breaks the taker (`LeaseTaker.updateAllLeases` compares counters); a
 * missing or unknown `checkpoint` breaks `ExtendedSequenceNumber.compareTo`. Every other attribute is ignored:
 * `fromDynamoRecord` reads these names only, and every write KCL 1.x makes (`AttributeUpdates` on named
 * attributes, `LeaseManager`) leaves the others as they are.
 */
import type { AttributeValue, CreateTableCommandInput, TableDescription } from '@aws-sdk/client-dynamodb';

/** `SentinelCheckpoint`. AT_TIMESTAMP is Kinesis-only: the DynamoDB Streams API has no such iterator type. */
export const Kcl1Sentinel = {
  TRIM_HORIZON: 'TRIM_HORIZON',
  LATEST: 'LATEST',
  SHARD_END: 'SHARD_END',
  AT_TIMESTAMP: 'AT_TIMESTAMP',
} as const;
export type Kcl1Sentinel = (typeof Kcl1Sentinel)[keyof typeof Kcl1Sentinel];

/** The attributes KCL 1.x reads, with the type it reads each as. */
export const KCL1_ATTRIBUTES = {
  leaseKey: 'S',
  leaseOwner: 'S',
  leaseCounter: 'N',
  checkpoint: 'S',
  checkpointSubSequenceNumber: 'N',
  ownerSwitchesSinceCheckpoint: 'N',
  parentShardId: 'SS',
  childShardIds: 'SS',
  pendingCheckpoint: 'S',
  pendingCheckpointSubSequenceNumber: 'N',
} as const;
export type Kcl1Attribute = keyof typeof KCL1_ATTRIBUTES;

/** `KinesisClientLibConfiguration.DEFAULT_FAILOVER_TIME_MILLIS`: KCL 1.x's lease duration unless configured. */
export const KCL1_DEFAULT_FAILOVER_MS = 10_000;

/** `LeaseCoordinator`: a KCL 1.x worker renews its leases every failover / 3 − epsilon (25 ms). */
export function kcl1RenewIntervalMs(failoverMs: number): number {
  return Math.floor(failoverMs / 3) - 25;
}

/** `ExtendedSequenceNumber`: a sequence number (or sentinel) and a sub-sequence number (0 unless aggregated). */
export interface Kcl1Position {
  sequenceNumber: string;
  subSequenceNumber: bigint;
}

export interface Kcl1Lease {
  leaseKey: string;
  leaseOwner: string | undefined;
  leaseCounter: bigint;
  checkpoint: Kcl1Position;
  pendingCheckpoint: Kcl1Position | undefined;
  ownerSwitchesSinceCheckpoint: bigint;
  parentShardIds: string[];
  childShardIds: string[];
  /** Attributes on the item that KCL 1.x does not read (its writes leave them as they are). */
  ignored: string[];
}

export type Kcl1Reading =
  | { ok: true; lease: Kcl1Lease }
  | { ok: false; leaseKey: string; problems: string[] };

const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** `new Long(s)`: an optional sign and decimal digits, within Java's long; anything else throws. */
function javaLong(text: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const value = BigInt(text);
  return value >= LONG_MIN && value <= LONG_MAX ? value : undefined;
}

/** The attribute's type: the one member of the union that is set (S, N, SS, M, ...). */
function typeOf(value: AttributeValue): string {
  return Object.entries(value).find(([, member]) => member !== undefined)?.[0] ?? '?';
}

/** `ExtendedSequenceNumber.isDigitsOrSentinelValue`. */
export function isKcl1Checkpoint(value: string): boolean {
  return /^\d+$/.test(value) || (Object.values(Kcl1Sentinel) as string[]).includes(value);
}

/**
 * Reads a lease item exactly as KCL 1.x would, or says what would break KCL 1.x (each problem names the
 * attribute, what it holds and what KCL expects).
 */
export function readAsKcl1(item: Record<string, AttributeValue>): Kcl1Reading {
  const problems: string[] = [];
  const leaseKey = item.leaseKey?.S ?? '';
  const wrongType = (name: Kcl1Attribute): boolean => {
    const value = item[name];
    if (value === undefined) return false;
    const type = typeOf(value);
    if (type === KCL1_ATTRIBUTES[name]) return false;
    problems.push(`${name} is ${type}, KCL 1.x reads it as ${KCL1_ATTRIBUTES[name]}`);
    return true;
  };
  const long = (name: Kcl1Attribute, required: boolean): bigint | undefined => {
    const value = item[name];
    if (value === undefined) {
      if (required) problems.push(`${name} is missing (KCL 1.x needs it)`);
      return undefined;
    }
    if (wrongType(name)) return undefined;
    const parsed = javaLong(value.N ?? '');
    if (parsed === undefined) problems.push(`${name} is "${value.N}", not a whole number KCL 1.x can read`);
    return parsed;
  };
  const position = (
    name: 'checkpoint' | 'pendingCheckpoint',
    sub: Kcl1Attribute,
    required: boolean,
  ): Kcl1Position | undefined => {
    const value = item[name];
    if (value === undefined) {
      if (required) problems.push(`${name} is missing (KCL 1.x needs it)`);
      return undefined;
    }
    if (wrongType(name)) return undefined;
    const sequenceNumber = value.S ?? '';
    // A pending checkpoint is read only when non-empty (KinesisClientLeaseSerializer.fromDynamoRecord).
    if (name === 'pendingCheckpoint' && sequenceNumber === '') return undefined;
    if (!isKcl1Checkpoint(sequenceNumber))
      problems.push(`${name} is "${sequenceNumber}", neither a sequence number nor a KCL sentinel`);
    return { sequenceNumber, subSequenceNumber: long(sub, false) ?? 0n };
  };
  const stringSet = (name: 'parentShardId' | 'childShardIds'): string[] =>
    wrongType(name) ? [] : [...(item[name]?.SS ?? [])];

  if (item.leaseKey === undefined) problems.push('leaseKey is missing');
  else wrongType('leaseKey');
  if (!wrongType('leaseOwner') && item.leaseOwner?.S === '') problems.push('leaseOwner is an empty string');
  const leaseCounter = long('leaseCounter', true);
  const ownerSwitches = long('ownerSwitchesSinceCheckpoint', false);
  const checkpoint = position('checkpoint', 'checkpointSubSequenceNumber', true);
  const pendingCheckpoint = position('pendingCheckpoint', 'pendingCheckpointSubSequenceNumber', false);
  const parentShardIds = stringSet('parentShardId');
  const childShardIds = stringSet('childShardIds');
  if (problems.length > 0 || leaseCounter === undefined || checkpoint === undefined)
    return { ok: false, leaseKey, problems };
  return {
    ok: true,
    lease: {
      leaseKey,
      leaseOwner: item.leaseOwner?.S,
      leaseCounter,
      checkpoint,
      pendingCheckpoint,
      ownerSwitchesSinceCheckpoint: ownerSwitches ?? 0n,
      parentShardIds,
      childShardIds,
      ignored: Object.keys(item)
        .filter((name) => !(name in KCL1_ATTRIBUTES))
        .sort(),
    },
  };
}

/**
 * KCL 1.x's lease table as `LeaseManager.createLeaseTableIfNotExists` creates it: `leaseKey` (S) as its only key,
 * provisioned throughput (`KinesisClientLibLeaseCoordinator`'s defaults: 10 read and 10 write units), no index.
 */
export function kcl1LeaseTableCreation(
  tableName: string,
  capacity = { read: 10, write: 10 },
): CreateTableCommandInput {
  return {
    TableName: tableName,
    KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
    ProvisionedThroughput: { ReadCapacityUnits: capacity.read, WriteCapacityUnits: capacity.write },
  };
}

/**
 * Whether a table has KCL 1.x's lease-table key: `leaseKey` (S) as its only key attribute. Secondary indexes are
 * allowed (Streamfleet adds one). Returns what differs, or an empty list.
 */
export function kcl1KeyProblems(
  table: Pick<TableDescription, 'KeySchema' | 'AttributeDefinitions'>,
): string[] {
  const keys = table.KeySchema ?? [];
  const hash = keys.find((key) => key.KeyType === 'HASH');
  const problems: string[] = [];
  if (hash?.AttributeName !== 'leaseKey')
    problems.push(`its hash key is ${hash?.AttributeName ?? 'missing'}, KCL 1.x's is leaseKey`);
  const range = keys.find((key) => key.KeyType === 'RANGE');
  if (range) problems.push(`it has a sort key (${range.AttributeName}); KCL 1.x's has none`);
  const type = table.AttributeDefinitions?.find((a) => a.AttributeName === 'leaseKey')?.AttributeType;
  if (hash?.AttributeName === 'leaseKey' && type !== 'S')
    problems.push(`leaseKey is of type ${type ?? '?'}, KCL 1.x's is S`);
  return problems;
}

/**
 * What a KCL 1.x worker with the DynamoDB Streams Kinesis Adapter calls on its lease table (`LeaseManager`:
 * createLeaseTableIfNotExists, leaseTableExists, listLeases, getLease, createLeaseIfNotExists,
 * renew/take/evict/updateLease, deleteLease), for comparing its IAM policy with Streamfleet's.
 */
export const KCL1_LEASE_TABLE_ACTIONS = [
  'dynamodb:CreateTable',
  'dynamodb:DescribeTable',
  'dynamodb:Scan',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;
