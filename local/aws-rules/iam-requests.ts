/**
 * What IAM authorises for one DynamoDB or DynamoDB Streams request: the action and the exact resource ARN,
 * one per item where AWS checks per item. Pure: a parsed request body in, a list of authorizations out.
 *
 * - Table operations: `dynamodb:<Operation>` on `table/NAME`; a Query or Scan with `IndexName` on
 *   `table/NAME/index/INDEX` (DynamoDB authorises reads of an index on the index ARN).
 * - BatchGetItem / BatchWriteItem: their own action on each table of `RequestItems`.
 * - TransactWriteItems: each item's own action on its table — Put → `dynamodb:PutItem`, Update →
 *   `dynamodb:UpdateItem`, Delete → `dynamodb:DeleteItem`, ConditionCheck → `dynamodb:ConditionCheckItem`
 *   (DynamoDB Developer Guide, "Using IAM with DynamoDB transactions"); TransactGetItems: `dynamodb:GetItem`.
 * - Streams: `dynamodb:DescribeStream` and `dynamodb:GetShardIterator` on the request's `StreamArn`,
 *   `dynamodb:GetRecords` on the stream its `ShardIterator` belongs to, `dynamodb:ListStreams` on `*`
 *   (it has no resource-level permissions).
 * - Tagging and the other resource-addressed operations: the `ResourceArn` given; ListTables and the
 *   account-level describes: `*`.
 *
 * Table ARNs are built as DynamoDB Local builds them: `arn:aws:dynamodb:ddblocal:000000000000:table/NAME`
 * (it ignores the client's region and credentials), so the policies the project generates from the ARNs
 * DynamoDB Local returns name exactly these resources.
 */
import type { Authorization } from '../../core/iam/iam-evaluation.js';
import type { JsonObject, Service } from './rule.js';

/** Where DynamoDB Local says its tables are: region `ddblocal`, account `000000000000`. */
export const DYNAMODB_LOCAL_LOCATION = {
  partition: 'aws',
  region: 'ddblocal',
  accountId: '000000000000',
} as const;

export interface ArnLocation {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

/** Operations IAM authorises on no particular resource: `*`. */
const ACCOUNT_LEVEL = new Set([
  'ListTables',
  'ListBackups',
  'ListGlobalTables',
  'ListImports',
  'ListExports',
  'DescribeLimits',
  'DescribeEndpoints',
  'DescribeReservedCapacity',
  'DescribeReservedCapacityOfferings',
]);

const TRANSACT_WRITE_ACTIONS = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
} as const;

/** A request the layer cannot turn into authorizations (no table named, an unreadable body). */
export interface Unjudgeable {
  readonly unjudgeable: string;
}

export function tableArnAt(where: ArnLocation, tableName: string): string {
  return `arn:${where.partition}:dynamodb:${where.region}:${where.accountId}:table/${tableName}`;
}

/** `<stream ARN>|...` (DynamoDB Local's and the scripted stream's iterators) → the stream ARN. */
export function streamArnOfIterator(iterator: string): string | undefined {
  const head = iterator.split('|', 1)[0] ?? '';
  return /^arn:[^:]+:dynamodb:[^:]*:\d{12}:table\/[^/]+\/stream\/[^/|]+$/.test(head) ? head : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function objectOf(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

function dynamodbAuthorizations(
  operation: string,
  body: JsonObject,
  where: ArnLocation,
): Authorization[] | Unjudgeable {
  const action = `dynamodb:${operation}`;
  if (ACCOUNT_LEVEL.has(operation)) return [{ action, resource: '*' }];
  if (operation === 'BatchGetItem' || operation === 'BatchWriteItem') {
    const tables = Object.keys(objectOf(body.RequestItems) ?? {});
    if (tables.length === 0) return { unjudgeable: `${operation} without RequestItems` };
    return tables.map((table) => ({ action, resource: tableArnAt(where, table) }));
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const items = Array.isArray(body.TransactItems) ? body.TransactItems : [];
    const out: Authorization[] = [];
    for (const entry of items) {
      const item = objectOf(entry) ?? {};
      const [kind] = Object.keys(item);
      const target = objectOf(kind === undefined ? undefined : item[kind]);
      const table = text(target?.TableName);
      const itemAction =
        operation === 'TransactGetItems'
          ? kind === 'Get'
            ? 'dynamodb:GetItem'
            : undefined
          : TRANSACT_WRITE_ACTIONS[kind as keyof typeof TRANSACT_WRITE_ACTIONS];
      if (!itemAction || !table) return { unjudgeable: `${operation} item ${kind ?? '(empty)'}` };
      out.push({ action: itemAction, resource: tableArnAt(where, table) });
    }
    if (out.length === 0) return { unjudgeable: `${operation} without TransactItems` };
    return out;
  }
  const resourceArn = text(body.ResourceArn);
  if (resourceArn) return [{ action, resource: resourceArn }];
  const table = text(body.TableName);
  if (!table) return { unjudgeable: `${operation} names no table` };
  const index = text(body.IndexName);
  const resource =
    index && (operation === 'Query' || operation === 'Scan')
      ? `${tableArnAt(where, table)}/index/${index}`
      : tableArnAt(where, table);
  return [{ action, resource }];
}

function streamsAuthorizations(operation: string, body: JsonObject): Authorization[] | Unjudgeable {
  const action = `dynamodb:${operation}`;
  if (operation === 'ListStreams') return [{ action, resource: '*' }];
  if (operation === 'GetRecords') {
    const iterator = text(body.ShardIterator);
    const stream = iterator === undefined ? undefined : streamArnOfIterator(iterator);
    return stream
      ? [{ action, resource: stream }]
      : { unjudgeable: 'GetRecords with an unreadable iterator' };
  }
  const stream = text(body.StreamArn);
  return stream ? [{ action, resource: stream }] : { unjudgeable: `${operation} names no stream` };
}

/** The authorizations IAM would check for a request, or why they cannot be told. */
export function authorizationsOf(
  service: Service,
  operation: string,
  body: JsonObject | undefined,
  where: ArnLocation = DYNAMODB_LOCAL_LOCATION,
): Authorization[] | Unjudgeable {
  if (!body) return { unjudgeable: `${operation}: the body is not a JSON object` };
  if (service === 'dynamodb') return dynamodbAuthorizations(operation, body, where);
  if (service === 'streams') return streamsAuthorizations(operation, body);
  return { unjudgeable: `not a DynamoDB request (${operation || 'no X-Amz-Target'})` };
}

export function isUnjudgeable(value: Authorization[] | Unjudgeable): value is Unjudgeable {
  return !Array.isArray(value);
}
