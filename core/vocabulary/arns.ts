/**
 * ARN helpers for the resources Streamfleet touches: DynamoDB tables and their streams, IAM roles and the
 * EKS cluster's OIDC provider. Pure string work; every parser throws `InvalidInputError` naming the field.
 */
import { InvalidInputError } from './errors.js';
import { describeValue, requireAccountId, requireTableName } from './validation.js';

export const Partition = {
  Aws: 'aws',
  China: 'aws-cn',
  GovCloud: 'aws-us-gov',
} as const;
export type Partition = (typeof Partition)[keyof typeof Partition];

const PARTITIONS: readonly string[] = Object.values(Partition);

export function isPartition(value: unknown): value is Partition {
  return typeof value === 'string' && PARTITIONS.includes(value);
}

/** The partition a region belongs to: cn-* → aws-cn, us-gov-* → aws-us-gov, anything else → aws. */
export function partitionForRegion(region: string): Partition {
  if (region.startsWith('cn-')) return Partition.China;
  if (region.startsWith('us-gov-')) return Partition.GovCloud;
  return Partition.Aws;
}

export interface TableLocation {
  /** Defaults to the region's partition. */
  partition?: Partition;
  region: string;
  accountId: string;
  tableName: string;
}

/** `arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME` */
export function tableArn(location: TableLocation): string {
  const name = requireTableName('tableName', location.tableName);
  const accountId = requireAccountId('accountId', location.accountId);
  if (typeof location.region !== 'string' || !/^[a-z0-9-]+$/.test(location.region)) {
    throw new InvalidInputError(
      'region',
      `expected a region such as us-east-1, got ${describeValue(location.region)}`,
    );
  }
  const partition = location.partition ?? partitionForRegion(location.region);
  return `arn:${partition}:dynamodb:${location.region}:${accountId}:table/${name}`;
}

/** The ARN pattern that covers every index of a table: `TABLE_ARN/index/*`. */
export function tableIndexesArn(table: string): string {
  return `${table}/index/*`;
}

/** One index of a table: `TABLE_ARN/index/NAME` (DynamoDB authorises Query and Scan of an index on it). */
export function tableIndexArn(table: string, indexName: string): string {
  return `${table}/index/${indexName}`;
}

/** The ARN pattern that covers every stream a table ever had: `TABLE_ARN/stream/*`. */
export function tableStreamsArn(table: string): string {
  return `${table}/stream/*`;
}

export interface StreamArnParts {
  partition: Partition;
  /** Kept as written: DynamoDB Local uses `ddblocal`, which is no AWS region. */
  region: string;
  accountId: string;
  tableName: string;
  /** The stream label, a timestamp such as `2024-05-01T12:00:00.000`. */
  streamLabel: string;
  /** The ARN of the table the stream belongs to. */
  tableArn: string;
  /** The stream ARN, as given. */
  streamArn: string;
}

const STREAM_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):dynamodb:([a-z0-9-]+):(\d{12}):table\/([a-zA-Z0-9_.-]{3,255})\/stream\/([^/\s]+)$/;

/** Parses `arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`. */
export function parseStreamArn(value: unknown, field = 'streamArn'): StreamArnParts {
  const match = typeof value === 'string' ? STREAM_ARN.exec(value) : null;
  if (match === null) {
    throw new InvalidInputError(
      field,
      `expected a DynamoDB stream ARN arn:(aws|aws-cn|aws-us-gov):dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL, got ${describeValue(value)}`,
    );
  }
  const [streamArn, partition, region, accountId, tableName, streamLabel] = match as unknown as [
    string,
    Partition,
    string,
    string,
    string,
    string,
  ];
  return {
    partition,
    region,
    accountId,
    tableName,
    streamLabel,
    tableArn: `arn:${partition}:dynamodb:${region}:${accountId}:table/${tableName}`,
    streamArn,
  };
}

export interface RoleArnParts {
  partition: Partition;
  accountId: string;
  /** `/` or `/some/path/`. */
  path: string;
  roleName: string;
  roleArn: string;
}

const ROLE_ARN = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;

/** Parses `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME` (role names: 1-64 of letters, digits, `+=,.@_-`). */
export function parseRoleArn(value: unknown, field = 'roleArn'): RoleArnParts {
  const match = typeof value === 'string' ? ROLE_ARN.exec(value) : null;
  if (match === null) {
    throw new InvalidInputError(
      field,
      `expected an IAM role ARN arn:(aws|aws-cn|aws-us-gov):iam::ACCOUNT:role/[PATH/]NAME, got ${describeValue(value)}`,
    );
  }
  const [roleArn, partition, accountId, path, roleName] = match as unknown as [
    string,
    Partition,
    string,
    string,
    string,
  ];
  return { partition, accountId, path: `/${path}`, roleName, roleArn };
}

/**
 * The issuer without its scheme, as IAM uses it in OIDC provider ARNs and condition keys:
 * `https://oidc.eks.us-east-1.amazonaws.com/id/ABC` → `oidc.eks.us-east-1.amazonaws.com/id/ABC`.
 */
export function oidcIssuerHostPath(issuerUrl: unknown, field = 'issuerUrl'): string {
  let url: URL | undefined;
  try {
    url = typeof issuerUrl === 'string' ? new URL(issuerUrl) : undefined;
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    url.protocol !== 'https:' ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username
  ) {
    throw new InvalidInputError(
      field,
      `expected the cluster's OIDC issuer URL, e.g. https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE, got ${describeValue(issuerUrl)}`,
    );
  }
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.host}${path}`;
}

/** The partition an EKS issuer lives in, from its host: `*.amazonaws.com.cn` → aws-cn, `*.us-gov-*` → GovCloud. */
export function partitionForIssuer(issuerHostPath: string): Partition {
  const host = issuerHostPath.split('/')[0] ?? '';
  if (host.endsWith('.amazonaws.com.cn')) return Partition.China;
  if (/\.us-gov-[a-z]+-\d+\./.test(host)) return Partition.GovCloud;
  return Partition.Aws;
}

/**
 * `arn:PARTITION:iam::ACCOUNT:oidc-provider/ISSUER_HOST_PATH`; the partition defaults to the issuer's
 * (see `partitionForIssuer`).
 */
export function oidcProviderArn(input: {
  issuerUrl: string;
  accountId: string;
  partition?: Partition;
}): string {
  const accountId = requireAccountId('accountId', input.accountId);
  const hostPath = oidcIssuerHostPath(input.issuerUrl);
  if (input.partition !== undefined && !isPartition(input.partition)) {
    throw new InvalidInputError(
      'partition',
      `expected one of ${PARTITIONS.join(', ')}, got ${describeValue(input.partition)}`,
    );
  }
  const partition = input.partition ?? partitionForIssuer(hostPath);
  return `arn:${partition}:iam::${accountId}:oidc-provider/${hostPath}`;
}
