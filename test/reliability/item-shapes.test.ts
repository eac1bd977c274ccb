/**
 * Bad (or merely unusual) input: every DynamoDB attribute type, empty and deeply nested values, attribute names
 * with odd characters, and keys of every kind — unicode, spaces, control characters, keys at DynamoDB's size
 * limits (2048-byte partition key, 1024-byte sort key), numeric keys at the edges of DynamoDB's number range,
 * binary keys with zero and invalid-UTF-8 bytes, composite keys. Each must be replicated exactly, through puts,
 * updates and deletes, in both write modes.
 */
import { type AttributeValue, DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { scanAll } from '../support/fleet.js';
import {
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  FAST_LEASES,
  Fleet,
  type Item,
  type KeySchema,
  reliabilitySuite,
  report,
} from './harness.js';

const { endpoint, client, streams } = reliabilitySuite();

const bytes = (...values: number[]) => new Uint8Array(values);
const utf8Bytes = (text: string, length: number) => {
  const out = Buffer.alloc(length, 0);
  Buffer.from(text).copy(out);
  return new Uint8Array(out);
};
/** A string of exactly `byteLength` UTF-8 bytes made of multi-byte characters (plus ASCII padding). */
function utf8OfBytes(byteLength: number): string {
  const unit = 'é漢🙂'; // 2 + 3 + 4 bytes
  let text = '';
  while (Buffer.byteLength(text + unit) <= byteLength) text += unit;
  return text + 'x'.repeat(byteLength - Buffer.byteLength(text));
}

function nested(depth: number): AttributeValue {
  let value: AttributeValue = { S: 'bottom' };
  for (let i = 0; i < depth; i++)
    value = i % 2 === 0 ? { M: { [`level${i}`]: value } } : { L: [value, { N: `${i}` }] };
  return value;
}

/** Every attribute type, empty values, nesting up to DynamoDB's 32 levels, odd attribute names. */
function everyType(version: number): Item {
  return {
    s: { S: `plain ${version}` },
    emptyString: { S: '' },
    n: { N: '-12.5' },
    bigNumber: { N: '99999999999999999999999999999999999999' },
    tinyNumber: { N: '1E-130' },
    hugeNumber: { N: '9.9999999999999999999999999999999999999E+125' },
    b: { B: bytes(0, 1, 2, 255, 254, 0) },
    emptyBinary: { B: new Uint8Array(0) },
    yes: { BOOL: true },
    no: { BOOL: false },
    nothing: { NULL: true },
    ss: { SS: ['a', 'b', 'ünïcödé', ' space ', `v${version}`] },
    ns: { NS: ['1', '2.5', '-3', '1E+10'] },
    bs: { BS: [bytes(1), bytes(2, 3), bytes(0)] },
    // No empty map anywhere: DynamoDB Local's stream images turn {"M":{}} into {} (see poison-records.test.ts).
    list: {
      L: [
        { S: '' },
        { N: '1' },
        { NULL: true },
        { L: [] },
        { M: { k: { S: 'v' } } },
        { BOOL: false },
        { SS: ['x'] },
      ],
    },
    emptyList: { L: [] },
    map: { M: { nested: { M: { deeper: { L: [{ M: { x: { SS: ['y'] } } }] } } } } },
    deep: nested(30),
    'name with spaces': { S: 'spaces' },
    'ünïcödé 名前 🙂': { S: 'unicode name' },
    'a.b[0]': { S: 'looks like a path' },
    '#hash': { S: 'looks like a placeholder' },
    ':colon': { S: 'looks like a value placeholder' },
    'quote"s\'\\': { S: 'quotes' },
    [`long-name-${'n'.repeat(1_000)}`]: { S: 'a 1 KB attribute name' },
    version: { N: String(version) },
  };
}

interface Shape {
  name: string;
  key: KeySchema;
  keys: Item[];
}

const SHAPES: Shape[] = [
  {
    name: 'string-keys',
    key: { hash: { name: 'pk', type: 'S' } },
    keys: [
      '名前@例え.jp',
      '🙂🚀 emoji',
      ' leading and trailing spaces ',
      'tab\tnew\nline\rreturn',
      'quotes "\' and \\ backslash',
      '#:.[]{}$ expression-like',
      '{"S":"looks like JSON"}',
      'null',
      '\u0000 nul char',
      'combining é vs é',
      utf8OfBytes(2048), // DynamoDB's limit for a partition key
      'x'.repeat(2048),
    ].map((value) => ({ pk: { S: value } })),
  },
  {
    name: 'number-keys',
    key: { hash: { name: 'n', type: 'N' } },
    keys: [
      '0',
      '-1',
      '1.5',
      '-0.000001',
      '12345678901234567890123456789012345678',
      '-12345678901234567890123456789012345678',
      '9.9999999999999999999999999999999999999E+125',
      '-9.9999999999999999999999999999999999999E+125',
      '1E-130',
      '-1E-130',
      '100',
      '1e2', // the same number as 100 to DynamoDB: one item
    ].map((value) => ({ n: { N: value } })),
  },
  {
    name: 'binary-keys',
    key: { hash: { name: 'bin', type: 'B' } },
    keys: [
      bytes(0),
      bytes(0, 0, 0),
      bytes(255, 254, 253),
      bytes(0xc3, 0x28), // invalid UTF-8
      utf8Bytes('text as bytes', 20),
      new Uint8Array(2048).map((_, i) => i % 256), // at the partition key limit
    ].map((value) => ({ bin: { B: value } })),
  },
  {
    name: 'composite-string-number',
    key: { hash: { name: 'tenant', type: 'S' }, range: { name: 'at', type: 'N' } },
    keys: [
      ...['-1', '0', '1', '1.000001', '99999999999999999999999999999999999999'].map((at) => ({
        tenant: { S: 'tenant#1' },
        at: { N: at },
      })),
      { tenant: { S: 'tenant#2 ünï' }, at: { N: '0' } },
      { tenant: { S: utf8OfBytes(2048) }, at: { N: '-5' } },
    ],
  },
  {
    name: 'composite-binary-string',
    key: { hash: { name: 'h', type: 'B' }, range: { name: 'r', type: 'S' } },
    keys: [
      { h: { B: bytes(1) }, r: { S: 'a' } },
      { h: { B: bytes(1) }, r: { S: 'A' } },
      { h: { B: bytes(1) }, r: { S: utf8OfBytes(1024) } }, // DynamoDB's limit for a sort key
      { h: { B: bytes(0, 0) }, r: { S: ' ' } },
    ],
  },
];

describe('items of every shape, keys of every kind', () => {
  for (const shape of SHAPES) {
    for (const mode of ['fenced', 'conditional'] as const) {
      it(`${shape.name} (${mode}): replicated exactly through puts, updates and deletes`, async () => {
        const started = Date.now();
        const tables = await createAuditedTables(client, undefined, shape.key);
        const fleet = new Fleet({ endpoint, tables, env: { ...FAST_LEASES, REPLICATION_WRITE_MODE: mode } });
        const put = (key: Item, version: number) =>
          client.send(
            new PutItemCommand({ TableName: tables.source, Item: { ...everyType(version), ...key } }),
          );
        // Some history before the worker starts (read from TRIM_HORIZON), some after.
        for (const key of shape.keys) await put(key, 1);
        const worker = await fleet.start(`shapes-${mode}`);
        for (const [i, key] of shape.keys.entries()) {
          await put(key, 2);
          if (i % 3 === 0) await client.send(new DeleteItemCommand({ TableName: tables.source, Key: key }));
          if (i % 6 === 0) await put(key, 3); // deleted, then back
        }
        const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 30_000 });
        await fleet.scrapeAll();
        report({
          scenario: `item-shapes-${shape.name}-${mode}`,
          faults: {},
          ...auditFigures(result, fleet),
          durationMs: Date.now() - started,
          distinctKeys: shape.keys.length,
          itemsInSource: result.itemsInSource,
          poisonRecords: fleet.total('streamfleet_poison_records_total'),
          poisonReasons: [...new Set(worker.events('record.poison').map((e) => e.reason))],
          examples: result.examples,
        });
        expect(result.examples).toEqual([]);
        expect(result.lost + result.staleOverwrites + result.corrupted).toBe(0);
        expect(result.replicated).toBe(result.itemsInSource);
        expect(result.itemsInSource).toBeGreaterThan(0);
        expect(fleet.total('streamfleet_poison_records_total')).toBe(0);
        await fleet.stopAll();
      }, 40_000);
    }
  }

  it('source attributes named like the bookkeeping ones are replaced in the replica (documented limit)', async () => {
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: FAST_LEASES });
    await client.send(
      new PutItemCommand({
        TableName: tables.source,
        Item: {
          email: { S: 'collides@example.com' },
          processed_by: { S: 'set by the application' },
          _streamfleet_seq: { N: '1' },
        },
      }),
    );
    await fleet.start('collider');
    const [copy] = await waitForItems(tables.target, 1);
    expect(copy?.processed_by).toEqual({ S: 'collider' });
    expect(copy?._streamfleet_seq?.S).toMatch(/^\d{48}$/);
    await fleet.stopAll();
  }, 30_000);
});

async function waitForItems(table: string, count: number): Promise<Item[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const items = await scanAll(client, table);
    if (items.length >= count || Date.now() > deadline) return items;
    await new Promise((r) => setTimeout(r, 200));
  }
}
