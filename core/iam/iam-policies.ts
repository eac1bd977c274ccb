/**
 * IAM JSON documents for the fleet and for KEDA, built from the exact ARNs involved. Pure: callers attach
 * them (CDK, the setup Lambda) or print them. The only `"Resource": "*"` statement is for an action that has
 * no resource-level permissions at all (cloudwatch:GetMetricData), and it says so. docs/iam.md shows each
 * principal's policy, generated from these functions (test/unit/iam-docs.test.ts keeps it true).
 */

import { ScalingMode } from '../kubernetes/keda.js';
import {
  oidcIssuerHostPath,
  oidcProviderArn,
  type Partition,
  parseRoleArn,
  parseStreamArn,
  tableArn,
  tableIndexArn,
  tableStreamsArn,
} from '../vocabulary/arns.js';
import { requireDns1123Label, requireDns1123Subdomain, requireTableName } from '../vocabulary/validation.js';

export type ConditionBlock = Record<string, Record<string, string | string[]>>;

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource?: string[];
  /** Trust policies only: the OIDC provider (IRSA) or the role allowed to assume. */
  Principal?: { Federated: string } | { AWS: string };
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** The audience EKS projects into service-account tokens for IRSA. */
export const IRSA_AUDIENCE = 'sts.amazonaws.com';

/** KEDA's Helm chart defaults: the operator runs as `keda-operator` in namespace `keda`. */
export const KEDA_OPERATOR_SERVICE_ACCOUNT = { namespace: 'keda', name: 'keda-operator' } as const;

/** `system:serviceaccount:NAMESPACE:NAME`, the `sub` of a projected service-account token. */
export function serviceAccountSubject(namespace: string, serviceAccountName: string): string {
  const ns = requireDns1123Label('namespace', namespace);
  const name = requireDns1123Subdomain('serviceAccountName', serviceAccountName);
  return `system:serviceaccount:${ns}:${name}`;
}

export interface IrsaTrustInput {
  /** The cluster's OIDC issuer, e.g. `https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE`. */
  issuerUrl: string;
  /** The account that registered the OIDC provider (the role's account). */
  accountId: string;
  namespace: string;
  serviceAccountName: string;
  /** Defaults to the issuer's partition. */
  partition?: Partition;
}

/**
 * The trust policy of a role assumed through IRSA by exactly one service account: the cluster's OIDC
 * provider may call `sts:AssumeRoleWithWebIdentity` for tokens whose `aud` is sts.amazonaws.com and whose
 * `sub` is that service account (StringEquals, so no other service account matches).
 */
export function irsaTrustPolicy(input: IrsaTrustInput): PolicyDocument {
  const issuer = oidcIssuerHostPath(input.issuerUrl);
  const provider = oidcProviderArn({
    issuerUrl: input.issuerUrl,
    accountId: input.accountId,
    ...(input.partition === undefined ? {} : { partition: input.partition }),
  });
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AssumeFromServiceAccount',
        Effect: 'Allow',
        Principal: { Federated: provider },
        Action: ['sts:AssumeRoleWithWebIdentity'],
        Condition: {
          StringEquals: {
            [`${issuer}:aud`]: IRSA_AUDIENCE,
            [`${issuer}:sub`]: serviceAccountSubject(input.namespace, input.serviceAccountName),
          },
        },
      },
    ],
  };
}

export interface KedaScalerPolicyInput {
  /** The source table's stream, `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`. */
  streamArn: string;
  /** Defaults to `classic`. */
  scalingMode?: ScalingMode;
  /**
   * Allow DescribeStream on every stream of the table (`table/NAME/stream/*`) instead of the exact stream
   * ARN. KEDA resolves the table's LatestStreamArn itself, so a stream disabled and re-enabled gets a new
   * label that the exact ARN no longer matches.
   */
  anyStreamOfTable?: boolean;
}

/**
 * What KEDA needs, as this fleet's scaler role, to read its trigger. Classic (`aws-dynamodb-streams`):
 * DescribeTable on the source table (to find its LatestStreamArn) and DescribeStream on its stream.
 * Unfinished-shards (`aws-cloudwatch`): cloudwatch:GetMetricData, which has no resource-level permissions (`*`).
 */
export function kedaScalerPolicy(input: KedaScalerPolicyInput): PolicyDocument {
  const stream = parseStreamArn(input.streamArn);
  const mode = input.scalingMode ?? ScalingMode.Classic;
  if (mode === ScalingMode.UnfinishedShards) {
    return {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ReadUnfinishedShardsMetric',
          Effect: 'Allow',
          // GetMetricData supports no resource-level permissions and no namespace condition: `*` is the only form.
          Action: ['cloudwatch:GetMetricData'],
          Resource: ['*'],
        },
      ],
    };
  }
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DescribeSourceTable',
        Effect: 'Allow',
        Action: ['dynamodb:DescribeTable'],
        Resource: [stream.tableArn],
      },
      {
        Sid: 'DescribeSourceStream',
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream'],
        Resource: [input.anyStreamOfTable === true ? tableStreamsArn(stream.tableArn) : stream.streamArn],
      },
    ],
  };
}

/**
 * The trust policy of a fleet's scaler role: only the KEDA operator's own role may assume it (KEDA's
 * `podIdentity.roleArn`: the operator calls sts:AssumeRole with its IRSA credentials).
 */
export function assumedByRoleTrustPolicy(operatorRoleArn: string): PolicyDocument {
  const { roleArn } = parseRoleArn(operatorRoleArn, 'operatorRoleArn');
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AssumeFromKedaOperator',
        Effect: 'Allow',
        Principal: { AWS: roleArn },
        Action: ['sts:AssumeRole'],
      },
    ],
  };
}

/**
 * One fleet's inline policy on the shared KEDA operator role: sts:AssumeRole on that fleet's scaler role,
 * exactly. Each fleet adds its own (named after its scaler role) and removes only its own on teardown.
 */
export function kedaOperatorAssumePolicy(scalerRoleArn: string): PolicyDocument {
  const { roleArn } = parseRoleArn(scalerRoleArn, 'scalerRoleArn');
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'AssumeFleetScalerRole', Effect: 'Allow', Action: ['sts:AssumeRole'], Resource: [roleArn] },
    ],
  };
}

/** The operator role's inline policy for one fleet: named after the fleet's scaler role, so fleets never clash. */
export function kedaOperatorPolicyName(scalerRoleName: string): string {
  return `streamfleet-assume-${scalerRoleName}`;
}

/** The lease table's index by owner: the consumer creates it (consumer/leases/dynamodb-lease-refresher.ts) and queries it. */
export const LEASE_OWNER_INDEX_NAME = 'LeaseOwnerToLeaseKeyIndex';

export interface ConsumerPolicyInput {
  /** SOURCE_TABLE_STREAM_ARN. The lease, target and dead-letter tables live in its account and region. */
  streamArn: string;
  /** APPLICATION_NAME, which is also the lease table's name. */
  leaseTableName: string;
  /** TARGET_TABLE_NAME, for replication; absent for a fleet that runs its own processor. */
  targetTableName: string | undefined;
  /** DEAD_LETTER_TABLE_NAME, when the fleet runs with POISON_RECORD_POLICY=dead-letter. */
  deadLetterTableName?: string;
  /** The own processor's statements (core/iam/processor-grants.ts: checked, scoped to the fleet's account). */
  processorGrants?: PolicyStatement[];
}

/**
 * What one worker pod calls, and nothing else:
 * - read the source stream (DescribeStream, GetShardIterator, GetRecords on the exact stream);
 * - own its lease table: create it on first start and wait for it (CreateTable, DescribeTable), or add the owner
 *   index to one a KCL 1.x application left behind (UpdateTable, authorised on the table); list leases
 *   (Scan), read several at once on every taker pass and while waiting on parents (BatchGetItem, which IAM
 *   authorises as its own action, not as GetItem), read one (GetItem), create, renew, take, hand off,
 *   checkpoint and delete leases (PutItem, UpdateItem, DeleteItem; the checkpoint also as an Update inside
 *   the fenced transaction, which is the fence); query its own leases on the owner index (Query, on that
 *   index only);
 * - check the target table exists and replicate into it: conditional PutItem/DeleteItem, or the same items
 *   inside TransactWriteItems — IAM has no TransactWriteItems action and checks each item's own action
 *   against that item's table;
 * - with a dead-letter table: create it on first start, wait for it, and put records into it.
 * The worker publishes metrics on /metrics for Prometheus: it calls no CloudWatch API.
 */
export function consumerPolicy(input: ConsumerPolicyInput): PolicyDocument {
  const stream = parseStreamArn(input.streamArn);
  const where = { partition: stream.partition, region: stream.region, accountId: stream.accountId };
  const leaseTable = tableArn({
    ...where,
    tableName: requireTableName('leaseTableName', input.leaseTableName),
  });
  const statements: PolicyStatement[] = [
    {
      Sid: 'ReadSourceStream',
      Effect: 'Allow',
      Action: ['dynamodb:DescribeStream', 'dynamodb:GetShardIterator', 'dynamodb:GetRecords'],
      Resource: [stream.streamArn],
    },
    {
      Sid: 'OwnLeaseTable',
      Effect: 'Allow',
      Action: [
        'dynamodb:CreateTable',
        'dynamodb:DescribeTable',
        'dynamodb:UpdateTable',
        'dynamodb:Scan',
        'dynamodb:BatchGetItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
      ],
      Resource: [leaseTable],
    },
    {
      Sid: 'QueryLeasesByOwner',
      Effect: 'Allow',
      Action: ['dynamodb:Query'],
      Resource: [tableIndexArn(leaseTable, LEASE_OWNER_INDEX_NAME)],
    },
  ];
  if (input.targetTableName !== undefined) {
    const targetTable = tableArn({
      ...where,
      tableName: requireTableName('targetTableName', input.targetTableName),
    });
    statements.push({
      Sid: 'WriteTargetTable',
      Effect: 'Allow',
      Action: ['dynamodb:DescribeTable', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      Resource: [targetTable],
    });
  }
  statements.push(...(input.processorGrants ?? []));
  if (input.deadLetterTableName !== undefined) {
    const deadLetters = tableArn({
      ...where,
      tableName: requireTableName('deadLetterTableName', input.deadLetterTableName),
    });
    statements.push({
      Sid: 'OwnDeadLetterTable',
      Effect: 'Allow',
      Action: ['dynamodb:CreateTable', 'dynamodb:DescribeTable', 'dynamodb:PutItem'],
      Resource: [deadLetters],
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}
