/**
 * Source item against replica item, by key: what counts as the same (the replica is the source's image plus
 * the workers' bookkeeping attributes), what kind of mismatch a pair is, and — after a second, strongly
 * consistent read some seconds later — whether a mismatch was only a change in flight. Keys travel through
 * Step Functions as JSON (`encodeKey` / `decodeKey`, binaries in base64). Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { TableKey } from '../tables/tables.js';

export type Item = Record<string, AttributeValue>;

import { REPLICA_BOOKKEEPING } from '../vocabulary/replica-item.js';
import { stableText } from '../vocabulary/stable-text.js';

export { REPLICA_BOOKKEEPING };

export const Mismatch = { Missing: 'missing', Differing: 'differing', Extra: 'extra' } as const;
export type Mismatch = (typeof Mismatch)[keyof typeof Mismatch];

/** What a comparison of source and replica found, sampled or full: the counts both checks report. */
export interface MismatchCounts {
  /** Source items read (the sample, or every item of the segments done). */
  sourceItems: number;
  /** Replica items read and looked up in the source. */
  replicaItems: number;
  compared: number;
  missing: number;
  differing: number;
  /** Replica items whose key is not in the source. */
  extra: number;
  /** Mismatches on the first read that agreed when read again (not counted). */
  settled: number;
  /** Mismatches on the first read whose replica was being written when read again (not counted). */
  inFlight: number;
}

export function keyOf(item: Item, key: TableKey): Item {
  const out: Item = {};
  for (const k of [key.partitionKey, ...(key.sortKey ? [key.sortKey] : [])]) {
    const value = item[k.name];
    if (value !== undefined) out[k.name] = value;
  }
  return out;
}

/** The key as the text verdicts show and maps are keyed by. */
export function keyText(item: Item, key: TableKey): string {
  return stableText(keyOf(item, key));
}

export function withoutBookkeeping(item: Item): Item {
  const copy = { ...item };
  delete copy[REPLICA_BOOKKEEPING.processedBy];
  delete copy[REPLICA_BOOKKEEPING.sequence];
  return copy;
}

/** What a source and replica image of one key say: undefined when they agree (both absent counts). */
export function mismatchOf(source: Item | undefined, replica: Item | undefined): Mismatch | undefined {
  if (source === undefined) return replica === undefined ? undefined : Mismatch.Extra;
  if (replica === undefined) return Mismatch.Missing;
  return stableText(withoutBookkeeping(replica)) === stableText(source) ? undefined : Mismatch.Differing;
}

/** A short fingerprint of an image (or of its absence), so a suspect keeps a few bytes, not the item. */
export function digest(item: Item | undefined): string {
  if (item === undefined) return '-';
  return createHash('sha1').update(stableText(item)).digest('base64');
}

/** A mismatch seen on the first read, waiting for its re-check. */
export interface Suspect {
  key: Item;
  seen: Mismatch;
  source: string;
  replica: string;
}

export function suspect(
  key: Item,
  seen: Mismatch,
  source: Item | undefined,
  replica: Item | undefined,
): Suspect {
  return { key, seen, source: digest(source), replica: digest(replica) };
}

export const RecheckOutcome = {
  /** Source and replica agree now: the first read caught a change the fleet had not applied yet. */
  Settled: 'settled',
  /** The replica changed between the two reads: the fleet is applying changes to this item right now. */
  InFlight: 'in-flight',
  ...Mismatch,
} as const;
export type RecheckOutcome = (typeof RecheckOutcome)[keyof typeof RecheckOutcome];

/**
 * The verdict on a suspect from its second read. It counts as a mismatch only when the two still disagree
 * and the replica did not move between the reads: a replica that moved is being written by the fleet (a
 * change in flight), and one that did not is stuck on a wrong image.
 */
export function recheckOutcome(
  first: Suspect,
  source: Item | undefined,
  replica: Item | undefined,
): RecheckOutcome {
  const now = mismatchOf(source, replica);
  if (now === undefined) return RecheckOutcome.Settled;
  if (digest(replica) !== first.replica) return RecheckOutcome.InFlight;
  return now;
}

/** A key as JSON that survives Step Functions (binaries as base64 under `B64`). */
export type EncodedKey = Record<string, { S: string } | { N: string } | { B64: string }>;

export function encodeKey(key: Item): EncodedKey {
  const out: EncodedKey = {};
  for (const [name, value] of Object.entries(key)) {
    if (value.S !== undefined) out[name] = { S: value.S };
    else if (value.N !== undefined) out[name] = { N: value.N };
    else if (value.B !== undefined) out[name] = { B64: Buffer.from(value.B).toString('base64') };
  }
  return out;
}

export function decodeKey(key: EncodedKey): Item {
  const out: Item = {};
  for (const [name, value] of Object.entries(key)) {
    if ('S' in value) out[name] = { S: value.S };
    else if ('N' in value) out[name] = { N: value.N };
    else out[name] = { B: new Uint8Array(Buffer.from(value.B64, 'base64')) };
  }
  return out;
}

/** Appends while fewer than `max` are kept (examples in verdicts stay small). */
export function keepExample(list: string[], example: string, max: number): void {
  if (list.length < max) list.push(example);
}

export interface RecheckTally {
  suspects: number;
  settled: number;
  inFlight: number;
  missing: number;
  differing: number;
  extra: number;
  examples: { missing: string[]; differing: string[]; extra: string[] };
}

export function emptyTally(): RecheckTally {
  return {
    suspects: 0,
    settled: 0,
    inFlight: 0,
    missing: 0,
    differing: 0,
    extra: 0,
    examples: { missing: [], differing: [], extra: [] },
  };
}

/** Adds `more` into `into` (examples capped at `maxExamples` per kind). */
export function addTally(into: RecheckTally, more: RecheckTally, maxExamples: number): void {
  into.suspects += more.suspects;
  into.settled += more.settled;
  into.inFlight += more.inFlight;
  for (const kind of Object.values(Mismatch)) {
    into[kind] += more[kind];
    for (const example of more.examples[kind]) keepExample(into.examples[kind], example, maxExamples);
  }
}

export function addCounts(into: Record<string, number>, more: Record<string, number>): void {
  for (const [name, count] of Object.entries(more)) into[name] = (into[name] ?? 0) + count;
}
