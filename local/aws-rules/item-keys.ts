/**
 * Item identity for the transaction-conflict rule: table name + the item's primary key, as one string.
 *
 * Key attributes are strings (S), numbers (N) or binaries (B). Two spellings of one number name one item
 * in DynamoDB (`1`, `1.0`, `01`, `1e0`), so numbers are normalised; strings and base64 binaries compare
 * as they are. The canonical id is the stable JSON of `[table, [name, type, value]...]` with attribute
 * names sorted, so `{a, b}` and `{b, a}` give the same id.
 */
import type { JsonObject } from './rule.js';

/** The operations of one TransactWriteItems entry. All four include the item in the transaction. */
export const TRANSACT_ACTIONS = ['Put', 'Update', 'Delete', 'ConditionCheck'] as const;
export type TransactAction = (typeof TRANSACT_ACTIONS)[number];

/** One TransactItem, reduced to what identifies its item. */
export type ItemTarget =
  /** Update, Delete, ConditionCheck and the single UpdateItem/DeleteItem carry the key itself. */
  | { readonly table: string; readonly key: JsonObject }
  /** Put and PutItem carry the whole item: the key is picked out with the table's key schema. */
  | { readonly table: string; readonly item: JsonObject };

/**
 * The item a PutItem / UpdateItem / DeleteItem request writes, or undefined when the body is not one
 * (DynamoDB Local will answer the validation error itself).
 */
export function singleWriteTarget(operation: string, body: JsonObject | undefined): ItemTarget | undefined {
  if (!body) return undefined;
  return targetOf(operation === 'PutItem' ? 'Put' : 'Update', body);
}

/** The items of a TransactWriteItems request, in order; undefined when the body is not one. */
export function transactItemTargets(body: JsonObject | undefined): ItemTarget[] | undefined {
  const items = body?.TransactItems;
  if (!Array.isArray(items) || items.length === 0) return undefined;
  const targets: ItemTarget[] = [];
  for (const entry of items) {
    if (!isObject(entry)) return undefined;
    const action = TRANSACT_ACTIONS.find((name) => isObject(entry[name]));
    if (!action) return undefined;
    const target = targetOf(action, entry[action] as JsonObject);
    if (!target) return undefined;
    targets.push(target);
  }
  return targets;
}

function targetOf(action: TransactAction, operation: JsonObject): ItemTarget | undefined {
  const table = operation.TableName;
  if (typeof table !== 'string') return undefined;
  if (action === 'Put') return isObject(operation.Item) ? { table, item: operation.Item } : undefined;
  return isObject(operation.Key) ? { table, key: operation.Key } : undefined;
}

/**
 * The canonical id of a target's item. `keyNames` (the table's key schema) is needed for a Put only;
 * undefined when the key is missing or not made of S/N/B values.
 */
export function itemId(target: ItemTarget, keyNames?: readonly string[]): string | undefined {
  let names: readonly string[];
  let source: JsonObject;
  if ('key' in target) {
    names = Object.keys(target.key);
    source = target.key;
  } else {
    if (!keyNames) return undefined;
    names = keyNames;
    source = target.item;
  }
  if (names.length === 0) return undefined;
  const parts: [string, string, string][] = [];
  for (const name of [...names].sort()) {
    const value = source[name];
    if (!isObject(value)) return undefined;
    const part = keyValue(value);
    if (!part) return undefined;
    parts.push([name, part[0], part[1]]);
  }
  return JSON.stringify([target.table, ...parts]);
}

export function needsKeySchema(target: ItemTarget): boolean {
  return !('key' in target);
}

function keyValue(value: JsonObject): [string, string] | undefined {
  if (typeof value.S === 'string') return ['S', value.S];
  if (typeof value.B === 'string') return ['B', value.B];
  if (typeof value.N === 'string') return ['N', normalizeNumber(value.N)];
  return undefined;
}

/**
 * One spelling per DynamoDB number: `1.50`, `+1.5`, `0015e-1` all become `15e-1`; zero is `0`.
 * Text that is not a number is returned as it is (DynamoDB Local rejects it anyway).
 */
export function normalizeNumber(text: string): string {
  const match = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (!match) return text;
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  if (whole === '' && fraction === '') return text;
  let digits = `${whole}${fraction}`.replace(/^0+/, '');
  let scale = Number(exponent) - fraction.length;
  if (digits === '') return '0';
  const trailing = /0+$/.exec(digits)?.[0].length ?? 0;
  digits = digits.slice(0, digits.length - trailing);
  scale += trailing;
  return `${sign === '-' ? '-' : ''}${digits}e${scale}`;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
