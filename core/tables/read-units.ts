/**
 * Read units, as DynamoDB bills them (developer guide, "DynamoDB read and write operations"): an item read is
 * its size rounded up to the next 4 KB, one unit per 4 KB strongly consistent and half that eventually
 * consistent; a Scan page is the sum of the sizes of the items it read, rounded up once; BatchGetItem rounds
 * each item on its own; a key that finds no item still costs a read. Every read asks for
 * `ReturnConsumedCapacity: 'TOTAL'`; where DynamoDB answers without it (DynamoDB Local does for some calls),
 * the units are computed from the item sizes by these rules, and the meter says which it was.
 * Item sizes follow the guide's "Item sizes and formats": names and strings in UTF-8 bytes, numbers about one
 * byte per two significant digits plus one, binaries in bytes, 3 bytes plus one per element for lists and
 * maps. Pure: no I/O.
 */
import type { AttributeValue, ConsumedCapacity } from '@aws-sdk/client-dynamodb';

export const READ_UNIT_BYTES = 4096;

export const ReadConsistency = { Eventual: 'eventual', Strong: 'strong' } as const;
export type ReadConsistency = (typeof ReadConsistency)[keyof typeof ReadConsistency];

type Item = Record<string, AttributeValue>;

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

function numberSize(text: string): number {
  const digits = text
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** The size of one attribute value in bytes (its name not included). */
export function attributeValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + attributeValueSize(v) + 1, 0);
  if (value.M !== undefined) {
    return (
      3 + Object.entries(value.M).reduce((sum, [name, v]) => sum + utf8(name) + attributeValueSize(v) + 1, 0)
    );
  }
  return 0;
}

/** The size DynamoDB counts for an item: every attribute's name and value. */
export function itemSize(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += utf8(name) + attributeValueSize(value);
  return size;
}

const factor = (consistency: ReadConsistency) => (consistency === ReadConsistency.Strong ? 1 : 0.5);

/** Units for one item read (GetItem, or one key of a BatchGetItem); a missing item costs one 4 KB read. */
export function itemReadUnits(item: Item | undefined, consistency: ReadConsistency): number {
  const blocks = item === undefined ? 1 : Math.max(1, Math.ceil(itemSize(item) / READ_UNIT_BYTES));
  return blocks * factor(consistency);
}

/** Units for one Scan page: the items' sizes summed, then rounded up (at least one 4 KB read per request). */
export function scanPageUnits(items: readonly Item[], consistency: ReadConsistency): number {
  const bytes = items.reduce((sum, item) => sum + itemSize(item), 0);
  return Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES)) * factor(consistency);
}

/** Units for one BatchGetItem answer on one table: each found item rounded on its own, each miss one read. */
export function batchGetUnits(
  found: readonly Item[],
  requested: number,
  consistency: ReadConsistency,
): number {
  const hits = found.reduce((sum, item) => sum + itemReadUnits(item, consistency), 0);
  return hits + Math.max(0, requested - found.length) * itemReadUnits(undefined, consistency);
}

/** Where a meter's figure came from. */
export const UnitsBasis = {
  /** DynamoDB's ConsumedCapacity for every call. */
  Reported: 'reported',
  /** Computed from item sizes for every call (DynamoDB sent no ConsumedCapacity). */
  Computed: 'computed',
  /** Some of each. */
  Mixed: 'mixed',
  /** Nothing was read. */
  None: 'none',
} as const;
export type UnitsBasis = (typeof UnitsBasis)[keyof typeof UnitsBasis];

export interface ReadUnitsFigures {
  /** Read units consumed: DynamoDB's figure where it sent one, the computed one elsewhere. */
  total: number;
  byTable: Record<string, number>;
  basis: UnitsBasis;
  /** The same reads computed from item sizes by the billing rules, whatever DynamoDB reported (a cross-check). */
  computed: number;
  requests: number;
}

/** The capacity one response reports for `table`, if it reports any. */
export function reportedUnits(
  consumed: ConsumedCapacity | readonly ConsumedCapacity[] | undefined,
  table: string,
): number | undefined {
  if (consumed === undefined) return undefined;
  const list: readonly ConsumedCapacity[] = Array.isArray(consumed)
    ? consumed
    : [consumed as ConsumedCapacity];
  const entry = list.find((c) => c.TableName === table);
  return entry?.CapacityUnits ?? entry?.ReadCapacityUnits ?? entry?.Table?.CapacityUnits;
}

/** Adds up the read units of one check or one invocation; `add` once per response. */
export class ReadMeter {
  private readonly byTable = new Map<string, number>();
  private computedTotal = 0;
  private reportedCalls = 0;
  private computedCalls = 0;

  private requests = 0;

  add(table: string, units: { reported: number | undefined; computed: number }): void {
    const used = units.reported ?? units.computed;
    this.byTable.set(table, (this.byTable.get(table) ?? 0) + used);
    this.computedTotal += units.computed;
    if (units.reported === undefined) this.computedCalls++;
    else this.reportedCalls++;
    this.requests++;
  }

  get total(): number {
    let sum = 0;
    for (const units of this.byTable.values()) sum += units;
    return sum;
  }

  basis(): UnitsBasis {
    if (this.reportedCalls === 0 && this.computedCalls === 0) return UnitsBasis.None;
    if (this.computedCalls === 0) return UnitsBasis.Reported;
    if (this.reportedCalls === 0) return UnitsBasis.Computed;
    return UnitsBasis.Mixed;
  }

  figures(): ReadUnitsFigures {
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      total: round(this.total),
      byTable: Object.fromEntries([...this.byTable].map(([table, units]) => [table, round(units)])),
      basis: this.basis(),
      computed: round(this.computedTotal),
      requests: this.requests,
    };
  }
}

/** Sums meters' figures (the segments of a full comparison). */
export function sumReadUnits(parts: readonly ReadUnitsFigures[]): ReadUnitsFigures {
  const byTable: Record<string, number> = {};
  let computed = 0;
  let requests = 0;
  const bases = new Set<UnitsBasis>();
  for (const part of parts) {
    for (const [table, units] of Object.entries(part.byTable)) byTable[table] = (byTable[table] ?? 0) + units;
    computed += part.computed;
    requests += part.requests;
    if (part.basis !== UnitsBasis.None) bases.add(part.basis);
  }
  const basis =
    bases.size === 0 ? UnitsBasis.None : bases.size === 1 ? ([...bases][0] as UnitsBasis) : UnitsBasis.Mixed;
  const round = (n: number) => Math.round(n * 100) / 100;
  const total = Object.values(byTable).reduce((a, b) => a + b, 0);
  return {
    total: round(total),
    byTable: Object.fromEntries(Object.entries(byTable).map(([t, u]) => [t, round(u)])),
    basis,
    computed: round(computed),
    requests,
  };
}
