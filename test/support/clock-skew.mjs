/**
 * TEST FIXTURE — a wrong wall clock for one process: `NODE_OPTIONS=--import=<this file>` with
 * `STREAMFLEET_TEST_CLOCK_SKEW_MS=<signed milliseconds>` shifts `Date.now()`, `new Date()` and
 * `performance.timeOrigin` (hence `performance.timeOrigin + performance.now()`, the worker's clock) by that
 * much, as a host whose clock is hours off would. Durations (differences) are unchanged, as they are on such a
 * host. Plain JavaScript so that Node.js can preload it without a compiler.
 */
const skew = Number(process.env.STREAMFLEET_TEST_CLOCK_SKEW_MS ?? '0');

if (Number.isFinite(skew) && skew !== 0) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + skew);
      else super(...args);
    }
    static now() {
      return realNow() + skew;
    }
  }
  globalThis.Date = SkewedDate;
  const origin = performance.timeOrigin + skew;
  Object.defineProperty(performance, 'timeOrigin', { value: origin, configurable: true });
  process.env.STREAMFLEET_TEST_CLOCK_SKEWED = String(skew);
}
