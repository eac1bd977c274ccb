/**
 * Key schemas of the tables transactions touch, looked up once per table with DescribeTable against
 * the upstream and cached. A PutItem or a transaction's Put carries the whole item, and only the key
 * schema says which attributes identify it.
 *
 * An entry is dropped when a CreateTable or DeleteTable of that table passes through the layer, or when
 * a DescribeTable says the table does not exist; a lookup that fails is not cached.
 */
import { type Agent, request as httpRequest } from 'node:http';
import { errorTypeOf, JSON_CONTENT_TYPE } from './errors.js';
import { TARGET_PREFIXES } from './rule.js';

/** The names of a table's key attributes (partition key, then sort key). */
export type KeyNames = readonly string[];

/** Looks a table's key schema up; undefined when the table does not exist (or the lookup failed). */
export type DescribeKeySchema = (
  table: string,
  authorization: string | undefined,
) => Promise<KeyNames | undefined>;

export class KeySchemaCache {
  private readonly entries = new Map<string, Promise<KeyNames | undefined>>();

  constructor(private readonly describe: DescribeKeySchema) {}

  /** The key schema, from the cache or one DescribeTable (concurrent callers share it). */
  get(table: string, authorization?: string): Promise<KeyNames | undefined> {
    const cached = this.entries.get(table);
    if (cached) return cached;
    const lookup = this.describe(table, authorization).then(
      (names) => {
        if (!names && this.entries.get(table) === lookup) this.entries.delete(table);
        return names;
      },
      () => {
        if (this.entries.get(table) === lookup) this.entries.delete(table);
        return undefined;
      },
    );
    this.entries.set(table, lookup);
    return lookup;
  }

  invalidate(table: string): void {
    this.entries.delete(table);
  }

  /** Tables with an entry (a lookup in flight included). */
  tables(): string[] {
    return [...this.entries.keys()];
  }
}

/**
 * DescribeTable against `upstream` over `agent`. It reuses the caller's Authorization header:
 * DynamoDB Local does not check signatures, but reads the access key and region from it to choose its
 * database when it runs without `-sharedDb`.
 */
export function describeKeySchemaVia(upstream: URL, agent: Agent): DescribeKeySchema {
  return (table, authorization) =>
    new Promise<KeyNames | undefined>((resolve, reject) => {
      const body = JSON.stringify({ TableName: table });
      const headers: Record<string, string | number> = {
        'content-type': JSON_CONTENT_TYPE,
        'content-length': Buffer.byteLength(body),
        'x-amz-target': `${TARGET_PREFIXES.dynamodb}.DescribeTable`,
        authorization:
          authorization ??
          'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      };
      const call = httpRequest(
        {
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          path: upstream.pathname,
          method: 'POST',
          headers,
          agent,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode === 200) {
              resolve(keyNamesOf(text));
            } else if (errorTypeOf(text) === 'ResourceNotFoundException') {
              resolve(undefined);
            } else {
              reject(
                new Error(`DescribeTable ${table} answered ${response.statusCode}: ${text.slice(0, 200)}`),
              );
            }
          });
        },
      );
      call.on('error', reject);
      call.end(body);
    });
}

function keyNamesOf(text: string): KeyNames | undefined {
  const parsed = JSON.parse(text) as {
    Table?: { KeySchema?: { AttributeName?: unknown; KeyType?: unknown }[] };
  };
  const schema = parsed.Table?.KeySchema;
  if (!Array.isArray(schema) || schema.length === 0) return undefined;
  const ordered = [...schema].sort((a, b) => (a.KeyType === 'HASH' ? -1 : b.KeyType === 'HASH' ? 1 : 0));
  const names = ordered.map((entry) => entry.AttributeName);
  return names.every((name): name is string => typeof name === 'string') ? names : undefined;
}
