import type { Clock } from './clock.js';
import { isRetriableAwsError } from './errors.js';

export interface RetryPolicy {
  /** First delay; each retry doubles it up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts in all, the first included. `Infinity` retries until the signal aborts. */
  maxAttempts: number;
}

export const defaultRetryPolicy: RetryPolicy = { baseDelayMs: 100, maxDelayMs: 5_000, maxAttempts: 8 };

/** "Full jitter" backoff: a uniform draw in [0, min(max, base·2^attempt)]. */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

export interface RetryOptions {
  clock: Clock;
  policy?: RetryPolicy;
  signal?: AbortSignal;
  isRetriable?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
}

/**
 * Backoff for the items a batch call left unprocessed (BatchWriteItem's UnprocessedItems, BatchGetItem's
 * UnprocessedKeys): AWS asks for exponential backoff with jitter before sending them again.
 */
export const UNPROCESSED_ITEMS_BACKOFF: RetryPolicy = { baseDelayMs: 50, maxDelayMs: 2_000, maxAttempts: 10 };

/** Runs `operation`, retrying what is retriable with backoff and jitter; rethrows anything else at once. */
export async function retry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const policy = options.policy ?? defaultRetryPolicy;
  const isRetriable = options.isRetriable ?? isRetriableAwsError;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!isRetriable(error) || attempt + 1 >= policy.maxAttempts || options.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, policy, options.random);
      options.onRetry?.(error, attempt + 1, delay);
      await options.clock.sleep(delay, options.signal);
    }
  }
}
