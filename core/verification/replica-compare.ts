/**
 * The comparison both replication checks share. A batch of items read from one table is looked up by key in
 * the other (eventually consistent, half price); a pair that disagrees becomes a suspect. Suspects are read
 * again later, strongly consistent, from both tables, and only then counted (see `recheckOutcome`).
 *
 * Each direction counts its own kind: from the source side, items missing from the replica or differing;
 * from the replica side, replica items without a source item (extra). What the other direction would count
 * is a change in flight when seen from this one (a source item created or deleted between the two reads).
 */

import { ReadConsistency } from '../tables/read-units.js';
import type { TableKey } from '../tables/tables.js';
import { stableText } from '../vocabulary/stable-text.js';
import {
  emptyTally,
  type Item,
  keepExample,
  keyOf,
  keyText,
  Mismatch,
  mismatchOf,
  REPLICA_BOOKKEEPING,
  RecheckOutcome,
  type RecheckTally,
  recheckOutcome,
  type Suspect,
  suspect,
} from './item-compare.js';
import { getByKeys, type ReadContext } from './replica-reads.js';

export const Side = { Source: 'source', Replica: 'replica' } as const;
export type Side = (typeof Side)[keyof typeof Side];

export interface ComparedTables {
  key: TableKey;
  sourceTable: string;
  replicaTable: string;
}

export interface BatchComparison {
  compared: number;
  /** Matching replica items per `processed_by` worker (source side only). */
  processedBy: Record<string, number>;
  suspects: Suspect[];
}

/** Looks `items` (read from `side`'s table) up in the other table and keeps the pairs that disagree. */
export async function compareBatch(
  ctx: ReadContext,
  tables: ComparedTables,
  side: Side,
  items: readonly Item[],
): Promise<BatchComparison> {
  const other = side === Side.Source ? tables.replicaTable : tables.sourceTable;
  const found = await getByKeys(ctx, {
    table: other,
    key: tables.key,
    keys: items.map((item) => keyOf(item, tables.key)),
    consistency: ReadConsistency.Eventual,
  });
  const processedBy: Record<string, number> = {};
  const suspects: Suspect[] = [];
  for (const item of items) {
    const key = keyOf(item, tables.key);
    const counterpart = found.get(stableText(key));
    if (side === Side.Source) {
      const seen = mismatchOf(item, counterpart);
      if (seen !== undefined) suspects.push(suspect(key, seen, item, counterpart));
      else {
        const by = counterpart?.[REPLICA_BOOKKEEPING.processedBy]?.S ?? '(none)';
        processedBy[by] = (processedBy[by] ?? 0) + 1;
      }
    } else if (counterpart === undefined) {
      // Presence only: a differing pair is the source side's to find.
      suspects.push(suspect(key, Mismatch.Extra, undefined, item));
    }
  }
  return { compared: items.length, processedBy, suspects };
}

/** The kinds each side counts; anything else it sees on the re-check is a change in flight. */
const COUNTED: Record<Side, readonly Mismatch[]> = {
  [Side.Source]: [Mismatch.Missing, Mismatch.Differing],
  [Side.Replica]: [Mismatch.Extra],
};

/** Reads every suspect again from both tables, strongly consistent, and counts what still disagrees. */
export async function recheckSuspects(
  ctx: ReadContext,
  tables: ComparedTables,
  side: Side,
  suspects: readonly Suspect[],
  maxExamples: number,
): Promise<RecheckTally> {
  const tally = emptyTally();
  tally.suspects = suspects.length;
  if (suspects.length === 0) return tally;
  const keys = suspects.map((s) => s.key);
  const read = (table: string) =>
    getByKeys(ctx, { table, key: tables.key, keys, consistency: ReadConsistency.Strong });
  const [source, replica] = await Promise.all([read(tables.sourceTable), read(tables.replicaTable)]);
  for (const s of suspects) {
    const id = stableText(s.key);
    const outcome = recheckOutcome(s, source.get(id), replica.get(id));
    if (outcome === RecheckOutcome.Settled) tally.settled++;
    else if (outcome === RecheckOutcome.InFlight || !COUNTED[side].includes(outcome)) tally.inFlight++;
    else {
      tally[outcome]++;
      keepExample(tally.examples[outcome], keyText(s.key, tables.key), maxExamples);
    }
  }
  return tally;
}
