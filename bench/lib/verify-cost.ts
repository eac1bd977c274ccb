/**
 * What a verification run costs, computed from DynamoDB's billing rules (core/tables/read-units.ts) rather than
 * measured: the scheduled sampled check at a read budget, and the on-demand full comparison, for a table of
 * N items of S bytes. The bench prints both next to what it measured on DynamoDB Local.
 */
import { mismatchRateUpperBound } from '../../core/verification/confidence.js';
import { DEFAULT_CLUSTER_ITEMS } from '../../core/verification/sampling.js';

/** On-demand read request units, us-east-1, standard table class (AWS price list since November 2024). */
export const USD_PER_MILLION_READ_UNITS = 0.125;
/** The verify schedule's default: every 5 minutes. */
export const RUNS_PER_MONTH = (30 * 24 * 60) / 5;
/** Bytes the workers add to a replica item (processed_by, _streamfleet_seq and their values, about). */
const BOOKKEEPING_BYTES = 64;

const blocks = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096));

export interface SampledRunCost {
  items: number;
  itemBytes: number;
  readBudget: number;
  /** Read units one run consumes (eventually consistent reads; no suspects to re-check). */
  readUnits: number;
  sourceCompared: number;
  replicaCompared: number;
  census: boolean;
  /** With no mismatch found: the mismatch rate is below this at 95 % confidence (0 for a census). */
  upperBound: number;
  usdPerRun: number;
  usdPerMonth: number;
}

/** One side of the sampled check: whole segments of ~25 items, each item looked up in the other table. */
function side(items: number, itemBytes: number, budget: number) {
  const lookup = 0.5 * blocks(itemBytes + BOOKKEEPING_BYTES);
  const cluster = Math.min(DEFAULT_CLUSTER_ITEMS, Math.max(1, items));
  const scan = 0.5 * blocks(cluster * itemBytes);
  const perCluster = scan + cluster * lookup;
  const clusters = Math.ceil(items / cluster);
  const census = clusters * perCluster <= budget;
  const affordable = census ? clusters : Math.floor(budget / perCluster);
  const compared = Math.min(items, affordable * cluster);
  return { compared, census, units: affordable * perCluster };
}

export function sampledRunCost(input: {
  items: number;
  itemBytes: number;
  readBudget: number;
}): SampledRunCost {
  const { items, itemBytes, readBudget } = input;
  const source = side(items, itemBytes, readBudget * 0.75);
  const replica = side(items, itemBytes + BOOKKEEPING_BYTES, readBudget - source.units);
  const readUnits = source.units + replica.units;
  const usdPerRun = (readUnits / 1e6) * USD_PER_MILLION_READ_UNITS;
  return {
    items,
    itemBytes,
    readBudget,
    readUnits,
    sourceCompared: source.compared,
    replicaCompared: replica.compared,
    census: source.census,
    upperBound: source.census ? 0 : mismatchRateUpperBound(source.compared, 0),
    usdPerRun,
    usdPerMonth: usdPerRun * RUNS_PER_MONTH,
  };
}

export interface FullComparisonCost {
  items: number;
  itemBytes: number;
  readUnits: number;
  usd: number;
}

/** Both tables scanned, every item looked up in the other table (all eventually consistent). */
export function fullComparisonCost(input: { items: number; itemBytes: number }): FullComparisonCost {
  const { items, itemBytes } = input;
  const replicaBytes = itemBytes + BOOKKEEPING_BYTES;
  const scans = 0.5 * ((items * itemBytes) / 4096 + (items * replicaBytes) / 4096);
  const lookups = items * 0.5 * (blocks(replicaBytes) + blocks(itemBytes));
  const readUnits = scans + lookups;
  return { items, itemBytes, readUnits, usd: (readUnits / 1e6) * USD_PER_MILLION_READ_UNITS };
}
