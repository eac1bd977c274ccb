/**
 * Percentiles and means, one definition for the local report and the bench (they used to disagree on p99).
 * Percentiles interpolate linearly between the closest ranks (numpy's default, R's type 7): p50 of [1, 2] is 1.5.
 */

/** The p-th percentile (0..100) of the finite values; undefined when there is none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const a = sorted[low] as number;
  const b = sorted[Math.ceil(rank)] as number;
  return a + (b - a) * (rank - low);
}

/** The mean of the finite values; undefined when there is none. */
export function mean(values: readonly number[]): number | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length === 0 ? undefined : finite.reduce((a, b) => a + b, 0) / finite.length;
}
