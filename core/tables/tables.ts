/**
 * The source and replica tables: make sure both exist with the same key schema, that the source streams
 * NEW_AND_OLD_IMAGES, and that both are ACTIVE; return the stream ARN. Idempotent: a second run changes
 * nothing and returns the same answer. Works the same on DynamoDB and DynamoDB Local.
 */

import {
  type AttributeDefinition,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  type TableDescription,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import { systemClock } from '../vocabulary/clock.js';
import {
  errorName,
  InvalidInputError,
  isRetriableAwsError,
  PreconditionError,
  TransientError,
} from '../vocabulary/errors.js';
import { describeValue, requireTableName } from '../vocabulary/validation.js';

export const STREAM_VIEW_TYPE = 'NEW_AND_OLD_IMAGES';

export const KeyAttributeType = { String: 'S', Number: 'N', Binary: 'B' } as const;
export type KeyAttributeType = (typeof KeyAttributeType)[keyof typeof KeyAttributeType];

export interface KeyAttribute {
  name: string;
  type: KeyAttributeType;
}

/** The recipe's `users` table: partition key `email`, a string. */
export const DEFAULT_PARTITION_KEY: KeyAttribute = { name: 'email', type: KeyAttributeType.String };

export interface TableKey {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
}

export interface EnsureTablesInput {
  sourceTableName: string;
  /** Absent for a fleet that runs its own processor. */
  replicaTableName: string | undefined;
  /** Create a missing table (the source with its stream, the replica with the source's key). */
  create: boolean;
  /** The key of a source table that has to be created. Default: `email` (S). */
  key?: TableKey;
  /** How long to wait for ACTIVE before giving up with a TransientError. Default 120 s. */
  activeTimeoutMs?: number;
  /** Time between DescribeTable polls. Default 1 s. */
  pollIntervalMs?: number;
}

export interface EnsureTablesResult {
  sourceTableName: string;
  replicaTableName: string | undefined;
  streamArn: string;
  key: TableKey;
  /** Tables this call created. */
  created: string[];
  /** True when this call turned the source table's stream on. */
  streamEnabled: boolean;
}

export function requireKeyAttribute(field: string, value: unknown): KeyAttribute {
  const candidate = value as Partial<KeyAttribute> | undefined;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.name !== 'string' ||
    candidate.name.length === 0 ||
    candidate.name.length > 255
  ) {
    throw new InvalidInputError(
      field,
      `expected { name, type } with a non-empty name, got ${describeValue(value)}`,
    );
  }
  const type = candidate.type ?? KeyAttributeType.String;
  if (!Object.values(KeyAttributeType).includes(type)) {
    throw new InvalidInputError(`${field}.type`, `expected S, N or B, got ${describeValue(type)}`);
  }
  return { name: candidate.name, type };
}

export function keyFromDescription(table: TableDescription): TableKey {
  const typeOf = (name: string): KeyAttributeType =>
    (table.AttributeDefinitions?.find((d) => d.AttributeName === name)?.AttributeType ??
      KeyAttributeType.String) as KeyAttributeType;
  const hash = table.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName ?? '';
  const range = table.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
  return {
    partitionKey: { name: hash, type: typeOf(hash) },
    ...(range === undefined ? {} : { sortKey: { name: range, type: typeOf(range) } }),
  };
}

function keyText(key: TableKey): string {
  const part = (k: KeyAttribute, kind: string) => `${k.name} (${k.type}, ${kind})`;
  return key.sortKey
    ? `${part(key.partitionKey, 'HASH')} + ${part(key.sortKey, 'RANGE')}`
    : part(key.partitionKey, 'HASH');
}

function sameKey(a: TableKey, b: TableKey): boolean {
  return keyText(a) === keyText(b);
}

function keyDefinitions(key: TableKey): {
  AttributeDefinitions: AttributeDefinition[];
  KeySchema: KeySchemaElement[];
} {
  const attributes = [key.partitionKey, ...(key.sortKey ? [key.sortKey] : [])];
  return {
    AttributeDefinitions: attributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
    KeySchema: [
      { AttributeName: key.partitionKey.name, KeyType: 'HASH' },
      ...(key.sortKey ? [{ AttributeName: key.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
  };
}

/** DescribeTable, or undefined when the table does not exist. */
export async function describeTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<TableDescription | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table;
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') return undefined;
    throw asTransientWhenRetriable(error);
  }
}

/** AWS errors that clear up by themselves become TransientError, so workflows retry them by name. */
export function asTransientWhenRetriable(error: unknown): unknown {
  if (isRetriableAwsError(error) && !(error instanceof TransientError)) {
    return new TransientError(`${errorName(error)}: ${(error as Error).message}`, { cause: error });
  }
  return error;
}

async function waitUntilActive(
  client: DynamoDBClient,
  tableName: string,
  options: { timeoutMs: number; pollMs: number; needStream: boolean },
): Promise<TableDescription> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const table = await describeTable(client, tableName);
    const streamReady =
      !options.needStream || (table?.StreamSpecification?.StreamEnabled && table.LatestStreamArn);
    if (table?.TableStatus === 'ACTIVE' && streamReady) return table;
    if (Date.now() > deadline) {
      throw new TransientError(
        `Table ${tableName} is still ${table?.TableStatus ?? 'missing'} after ${Math.round(options.timeoutMs / 1000)} s; run the step again to keep waiting.`,
      );
    }
    await systemClock.sleep(options.pollMs);
  }
}

/** The source and replica tables, as described in the module comment. */
export async function ensureReplicationTables(
  client: DynamoDBClient,
  input: EnsureTablesInput,
): Promise<EnsureTablesResult> {
  const sourceTableName = requireTableName('sourceTableName', input.sourceTableName);
  // A fleet that runs its own processor has no replica table: only the source and its stream.
  const replicaTableName =
    input.replicaTableName === undefined
      ? undefined
      : requireTableName('replicaTableName', input.replicaTableName);
  if (sourceTableName === replicaTableName) {
    throw new InvalidInputError('replicaTableName', `must differ from sourceTableName (${sourceTableName})`);
  }
  const wait = { timeoutMs: input.activeTimeoutMs ?? 120_000, pollMs: input.pollIntervalMs ?? 1_000 };
  const created: string[] = [];
  let streamEnabled = false;

  let source = await describeTable(client, sourceTableName);
  if (source === undefined) {
    if (!input.create) {
      throw new PreconditionError(
        `The source table ${sourceTableName} does not exist.`,
        `check fleet.sourceTableName, or start again with "fleet": { "tables": { "create": true } } to let setup create it (partition key ${input.key?.partitionKey.name ?? DEFAULT_PARTITION_KEY.name}).`,
      );
    }
    const key = input.key ?? { partitionKey: DEFAULT_PARTITION_KEY };
    try {
      await client.send(
        new CreateTableCommand({
          TableName: sourceTableName,
          ...keyDefinitions(key),
          BillingMode: 'PAY_PER_REQUEST',
          StreamSpecification: { StreamEnabled: true, StreamViewType: STREAM_VIEW_TYPE },
        }),
      );
      created.push(sourceTableName);
    } catch (error) {
      // Created by a concurrent run: carry on with what is there.
      if (errorName(error) !== 'ResourceInUseException') throw asTransientWhenRetriable(error);
    }
    source = await waitUntilActive(client, sourceTableName, { ...wait, needStream: false });
  } else if (source.TableStatus !== 'ACTIVE') {
    source = await waitUntilActive(client, sourceTableName, { ...wait, needStream: false });
  }

  const stream = source.StreamSpecification;
  if (!stream?.StreamEnabled) {
    try {
      await client.send(
        new UpdateTableCommand({
          TableName: sourceTableName,
          StreamSpecification: { StreamEnabled: true, StreamViewType: STREAM_VIEW_TYPE },
        }),
      );
      streamEnabled = true;
    } catch (error) {
      // A concurrent run enabled it first (ValidationException "already has an enabled stream").
      if (errorName(error) !== 'ValidationException') throw asTransientWhenRetriable(error);
    }
  } else if (stream.StreamViewType !== STREAM_VIEW_TYPE) {
    throw new PreconditionError(
      `The stream of ${sourceTableName} shows ${stream.StreamViewType}; the replica needs ${STREAM_VIEW_TYPE}.`,
      `turn the stream off (aws dynamodb update-table --table-name ${sourceTableName} --stream-specification StreamEnabled=false) once nothing else reads it, then start again: setup turns it on with ${STREAM_VIEW_TYPE}.`,
    );
  }
  source = await waitUntilActive(client, sourceTableName, { ...wait, needStream: true });
  const key = keyFromDescription(source);
  const streamArn = source.LatestStreamArn;
  if (!streamArn) throw new TransientError(`Table ${sourceTableName} reports no stream ARN yet; run again.`);
  if (replicaTableName === undefined)
    return { sourceTableName, replicaTableName, streamArn, key, created, streamEnabled };

  let replica = await describeTable(client, replicaTableName);
  if (replica === undefined) {
    if (!input.create) {
      throw new PreconditionError(
        `The replica table ${replicaTableName} does not exist.`,
        `create it with the key of ${sourceTableName} (${keyText(key)}), or start again with "fleet": { "tables": { "create": true } }.`,
      );
    }
    try {
      await client.send(
        new CreateTableCommand({
          TableName: replicaTableName,
          ...keyDefinitions(key),
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      created.push(replicaTableName);
    } catch (error) {
      if (errorName(error) !== 'ResourceInUseException') throw asTransientWhenRetriable(error);
    }
  }
  replica = await waitUntilActive(client, replicaTableName, { ...wait, needStream: false });
  const replicaKey = keyFromDescription(replica);
  if (!sameKey(key, replicaKey)) {
    throw new PreconditionError(
      `The replica table ${replicaTableName} has the key ${keyText(replicaKey)}, but ${sourceTableName} has ${keyText(key)}.`,
      `point fleet.replicaTableName at a table with the source's key, or delete ${replicaTableName} and start again with tables.create true.`,
    );
  }
  return { sourceTableName, replicaTableName, streamArn, key, created, streamEnabled };
}

/** The source table's current stream ARN; a PreconditionError when the table or its stream is missing. */
export async function sourceStreamArn(client: DynamoDBClient, sourceTableName: string): Promise<string> {
  return streamArnOf(await describeTable(client, sourceTableName), sourceTableName);
}

/** The stream ARN of a described source table, with the same errors as `sourceStreamArn`. */
export function streamArnOf(table: TableDescription | undefined, sourceTableName: string): string {
  if (table === undefined) {
    throw new PreconditionError(
      `The source table ${sourceTableName} does not exist.`,
      'run the setup workflow first, or check fleet.sourceTableName.',
    );
  }
  if (!table.StreamSpecification?.StreamEnabled || !table.LatestStreamArn) {
    throw new PreconditionError(
      `The source table ${sourceTableName} has no stream.`,
      'run the setup workflow, which turns the stream on with NEW_AND_OLD_IMAGES.',
    );
  }
  return table.LatestStreamArn;
}

/** The key of an existing table. */
export async function tableKey(client: DynamoDBClient, tableName: string): Promise<TableKey> {
  return keyFromDescription(existingTable(await describeTable(client, tableName), tableName));
}

/** The description of a table that must exist; a PreconditionError naming it otherwise. */
export function existingTable(table: TableDescription | undefined, tableName: string): TableDescription {
  if (table === undefined) {
    throw new PreconditionError(`The table ${tableName} does not exist.`, 'run the setup workflow first.');
  }
  return table;
}

/** Deletes the named tables; absent ones are reported, not an error. */
export async function deleteTables(
  client: DynamoDBClient,
  tableNames: readonly string[],
): Promise<{ deleted: string[]; absent: string[] }> {
  const deleted: string[] = [];
  const absent: string[] = [];
  for (const name of tableNames) {
    try {
      await client.send(new DeleteTableCommand({ TableName: name }));
      deleted.push(name);
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') absent.push(name);
      else throw asTransientWhenRetriable(error);
    }
  }
  return { deleted, absent };
}
