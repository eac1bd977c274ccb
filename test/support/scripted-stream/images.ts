/**
 * TEST FIXTURE — item images of the scripted DynamoDB Streams endpoint: key extraction, the JSON wire
 * form of attribute values (binary as base64, as DynamoDB's JSON protocol sends it), item equality
 * and an approximate item size for `SizeBytes`.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export type ScalarAttributeType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  readonly name: string;
  readonly type: ScalarAttributeType;
}

export interface KeySchemaSpec {
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
}

/** An item as the DynamoDB SDK takes it. */
export type Item = Record<string, AttributeValue>;

/** An attribute value as it travels in DynamoDB's JSON 1.0 protocol. */
export type WireAttributeValue =
  | { S: string }
  | { N: string }
  | { B: string }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }
  | { M: WireItem }
  | { L: WireAttributeValue[] }
  | { NULL: true }
  | { BOOL: boolean };

export type WireItem = { [name: string]: WireAttributeValue };

export function keyAttributes(schema: KeySchemaSpec): KeyAttribute[] {
  return schema.sortKey ? [schema.partitionKey, schema.sortKey] : [schema.partitionKey];
}

/** The key attributes of `item`; throws when one is missing or of the wrong type. */
export function keyOf(item: Item, schema: KeySchemaSpec): Item {
  const key: Item = {};
  for (const attribute of keyAttributes(schema)) {
    const value = item[attribute.name];
    if (!value || value[attribute.type] === undefined) {
      throw new Error(`Key attribute "${attribute.name}" (${attribute.type}) is missing from the item`);
    }
    key[attribute.name] = value;
  }
  return key;
}

/** The partition key value of `item`; throws when it is missing or of the wrong type. */
export function partitionValueOf(item: Item, schema: KeySchemaSpec): AttributeValue {
  const value = item[schema.partitionKey.name];
  if (!value || value[schema.partitionKey.type] === undefined) {
    throw new Error(`Partition key "${schema.partitionKey.name}" (${schema.partitionKey.type}) is missing`);
  }
  return value;
}

export function toWireItem(item: Item): WireItem {
  const wire: WireItem = {};
  for (const [name, value] of Object.entries(item)) wire[name] = toWireValue(value);
  return wire;
}

export function toWireValue(value: AttributeValue): WireAttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.SS !== undefined) return { SS: [...value.SS] };
  if (value.NS !== undefined) return { NS: [...value.NS] };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.M !== undefined) return { M: toWireItem(value.M) };
  if (value.L !== undefined) return { L: value.L.map(toWireValue) };
  if (value.NULL !== undefined) return { NULL: true };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  throw new Error('Unsupported attribute value');
}

/** A canonical text of an item (object keys sorted), for identity and equality. */
export function canonicalText(item: Item): string {
  return JSON.stringify(sortKeys(toWireItem(item)));
}

export function sameItem(a: Item, b: Item): boolean {
  return canonicalText(a) === canonicalText(b);
}

/** Roughly DynamoDB's item size rule: attribute names plus values, numbers about half their digits. */
export function itemSize(item: Item | undefined): number {
  if (!item) return 0;
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueSize(value), 0);
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  if (value.M !== undefined) return 3 + itemSize(value.M) + Object.keys(value.M).length;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  return 1;
}

function numberSize(text: string): number {
  return Math.ceil(text.replace(/[^0-9]/g, '').length / 2) + 1;
}

function utf8(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}
