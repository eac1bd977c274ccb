/**
 * Rule 2, DynamoDB Streams read limits, as pure logic over an injectable clock.
 *
 * - GetRecords: at most `getRecordsPerShardPerSecond` (default 5) accepted calls per shard in any sliding
 *   1,000 ms window; refused calls do not count. AWS documents the limit for Kinesis (5 reads a second per
 *   shard) and users see DynamoDB Streams answer "Rate exceeded" at about that rate.
 * - Readers: the DynamoDB Streams API reference lists `LimitExceededException` for "more than 2 processes
 *   reading from the same streams shard at the same time". A reader is one iterator chain: started by a
 *   GetShardIterator, continued by each `NextShardIterator`. A chain is active from its GetShardIterator
 *   until `readerIdleMs` (default 1,000) after its latest GetRecords; a GetRecords from a chain while
 *   `readersPerShard` (default 2) other chains of the shard are active is refused. A chain that starts
 *   while the shard already has that many active readers is not active until a GetRecords of it is let
 *   through, so established readers are never refused because a third one asked for an iterator. A chain
 *   ends at once when its shard has ended (an answer without `NextShardIterator`) or its iterator is dead
 *   (ExpiredIterator, TrimmedDataAccess, ResourceNotFound): it can never read again. A reader refused for
 *   the rate (not for readers) stays active: it is one of the shard's readers, being throttled.
 * - DescribeStream: at most `describeStreamPerSecond` (default 10) per stream ARN in any sliding 1,000 ms
 *   window. AWS may count it per account; per stream keeps test files that share one layer independent.
 *
 * Iterators are tied to shards as `shard-iterators.ts` explains. State that nothing can use any more
 * (chains idle for longer than an iterator lives, 15 minutes; empty windows) is swept as time goes by.
 */
import { type ShardRef, shardKey, shardOfIterator } from './shard-iterators.js';
import type { RuleSwitches } from './switches.js';

/** Milliseconds; only differences matter. */
export interface RulesClock {
  now(): number;
}

export const systemRulesClock: RulesClock = { now: () => performance.timeOrigin + performance.now() };

export interface StreamLimitsConfig {
  readonly getRecordsPerShardPerSecond: number;
  readonly describeStreamPerSecond: number;
  readonly readersPerShard: number;
  readonly readerIdleMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimitsConfig = Object.freeze({
  getRecordsPerShardPerSecond: 5,
  describeStreamPerSecond: 10,
  readersPerShard: 2,
  readerIdleMs: 1_000,
});

export type StreamSwitches = Pick<RuleSwitches, 'getRecordsRate' | 'readersPerShard' | 'describeStreamRate'>;

const WINDOW_MS = 1_000;
/** AWS shard iterators expire 15 minutes after they are issued. */
const ITERATOR_LIFETIME_MS = 15 * 60_000;
const SWEEP_EVERY_MS = 10_000;
/** Iterators remembered per chain: the latest, and a few before it that a retry may reuse. */
const ITERATORS_PER_CHAIN = 4;

/** Calls in a sliding window: a call at `t` counts until (not at) `t + windowMs`. */
export class SlidingWindow {
  private readonly stamps: number[] = [];

  constructor(
    readonly limit: number,
    readonly windowMs: number = WINDOW_MS,
  ) {}

  /** Counts a call at `now` unless `limit` calls were counted in the last `windowMs`. */
  tryTake(now: number): boolean {
    this.prune(now);
    if (this.stamps.length >= this.limit) return false;
    this.stamps.push(now);
    return true;
  }

  count(now: number): number {
    this.prune(now);
    return this.stamps.length;
  }

  private prune(now: number): void {
    const horizon = now - this.windowMs;
    while (this.stamps.length > 0 && (this.stamps[0] ?? 0) <= horizon) this.stamps.shift();
  }
}

export type GetRecordsVerdict =
  | { readonly kind: 'accepted'; readonly shard: ShardRef }
  | {
      readonly kind: 'refused';
      readonly rule: 'getRecordsRate' | 'readersPerShard';
      readonly shard: ShardRef;
      /** Other active readers of the shard when refused. */
      readonly otherReaders: number;
    }
  /** Nothing tells which shard the iterator reads: let through, not limited. */
  | { readonly kind: 'unattributed' };

interface Chain {
  readonly shard: ShardState;
  readonly startedAt: number;
  /** Undefined while the chain has never been let through. */
  lastActive: number | undefined;
  readonly iterators: string[];
}

interface ShardState {
  readonly key: string;
  readonly ref: ShardRef;
  readonly chains: Set<Chain>;
  readonly reads: SlidingWindow;
}

export class StreamLimits {
  private readonly shards = new Map<string, ShardState>();
  private readonly chainsByIterator = new Map<string, Chain>();
  private readonly describeWindows = new Map<string, SlidingWindow>();
  private lastSweep: number;

  constructor(
    readonly config: StreamLimitsConfig = DEFAULT_STREAM_LIMITS,
    private readonly clock: RulesClock = systemRulesClock,
    private readonly attribute: (iterator: string) => ShardRef | undefined = shardOfIterator,
  ) {
    this.lastSweep = clock.now();
  }

  /** A GetShardIterator for `shard` was answered with `iterator`: a new reader chain starts. */
  iteratorIssued(shard: ShardRef, iterator: string): void {
    const now = this.tick();
    const chain = this.startChain(this.shardState(shard), iterator, now);
    if (this.otherActiveReaders(chain, now) < this.config.readersPerShard) chain.lastActive = now;
  }

  /** Decides one GetRecords call. */
  getRecords(iterator: string, switches: StreamSwitches): GetRecordsVerdict {
    const now = this.tick();
    let chain = this.chainsByIterator.get(iterator);
    if (!chain) {
      const ref = this.attribute(iterator);
      if (!ref) return { kind: 'unattributed' };
      chain = this.startChain(this.shardState(ref), iterator, now);
    }
    const { shard } = chain;
    if (switches.readersPerShard) {
      const others = this.otherActiveReaders(chain, now);
      if (others >= this.config.readersPerShard) {
        return { kind: 'refused', rule: 'readersPerShard', shard: shard.ref, otherReaders: others };
      }
    }
    chain.lastActive = now;
    if (switches.getRecordsRate && !shard.reads.tryTake(now)) {
      return {
        kind: 'refused',
        rule: 'getRecordsRate',
        shard: shard.ref,
        otherReaders: this.otherActiveReaders(chain, now),
      };
    }
    return { kind: 'accepted', shard: shard.ref };
  }

  /**
   * A GetRecords with `iterator` was answered. `next` continues its chain; undefined ends it (the shard
   * has ended, or the iterator is dead).
   */
  getRecordsAnswered(iterator: string, next: string | undefined): void {
    const now = this.tick();
    const chain = this.chainsByIterator.get(iterator);
    if (!chain) return;
    if (next === undefined) {
      this.endChain(chain);
      return;
    }
    chain.lastActive = now;
    this.remember(chain, next);
  }

  /** Decides one DescribeStream call. */
  describeStream(streamArn: string, switches: StreamSwitches): boolean {
    const now = this.tick();
    if (!switches.describeStreamRate) return true;
    let window = this.describeWindows.get(streamArn);
    if (!window) {
      window = new SlidingWindow(this.config.describeStreamPerSecond);
      this.describeWindows.set(streamArn, window);
    }
    return window.tryTake(now);
  }

  /** The limits' clock, for counters that should move with it. */
  now(): number {
    return this.clock.now();
  }

  /** Active reader chains of a shard now. */
  activeReaders(shard: ShardRef): number {
    const state = this.shards.get(shardKey(shard));
    if (!state) return 0;
    const now = this.clock.now();
    let active = 0;
    for (const chain of state.chains) if (this.isActive(chain, now)) active += 1;
    return active;
  }

  /** The shard an iterator reads, as far as the layer knows. */
  shardOf(iterator: string): ShardRef | undefined {
    return this.chainsByIterator.get(iterator)?.shard.ref ?? this.attribute(iterator);
  }

  /** Sizes of the state, to check that sweeping keeps it bounded. */
  size(): { shards: number; iterators: number; describeWindows: number } {
    return {
      shards: this.shards.size,
      iterators: this.chainsByIterator.size,
      describeWindows: this.describeWindows.size,
    };
  }

  private tick(): number {
    const now = this.clock.now();
    if (now - this.lastSweep >= SWEEP_EVERY_MS) this.sweep(now);
    return now;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, shard] of this.shards) {
      for (const chain of shard.chains) {
        if ((chain.lastActive ?? chain.startedAt) + ITERATOR_LIFETIME_MS <= now) this.endChain(chain);
      }
      if (shard.chains.size === 0 && shard.reads.count(now) === 0) this.shards.delete(key);
    }
    for (const [arn, window] of this.describeWindows) {
      if (window.count(now) === 0) this.describeWindows.delete(arn);
    }
  }

  private shardState(ref: ShardRef): ShardState {
    const key = shardKey(ref);
    let state = this.shards.get(key);
    if (!state) {
      state = {
        key,
        ref,
        chains: new Set(),
        reads: new SlidingWindow(this.config.getRecordsPerShardPerSecond),
      };
      this.shards.set(key, state);
    }
    return state;
  }

  private startChain(shard: ShardState, iterator: string, now: number): Chain {
    const chain: Chain = { shard, startedAt: now, lastActive: undefined, iterators: [] };
    shard.chains.add(chain);
    this.remember(chain, iterator);
    return chain;
  }

  private remember(chain: Chain, iterator: string): void {
    const previous = this.chainsByIterator.get(iterator);
    if (previous === chain) return;
    this.chainsByIterator.set(iterator, chain);
    chain.iterators.push(iterator);
    if (chain.iterators.length > ITERATORS_PER_CHAIN) {
      const oldest = chain.iterators.shift();
      if (oldest !== undefined && this.chainsByIterator.get(oldest) === chain)
        this.chainsByIterator.delete(oldest);
    }
  }

  private endChain(chain: Chain): void {
    chain.shard.chains.delete(chain);
    for (const iterator of chain.iterators) {
      if (this.chainsByIterator.get(iterator) === chain) this.chainsByIterator.delete(iterator);
    }
  }

  private isActive(chain: Chain, now: number): boolean {
    return chain.lastActive !== undefined && now < chain.lastActive + this.config.readerIdleMs;
  }

  private otherActiveReaders(chain: Chain, now: number): number {
    let active = 0;
    for (const other of chain.shard.chains) if (other !== chain && this.isActive(other, now)) active += 1;
    return active;
  }
}
