/**
 * The seam every rule of the strict layer meets the proxy at. A rule says which requests it inspects
 * (from the target operation and headers alone, so the proxy buffers and parses only those bodies),
 * then admits or refuses each one. An admitted request may be held back a while (`delayMs`) and may
 * ask to watch its answer (`watch`), which is how a rule keeps state that lasts as long as the
 * request is in flight (a transaction's item locks) or learns from the answer (the next shard iterator).
 *
 * A rule sees the parsed request, its service and operation and every header, so an IAM rule can read
 * the caller's access key id (`request.accessKeyId()`) and judge the action on the exact resource.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AwsErrorReply } from './errors.js';
import type { RuleSwitches } from './switches.js';

/** The X-Amz-Target prefixes of the two APIs the layer understands. */
export const TARGET_PREFIXES = {
  dynamodb: 'DynamoDB_20120810',
  streams: 'DynamoDBStreams_20120810',
} as const;

export type Service = keyof typeof TARGET_PREFIXES | 'other';

export type JsonObject = { readonly [key: string]: unknown };

/** What is known of a request before its body is read. */
export interface RequestHead {
  readonly service: Service;
  /** `PutItem`, `GetRecords`, ... (after the dot of X-Amz-Target); '' when absent. */
  readonly operation: string;
  readonly headers: IncomingHttpHeaders;
}

/** A request whose body a rule asked to see. */
export interface AwsRequest extends RequestHead {
  readonly body: Buffer;
  /** The body as text (decoded once). */
  text(): string;
  /** The body parsed as a JSON object, once, on first call; undefined when it is not one. */
  json(): JsonObject | undefined;
  /** The access key id from a SigV4 `Authorization` header, if any. */
  accessKeyId(): string | undefined;
}

/** How an admitted request's upstream exchange ended. */
export type UpstreamOutcome =
  /** `tail` is the last bytes of the body as text (the whole body when `complete`). */
  | { readonly kind: 'answered'; readonly status: number; readonly tail: string; readonly complete: boolean }
  /** The connection to upstream failed before the answer was whole. */
  | { readonly kind: 'failed' }
  /** A later rule refused the request, so it never went upstream. */
  | { readonly kind: 'not-forwarded' };

export interface ResponseWatch {
  /** Called exactly once per admitted request. */
  settle(outcome: UpstreamOutcome): void;
}

export type Admission =
  | { readonly kind: 'pass'; readonly delayMs?: number; readonly watch?: ResponseWatch }
  | { readonly kind: 'refuse'; readonly reply: AwsErrorReply };

export const PASS: Admission = Object.freeze({ kind: 'pass' });

export function refuse(reply: AwsErrorReply): Admission {
  return { kind: 'refuse', reply };
}

export interface Rule {
  /** For logs and errors. */
  readonly name: string;
  /** Whether `admit` must see this request; decided before the body is read. */
  inspects(head: RequestHead, switches: RuleSwitches): boolean;
  admit(request: AwsRequest, switches: RuleSwitches): Admission | Promise<Admission>;
}

export function parseTarget(target: string | string[] | undefined): { service: Service; operation: string } {
  const text = Array.isArray(target) ? (target[0] ?? '') : (target ?? '');
  const dot = text.indexOf('.');
  if (dot < 0) return { service: 'other', operation: text };
  const prefix = text.slice(0, dot);
  const operation = text.slice(dot + 1);
  if (prefix === TARGET_PREFIXES.dynamodb) return { service: 'dynamodb', operation };
  if (prefix === TARGET_PREFIXES.streams) return { service: 'streams', operation };
  return { service: 'other', operation };
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, ...` → `AKID`. */
export function accessKeyIdOf(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /Credential=([^/,\s]+)\//.exec(authorization);
  return match?.[1];
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, ...` → `us-east-1`. */
export function signedRegionOf(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /Credential=[^/,\s]+\/\d{8}\/([^/,\s]+)\//.exec(authorization);
  return match?.[1];
}

export class BufferedRequest implements AwsRequest {
  private decoded: string | undefined;
  private parsed: { value: JsonObject | undefined } | undefined;

  constructor(
    readonly service: Service,
    readonly operation: string,
    readonly headers: IncomingHttpHeaders,
    readonly body: Buffer,
  ) {}

  text(): string {
    this.decoded ??= this.body.toString('utf8');
    return this.decoded;
  }

  json(): JsonObject | undefined {
    if (!this.parsed) {
      let value: JsonObject | undefined;
      try {
        const parsed: unknown = JSON.parse(this.text());
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
          value = parsed as JsonObject;
      } catch {
        value = undefined;
      }
      this.parsed = { value };
    }
    return this.parsed.value;
  }

  accessKeyId(): string | undefined {
    return accessKeyIdOf(this.headers.authorization);
  }
}

/**
 * Table names a request body names, found without parsing it: every `"TableName":"..."` (a string value
 * there is always a table name: item attributes have object values, and expression names start with
 * `#`), or else the table in the first stream ARN or shard iterator (`...:table/<name>/stream/...`).
 */
export function tablesMentioned(text: string): string[] {
  const tables: string[] = [];
  const tableName = /"TableName"\s*:\s*"([^"\\]+)"/g;
  for (let match = tableName.exec(text); match; match = tableName.exec(text)) {
    const name = match[1];
    if (name && !tables.includes(name)) tables.push(name);
  }
  if (tables.length > 0) return tables;
  const stream = /:table\/([^/"|\\]+)\/stream\//.exec(text);
  return stream?.[1] ? [stream[1]] : [];
}

/** The tables of a BatchGetItem/BatchWriteItem (the keys of `RequestItems`). */
export function requestItemTables(json: JsonObject | undefined): string[] {
  const requestItems = json?.RequestItems;
  if (typeof requestItems !== 'object' || requestItems === null) return [];
  return Object.keys(requestItems);
}
