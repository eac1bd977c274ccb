/** Small statistics helpers over core/vocabulary/stats.ts, with NaN for "no value" as the bench's tables print it. */
import { mean as coreMean, percentile as corePercentile } from '../../core/vocabulary/stats.js';

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** The p-th percentile (core/vocabulary/stats.ts: linear interpolation); NaN when there is no finite value. */
export function percentile(values: readonly number[], p: number): number {
  return corePercentile(values, p) ?? Number.NaN;
}

export function mean(values: readonly number[]): number {
  return coreMean(values) ?? Number.NaN;
}

export function round(value: number, digits = 0): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Median of each numeric field over several runs (fields missing in a run are skipped). */
export function medianOf<T extends Record<string, number>>(runs: readonly T[]): T {
  const keys = new Set(runs.flatMap((run) => Object.keys(run)));
  const out: Record<string, number> = {};
  for (const key of keys) out[key] = median(runs.map((run) => run[key] ?? Number.NaN));
  return out as T;
}
