/**
 * What a sample of compared items says about the whole table: the exact (Clopper–Pearson) one-sided upper
 * confidence bound of the mismatch rate, computed from the binomial distribution rather than read from a
 * table. With 0 mismatches in n items it is 1 − (1 − c)^(1/n), which the "rule of three" approximates as 3/n
 * at 95 %. Sampling without replacement from a finite table is never less informative than the binomial
 * model assumes, so the bound is conservative; a census (every item compared) needs no bound at all.
 * Pure: no I/O.
 */

/** The confidence every verdict states. */
export const CONFIDENCE = 0.95;

/** log P(X ≤ k) for X ~ Binomial(n, p), summed in log space so large n neither underflows nor overflows. */
function logBinomialCdf(n: number, k: number, p: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return k >= n ? 0 : Number.NEGATIVE_INFINITY;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  let logTerm = n * logQ; // i = 0
  let logSum = logTerm;
  for (let i = 0; i < k; i++) {
    logTerm += Math.log(n - i) - Math.log(i + 1) + logP - logQ;
    const hi = Math.max(logSum, logTerm);
    logSum = hi + Math.log(Math.exp(logSum - hi) + Math.exp(logTerm - hi));
  }
  return Math.min(0, logSum);
}

/**
 * The smallest rate p such that seeing at most `mismatches` in `compared` independent draws would happen with
 * probability no more than 1 − confidence: the exact one-sided upper bound. 1 when nothing was compared.
 */
export function mismatchRateUpperBound(
  compared: number,
  mismatches: number,
  confidence = CONFIDENCE,
): number {
  if (!(confidence > 0 && confidence < 1))
    throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  if (!Number.isInteger(compared) || compared < 0 || !Number.isInteger(mismatches) || mismatches < 0) {
    throw new RangeError(`compared and mismatches must be whole numbers ≥ 0, got ${compared}, ${mismatches}`);
  }
  if (compared === 0 || mismatches >= compared) return 1;
  const alpha = 1 - confidence;
  if (mismatches === 0) return -Math.expm1(Math.log(alpha) / compared);
  // P(X ≤ k; n, p) falls as p grows: bisect for the p where it equals alpha.
  const target = Math.log(alpha);
  let lo = mismatches / compared;
  let hi = 1;
  for (let i = 0; i < 100 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (logBinomialCdf(compared, mismatches, mid) > target) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Chance that `compared` independent draws from a table with mismatch rate `rate` include at least one. */
export function detectionProbability(compared: number, rate: number): number {
  if (rate <= 0) return 0;
  if (rate >= 1) return compared > 0 ? 1 : 0;
  return -Math.expm1(compared * Math.log1p(-rate));
}

/**
 * The same without replacement: `compared` distinct items drawn at random from `population`, `planted` of
 * which differ (1 − C(N − k, n) / C(N, n)).
 */
export function detectionProbabilityWithoutReplacement(
  population: number,
  planted: number,
  compared: number,
): number {
  if (planted <= 0 || compared <= 0) return 0;
  if (compared > population - planted) return 1;
  let logMiss = 0;
  for (let i = 0; i < compared; i++) logMiss += Math.log(population - planted - i) - Math.log(population - i);
  return -Math.expm1(logMiss);
}

export interface ConfidenceStatement {
  compared: number;
  mismatches: number;
  /** Every item of the table was compared: the rate is known, not bounded. */
  census: boolean;
  confidence: number;
  /** Upper bound of the mismatch rate, 0..1 (the observed rate itself for a census). */
  upperBound: number;
  /** "n items compared; with k mismatches the mismatch rate is below x % at 95 % confidence". */
  text: string;
}

/** A percentage with three significant digits, rounded up (a stated bound must never shrink in print). */
export function formatPercent(rate: number): string {
  const percent = rate * 100;
  if (!(percent > 0)) return '0';
  const step = 10 ** (Math.floor(Math.log10(percent)) - 2);
  // The small epsilon keeps an exact value such as 95 from being pushed up by floating-point noise.
  const rounded = Math.ceil(percent / step - 1e-9) * step;
  return Number(rounded.toPrecision(3)).toString();
}

export function confidenceStatement(input: {
  compared: number;
  mismatches: number;
  census: boolean;
  confidence?: number;
  /** What was compared, e.g. "source items" (default "items"). */
  noun?: string;
}): ConfidenceStatement {
  const confidence = input.confidence ?? CONFIDENCE;
  const noun = input.noun ?? 'items';
  const { compared, mismatches, census } = input;
  // A census knows the rate (an empty table's is 0); a sample bounds it.
  const upperBound = census
    ? compared > 0
      ? mismatches / compared
      : 0
    : mismatchRateUpperBound(compared, mismatches, confidence);
  const text = census
    ? `every one of the ${compared} ${noun} compared; ${mismatches} mismatched (${formatPercent(upperBound)} %)`
    : `${compared} ${noun} compared; with ${mismatches} mismatch${mismatches === 1 ? '' : 'es'} the mismatch rate is below ${formatPercent(upperBound)} % at ${formatPercent(confidence)} % confidence`;
  return { compared, mismatches, census, confidence, upperBound, text };
}
