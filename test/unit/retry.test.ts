import { describe, expect, it } from 'vitest';
import { isRetriableAwsError, ResourceError } from '../../core/vocabulary/errors.js';
import { backoffDelay, retry } from '../../core/vocabulary/retry.js';
import { FakeClock } from '../support/fake-clock.js';

describe('retry with backoff and jitter', () => {
  it('draws each delay uniformly below an exponentially growing, capped ceiling', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 5_000, maxAttempts: 10 };
    expect(backoffDelay(0, policy, () => 0.999)).toBe(99);
    expect(backoffDelay(3, policy, () => 0.999)).toBe(799);
    expect(backoffDelay(20, policy, () => 0.999)).toBe(4_995);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
  });

  it('retries what AWS calls retriable and gives up on anything else at once', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const throttled = Object.assign(new Error('slow down'), {
      name: 'ProvisionedThroughputExceededException',
    });
    const result = retry(
      async () => {
        calls++;
        if (calls < 3) throw throttled;
        return 'ok';
      },
      { clock, random: () => 0.5 },
    );
    await clock.advance(1_000);
    expect(await result).toBe('ok');
    expect(calls).toBe(3);

    calls = 0;
    const validation = Object.assign(new Error('bad'), { name: 'ValidationException' });
    await expect(
      retry(
        async () => {
          calls++;
          throw validation;
        },
        { clock },
      ),
    ).rejects.toBe(validation);
    expect(calls).toBe(1);
  });

  it('classifies AWS and network errors', () => {
    expect(isRetriableAwsError(Object.assign(new Error(), { name: 'ThrottlingException' }))).toBe(true);
    expect(isRetriableAwsError(Object.assign(new Error(), { $metadata: { httpStatusCode: 503 } }))).toBe(
      true,
    );
    expect(isRetriableAwsError(Object.assign(new Error(), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetriableAwsError(Object.assign(new Error(), { name: 'ConditionalCheckFailedException' }))).toBe(
      false,
    );
    expect(isRetriableAwsError(new ResourceError('gone'))).toBe(false);
  });
});
