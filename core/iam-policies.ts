/**
 * IAM JSON documents for the fleet and for KEDA, built from the exact ARNs involved. Pure: callers attach
 * them (CDK, the setup Lambda) or print them. The only `"Resource": "*"` statements are for actions that
 * have no resource-level permissions at all, and each says so.
 */
import {
  oidcIssuerHostPath,
  oidcProviderArn,
  type Partition,
  parseStreamArn,
  tableArn,
  tableIndexesArn,
  tableStreamsArn,
} from './arns.js';
import { ScalingMode, UNFINISHED_SHARDS_METRIC } from './keda.js';
import { requireDns1123Label, requireDns1123Subdomain, requireTableName } from './validation.js';

export type ConditionBlock = Record<string, Record<string, string | string[]>>;

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource?: string[];
  Principal?: { Federated: string };
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

export interface KedaOperatorPolicyInput {
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
 * What the KEDA operator's own identity needs for the TriggerAuthentication `podIdentity: aws`.
 * Classic: DescribeTable on the source table (to find its LatestStreamArn) and DescribeStream on its stream.
 * Unfinished-shards: cloudwatch:GetMetricData, which has no resource-level permissions (`*`).
 */
export function kedaOperatorPolicy(input: KedaOperatorPolicyInput): PolicyDocument {
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

export interface ConsumerPolicyInput {
  /** SOURCE_TABLE_STREAM_ARN. The lease, target and dead-letter tables live in its account and region. */
  streamArn: string;
  /** APPLICATION_NAME, which is also the lease table's name. */
  leaseTableName: string;
  /** TARGET_TABLE_NAME. */
  targetTableName: string;
  deadLetterTableName?: string;
  /** Defaults to `Streamfleet`. */
  metricsNamespace?: string;
}

/**
 * What one worker pod needs:
 * - read the source stream;
 * - own its lease table (created on first start) and its indexes;
 * - replicate into the target table with TransactWriteItems. IAM has no TransactWriteItems action: it
 *   checks each item's own action (Put → PutItem, Delete → DeleteItem, ConditionCheck → ConditionCheckItem)
 *   against that item's table. Writes are fenced by a ConditionCheck on the lease item, so the lease table
 *   needs ConditionCheckItem too;
 * - optionally put records it gives up on into a dead-letter table;
 * - publish metrics into its own CloudWatch namespace only.
 */
export function consumerPolicy(input: ConsumerPolicyInput): PolicyDocument {
  const stream = parseStreamArn(input.streamArn);
  const where = { partition: stream.partition, region: stream.region, accountId: stream.accountId };
  const leaseTable = tableArn({
    ...where,
    tableName: requireTableName('leaseTableName', input.leaseTableName),
  });
  const targetTable = tableArn({
    ...where,
    tableName: requireTableName('targetTableName', input.targetTableName),
  });
  const statements: PolicyStatement[] = [
    {
      Sid: 'ReadSourceStream',
      Effect: 'Allow',
      Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
      Resource: [stream.streamArn],
    },
    {
      Sid: 'ListStreams',
      Effect: 'Allow',
      // dynamodb:ListStreams supports no resource-level permissions: IAM only accepts `*` for it.
      Action: ['dynamodb:ListStreams'],
      Resource: ['*'],
    },
    {
      Sid: 'OwnLeaseTable',
      Effect: 'Allow',
      Action: [
        'dynamodb:CreateTable',
        'dynamodb:DescribeTable',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:Scan',
        'dynamodb:Query',
      ],
      Resource: [leaseTable, tableIndexesArn(leaseTable)],
    },
    {
      Sid: 'WriteTargetTable',
      Effect: 'Allow',
      Action: [
        'dynamodb:DescribeTable',
        'dynamodb:PutItem',
        'dynamodb:DeleteItem',
        'dynamodb:ConditionCheckItem',
      ],
      Resource: [targetTable],
    },
  ];
  if (input.deadLetterTableName !== undefined) {
    const deadLetters = tableArn({
      ...where,
      tableName: requireTableName('deadLetterTableName', input.deadLetterTableName),
    });
    statements.push({
      Sid: 'WriteDeadLetters',
      Effect: 'Allow',
      Action: ['dynamodb:PutItem'],
      Resource: [deadLetters],
    });
  }
  statements.push({
    Sid: 'PublishMetrics',
    Effect: 'Allow',
    // PutMetricData supports no resource-level permissions (`*` only); the namespace condition narrows it.
    Action: ['cloudwatch:PutMetricData'],
    Resource: ['*'],
    Condition: {
      StringEquals: { 'cloudwatch:namespace': input.metricsNamespace ?? UNFINISHED_SHARDS_METRIC.namespace },
    },
  });
  return { Version: '2012-10-17', Statement: statements };
}
