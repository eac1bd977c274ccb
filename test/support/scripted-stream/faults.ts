/**
 * TEST FIXTURE — scripted faults of the scripted DynamoDB Streams endpoint: queued failures,
 * throttling and inconsistent listings, each for a number of calls or for a span of time.
 */
import { type Operation, StreamsApiError, type StreamsErrorName } from './protocol.js';

/** How long a fault lasts: for the next `calls` affected calls, or for `forMs` milliseconds from now. */
export type FaultWindow = { readonly calls: number } | { readonly forMs: number };

class ActiveWindow {
  private remaining: number;
  private readonly until: number;

  constructor(window: FaultWindow, now: number) {
    this.remaining = 'calls' in window ? window.calls : Number.POSITIVE_INFINITY;
    this.until = 'forMs' in window ? now + window.forMs : Number.POSITIVE_INFINITY;
  }

  /** Uses up one call when the window is still open; false once it has closed. */
  take(now: number): boolean {
    if (this.closed(now)) return false;
    this.remaining -= 1;
    return true;
  }

  closed(now: number): boolean {
    return this.remaining <= 0 || now >= this.until;
  }
}

interface Scoped {
  readonly window: ActiveWindow;
  readonly operations: readonly Operation[] | undefined;
  readonly error: StreamsErrorName;
  readonly message: string;
}

export class Faults {
  private scoped: Scoped[] = [];
  private listing: ActiveWindow | undefined;

  constructor(private readonly now: () => number) {}

  failNext(count: number, error: StreamsErrorName, operations?: readonly Operation[]): void {
    const message = error === 'InternalServerError' ? 'Internal server error' : `Scripted ${error}`;
    this.add({ calls: count }, error, message, operations);
  }

  throttle(window: FaultWindow, operations?: readonly Operation[]): void {
    this.add(window, 'LimitExceededException', 'Rate exceeded for shard', operations);
  }

  inconsistentListing(window: FaultWindow): void {
    this.listing = new ActiveWindow(window, this.now());
  }

  /** The error a call to `operation` answers instead of running, if any; the oldest fault first. */
  before(operation: Operation): StreamsApiError | undefined {
    const now = this.now();
    this.scoped = this.scoped.filter((fault) => !fault.window.closed(now));
    for (const fault of this.scoped) {
      if (fault.operations && !fault.operations.includes(operation)) continue;
      if (fault.window.take(now)) return new StreamsApiError(fault.error, fault.message);
    }
    return undefined;
  }

  /** Whether this DescribeStream call should hide new child shards (uses up one call). */
  listingInconsistent(): boolean {
    return this.listing?.take(this.now()) ?? false;
  }

  private add(
    window: FaultWindow,
    error: StreamsErrorName,
    message: string,
    operations: readonly Operation[] | undefined,
  ): void {
    this.scoped.push({ window: new ActiveWindow(window, this.now()), operations, error, message });
  }
}
