/**
 * What each principal's code calls, on which of the fleet's resources, and why: the specification the
 * policies are held to. The policies themselves are built elsewhere (core/iam/iam-policies.ts for the IRSA roles,
 * the CDK app for the functions' roles); test/unit/iam-policies.test.ts and test/infra/iam.test.ts check that
 * each policy allows exactly these needs on the exact ARNs and nothing else, the least-privilege run
 * (local/identities/proof.ts) checks them against what the code actually calls, and docs/iam.md is generated
 * from both.
 *
 * A need the least-privilege run cannot reach says so in `unusedUnless`: that is the written reason the
 * report accepts for a grant it never saw used.
 */

import type { FleetSpec } from './fleet/fleet.js';
import { LEASE_OWNER_INDEX_NAME } from './iam/iam-policies.js';
import { ScalingMode } from './kubernetes/keda.js';
import { type Partition, tableArn, tableIndexArn, tableStreamsArn } from './vocabulary/arns.js';

/** Which of a fleet's resources a need is on. */
export const FleetResource = {
  SourceTable: 'source table',
  SourceStream: 'source stream',
  ReplicaTable: 'replica table',
  LeaseTable: 'lease table',
  LeaseOwnerIndex: 'lease owner index',
  DeadLetterTable: 'dead-letter table',
  ScalerRole: 'scaler role',
  /** Actions without resource-level permissions. */
  Any: '*',
} as const;
export type FleetResource = (typeof FleetResource)[keyof typeof FleetResource];

export interface Need {
  readonly action: string;
  readonly on: FleetResource;
  /** What the code does with it. */
  readonly why: string;
  /** Where: the file (and function) that makes the call. */
  readonly code: string;
  /** When a run does not make this call: the reason a grant of it may go unused. */
  readonly unusedUnless?: string;
}

const LEASES = 'consumer/leases/dynamodb-lease-refresher.ts';
const WRITERS = 'consumer/processor/transaction-committer.ts, consumer/processor/individual-writer.ts';
const REPLICATION = 'consumer/replication/replication-processor.ts';

/** One worker pod (the consumer's IRSA role). */
export const CONSUMER_NEEDS: readonly Need[] = [
  {
    action: 'dynamodb:DescribeStream',
    on: FleetResource.SourceStream,
    why: 'list the shards and their lineage (shard sync, start-up check of the view type)',
    code: 'consumer/shards/shard-detector.ts',
  },
  {
    action: 'dynamodb:GetShardIterator',
    on: FleetResource.SourceStream,
    why: 'start reading a shard at its checkpoint',
    code: 'consumer/lifecycle/data-fetcher.ts',
  },
  {
    action: 'dynamodb:GetRecords',
    on: FleetResource.SourceStream,
    why: 'read the changes',
    code: 'consumer/lifecycle/data-fetcher.ts',
  },
  {
    action: 'dynamodb:CreateTable',
    on: FleetResource.LeaseTable,
    why: 'create the lease table (with its owner index) on first start',
    code: 'consumer/leases/lease-table.ts createLeaseTableIfNotExists',
  },
  {
    action: 'dynamodb:DescribeTable',
    on: FleetResource.LeaseTable,
    why: 'wait until the lease table and its index are ACTIVE',
    code: 'consumer/leases/lease-table.ts createLeaseTableIfNotExists, consumer/leases/owner-index.ts',
  },
  {
    action: 'dynamodb:UpdateTable',
    on: FleetResource.LeaseTable,
    why: 'add the owner index online to a lease table without it (the one a KCL 1.x application left behind)',
    code: 'consumer/leases/owner-index.ts → core/vocabulary/lease-owner-index.ts addOwnerIndex',
  },
  {
    action: 'dynamodb:Scan',
    on: FleetResource.LeaseTable,
    why: 'list every lease (taker pass, shard sync)',
    code: `${LEASES} listLeases`,
  },
  {
    action: 'dynamodb:BatchGetItem',
    on: FleetResource.LeaseTable,
    why: 'read several leases at once: peers’ sentinels on every taker pass, parents while a child waits',
    code: `${LEASES} getLeases`,
  },
  {
    action: 'dynamodb:GetItem',
    on: FleetResource.LeaseTable,
    why: 'read a lease’s checkpoint fresh when its consumer starts',
    code: `${LEASES} getLease`,
  },
  {
    action: 'dynamodb:PutItem',
    on: FleetResource.LeaseTable,
    why: 'create the lease of a new shard (conditional)',
    code: `${LEASES} createLeaseIfNotExists`,
  },
  {
    action: 'dynamodb:UpdateItem',
    on: FleetResource.LeaseTable,
    why: 'renew, take, hand off and checkpoint leases (conditional; the checkpoint also inside the fenced transaction)',
    code: `${LEASES}, consumer/processor/transaction-committer.ts`,
  },
  {
    action: 'dynamodb:DeleteItem',
    on: FleetResource.LeaseTable,
    why: 'delete the finished lease of a shard that is gone from the stream',
    code: 'consumer/shards/shard-syncer.ts (deleteFinishedLease)',
    unusedUnless:
      'a finished shard has been trimmed from the stream (24 hours after it closed); no local run lasts that long',
  },
  {
    action: 'dynamodb:Query',
    on: FleetResource.LeaseOwnerIndex,
    why: 'find the leases it owns (after a hand-off request, and every fifth taker pass)',
    code: `${LEASES} listOwnedLeases`,
  },
  {
    action: 'dynamodb:DescribeTable',
    on: FleetResource.ReplicaTable,
    why: 'check at start-up that the target table exists',
    code: `${REPLICATION} prepare`,
  },
  {
    action: 'dynamodb:PutItem',
    on: FleetResource.ReplicaTable,
    why: 'replicate an insert or update (a Put in the fenced transaction, or a conditional PutItem)',
    code: `${REPLICATION} replicaWrite, committed by ${WRITERS}`,
  },
  {
    action: 'dynamodb:DeleteItem',
    on: FleetResource.ReplicaTable,
    why: 'replicate a delete (a Delete in the fenced transaction, or a conditional DeleteItem)',
    code: `${REPLICATION} replicaWrite, committed by ${WRITERS}`,
  },
  {
    action: 'dynamodb:CreateTable',
    on: FleetResource.DeadLetterTable,
    why: 'create the dead-letter table on first start',
    code: 'consumer/processor/dead-letter.ts ensureExists',
  },
  {
    action: 'dynamodb:DescribeTable',
    on: FleetResource.DeadLetterTable,
    why: 'wait until the dead-letter table is ACTIVE',
    code: 'consumer/processor/dead-letter.ts ensureExists',
  },
  {
    action: 'dynamodb:PutItem',
    on: FleetResource.DeadLetterTable,
    why: 'record a poison record (one the processor fails on, or whose writes DynamoDB refuses), and move on',
    code: 'consumer/processor/dead-letter.ts record',
  },
];

/** What KEDA reads for this fleet's trigger, as the fleet's scaler role. */
export const KEDA_SCALER_NEEDS: Readonly<Record<ScalingMode, readonly Need[]>> = {
  [ScalingMode.Classic]: [
    {
      action: 'dynamodb:DescribeTable',
      on: FleetResource.SourceTable,
      why: 'find the table’s LatestStreamArn (the aws-dynamodb-streams trigger)',
      code: 'KEDA aws-dynamodb-streams scaler (local/cluster/keda-triggers.ts emulates it)',
    },
    {
      action: 'dynamodb:DescribeStream',
      on: FleetResource.SourceStream,
      why: 'count the stream’s shards: the trigger’s metric',
      code: 'KEDA aws-dynamodb-streams scaler (local/cluster/keda-triggers.ts emulates it)',
    },
  ],
  [ScalingMode.UnfinishedShards]: [
    {
      action: 'cloudwatch:GetMetricData',
      on: FleetResource.Any,
      why: 'read UnfinishedShards (the aws-cloudwatch trigger); GetMetricData has no resource-level permissions',
      code: 'KEDA aws-cloudwatch scaler (local/cluster/keda-triggers.ts emulates it)',
    },
  ],
};

/** The KEDA operator's own role, per fleet on its cluster. */
export const KEDA_OPERATOR_NEEDS: readonly Need[] = [
  {
    action: 'sts:AssumeRole',
    on: FleetResource.ScalerRole,
    why: 'become this fleet’s scaler role for its trigger (TriggerAuthentication podIdentity.roleArn)',
    code: 'KEDA pod identity aws with roleArn (local/cluster/keda-identity.ts emulates it)',
  },
];

const TABLES = 'core/tables/tables.ts';
/** The checks' reads: tables sampled through core/verification/replica-reads.ts, shards and leases through core/fleet/fleet-state.ts. */
const SAMPLES = 'core/verification/sampled-check.ts → core/verification/replica-reads.ts';
const FLEET_STATE = 'core/verification/checks.ts → core/fleet/fleet-state.ts';

/** The DynamoDB calls of the ten workflow functions that share the control plane's role. */
export const CONTROL_PLANE_NEEDS: readonly Need[] = [
  {
    action: 'dynamodb:DescribeTable',
    on: FleetResource.SourceTable,
    why: 'ensure-tables: find the source, its key and stream; the checks and the load read its key',
    code: `${TABLES}, core/tables/load.ts`,
  },
  {
    action: 'dynamodb:CreateTable',
    on: FleetResource.SourceTable,
    why: 'ensure-tables: create the source with its stream (fleet.tables.create)',
    code: TABLES,
  },
  {
    action: 'dynamodb:UpdateTable',
    on: FleetResource.SourceTable,
    why: 'ensure-tables: turn on the stream of an existing source table that has none',
    code: TABLES,
    unusedUnless: 'the source table exists before setup without a stream (the run lets setup create it)',
  },
  {
    action: 'dynamodb:DeleteTable',
    on: FleetResource.SourceTable,
    why: 'teardown with deleteTables: true',
    code: `${TABLES} deleteTables`,
  },
  {
    action: 'dynamodb:BatchWriteItem',
    on: FleetResource.SourceTable,
    why: 'generate-load: write the load',
    code: 'core/tables/load.ts',
  },
  {
    action: 'dynamodb:Scan',
    on: FleetResource.SourceTable,
    why: 'verify-replication: sample the source',
    code: SAMPLES,
  },
  {
    action: 'dynamodb:BatchGetItem',
    on: FleetResource.SourceTable,
    why: 'verify-replication: read sampled items again',
    code: 'core/verification/replica-compare.ts → core/verification/replica-reads.ts',
  },
  {
    action: 'dynamodb:DescribeStream',
    on: FleetResource.SourceStream,
    why: 'verify-scaling and verify-replication: list the shards (never read records)',
    code: FLEET_STATE,
  },
  {
    action: 'dynamodb:DescribeTable',
    on: FleetResource.ReplicaTable,
    why: 'ensure-tables: find or wait for the replica',
    code: TABLES,
  },
  {
    action: 'dynamodb:CreateTable',
    on: FleetResource.ReplicaTable,
    why: 'ensure-tables: create the replica with the source’s key',
    code: TABLES,
  },
  {
    action: 'dynamodb:DeleteTable',
    on: FleetResource.ReplicaTable,
    why: 'teardown with deleteTables: true',
    code: `${TABLES} deleteTables`,
  },
  {
    action: 'dynamodb:Scan',
    on: FleetResource.ReplicaTable,
    why: 'verify-replication: sample the replica',
    code: SAMPLES,
  },
  {
    action: 'dynamodb:BatchGetItem',
    on: FleetResource.ReplicaTable,
    why: 'verify-replication: read the replica of sampled source items',
    code: 'core/verification/replica-compare.ts → core/verification/replica-reads.ts',
  },
  {
    action: 'dynamodb:Scan',
    on: FleetResource.LeaseTable,
    why: 'verify-scaling and verify-replication: read the leases (owners, lag)',
    code: FLEET_STATE,
  },
  {
    action: 'dynamodb:DeleteTable',
    on: FleetResource.LeaseTable,
    why: 'teardown with deleteTables: true',
    code: `${TABLES} deleteTables`,
  },
];

/** compare-replicas, which has a role of its own. */
export const COMPARE_NEEDS: readonly Need[] = [
  {
    action: 'dynamodb:DescribeTable',
    on: FleetResource.SourceTable,
    why: 'plan: item count and key',
    code: 'core/operations.ts',
  },
  {
    action: 'dynamodb:DescribeTable',
    on: FleetResource.ReplicaTable,
    why: 'plan: item count',
    code: 'core/operations.ts',
  },
  {
    action: 'dynamodb:Scan',
    on: FleetResource.SourceTable,
    why: 'segment: a parallel scan of the source',
    code: 'core/verification/full-compare.ts → core/verification/replica-reads.ts',
  },
  {
    action: 'dynamodb:Scan',
    on: FleetResource.ReplicaTable,
    why: 'segment: a parallel scan of the replica (extra items)',
    code: 'core/verification/full-compare.ts → core/verification/replica-reads.ts',
  },
  {
    action: 'dynamodb:BatchGetItem',
    on: FleetResource.SourceTable,
    why: 'segment: re-read a suspect difference',
    code: 'core/verification/replica-compare.ts → core/verification/replica-reads.ts',
  },
  {
    action: 'dynamodb:BatchGetItem',
    on: FleetResource.ReplicaTable,
    why: 'segment: read the replica of scanned source items',
    code: 'core/verification/replica-compare.ts → core/verification/replica-reads.ts',
  },
];

export interface FleetLocation {
  readonly partition: Partition;
  readonly region: string;
  readonly accountId: string;
  /** The source's stream ARN, or the pattern of every stream of the source table. */
  readonly streamArn?: string;
  /** The dead-letter table's name, when the fleet has one. */
  readonly deadLetterTableName?: string;
}

/** The exact ARN a need is on, for one fleet in one account and region. */
export function needResource(on: FleetResource, fleet: FleetSpec, where: FleetLocation): string {
  const table = (tableName: string) =>
    tableArn({
      partition: where.partition,
      region: where.region,
      accountId: where.accountId,
      tableName,
    });
  switch (on) {
    case FleetResource.SourceTable:
      return table(fleet.sourceTableName);
    case FleetResource.SourceStream:
      return where.streamArn ?? tableStreamsArn(table(fleet.sourceTableName));
    case FleetResource.ReplicaTable:
      if (fleet.replicaTableName === undefined)
        throw new TypeError(`fleet ${fleet.name} runs its own processor: it has no replica table`);
      return table(fleet.replicaTableName);
    case FleetResource.LeaseTable:
      return table(fleet.applicationName);
    case FleetResource.LeaseOwnerIndex:
      return tableIndexArn(table(fleet.applicationName), LEASE_OWNER_INDEX_NAME);
    case FleetResource.DeadLetterTable:
      return table(where.deadLetterTableName ?? `${fleet.applicationName}-dead-letters`);
    case FleetResource.ScalerRole:
      return `arn:${where.partition}:iam::${where.accountId}:role/${fleet.roles.scalerRoleName}`;
    case FleetResource.Any:
      return '*';
  }
}
