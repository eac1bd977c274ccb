/**
 * Counters of the strict layer: every request it saw, everything it refused (by rule, with the table,
 * shard, stream, or principal, action and resource), what happened to the transactions it let through, and
 * what each registered principal was allowed to do. Plain numbers in plain
 * objects, so a snapshot crosses HTTP as JSON unchanged.
 */
import type { RuleSwitches } from './switches.js';

export interface TransactionConflictRefusals {
  /** TransactWriteItems answered TransactionCanceledException (reason TransactionConflict). */
  readonly cancelledTransactions: number;
  /** PutItem/UpdateItem/DeleteItem answered TransactionConflictException. */
  readonly refusedSingleWrites: number;
  /** Per table of a conflicting item (a transaction spanning two tables counts once in each). */
  readonly byTable: Readonly<
    Record<string, { readonly cancelledTransactions: number; readonly refusedSingleWrites: number }>
  >;
}

export interface CountByShard {
  readonly total: number;
  /** Keyed by shard id. */
  readonly byShard: Readonly<Record<string, number>>;
}

export interface CountByTable {
  readonly total: number;
  /** Keyed by table name. */
  readonly byTable: Readonly<Record<string, number>>;
}

export interface CountByStream {
  readonly total: number;
  /** Keyed by stream ARN. */
  readonly byStream: Readonly<Record<string, number>>;
}

/** Requests counted by principal (role ARN), then IAM action, then resource ARN. */
export type CountByPrincipal = Readonly<
  Record<string, Readonly<Record<string, Readonly<Record<string, number>>>>>
>;

/** One refusal of the IAM rule, as AWS worded it. */
export interface IamRefusal {
  /** The caller: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`. */
  readonly principal: string;
  readonly roleArn: string;
  readonly action: string;
  readonly resource: string;
  readonly decision: 'explicit-deny' | 'implicit-deny';
  /** The AccessDeniedException message sent. */
  readonly message: string;
}

export interface IamRefusals {
  readonly total: number;
  /** Per authorization refused (a refused request counts once, on the authorization that refused it). */
  readonly byPrincipal: CountByPrincipal;
  /** The latest refusals, oldest first (at most {@link RECENT_IAM_REFUSALS}). */
  readonly recent: readonly IamRefusal[];
}

export const RECENT_IAM_REFUSALS = 20;

export interface AwsRulesStats {
  /** Epoch milliseconds of the start or the last reset. */
  readonly since: number;
  /** The switches as they are now. */
  readonly rules: RuleSwitches;
  readonly requests: {
    readonly total: number;
    /** By X-Amz-Target operation (`PutItem`, `GetRecords`, ...; `(none)` without one). */
    readonly byOperation: Readonly<Record<string, number>>;
    /** By the tables a request names (a stream's table for Streams requests that name it). */
    readonly byTable: Readonly<Record<string, number>>;
  };
  readonly transactions: {
    /** Forwarded TransactWriteItems that DynamoDB Local answered 200 (counted with the rule off too). */
    readonly committed: number;
    /** Forwarded ones it answered otherwise (a failed condition, a validation error). */
    readonly failedUpstream: number;
    /** Let through without modelling: the body or a table's key schema could not be read. */
    readonly unmodelled: number;
  };
  readonly refused: {
    readonly total: number;
    readonly transactionConflicts: TransactionConflictRefusals;
    readonly getRecordsRate: CountByShard;
    readonly readersPerShard: CountByShard;
    readonly describeStreamRate: CountByStream;
    /** UpdateTable answered ResourceInUseException: another UpdateTable of the table was in flight. */
    readonly tableUpdates: CountByTable;
    readonly iam: IamRefusals;
  };
  readonly iam: {
    /** Requests signed by registered credentials and judged (with the rule on). */
    readonly judged: number;
    /** Authorizations allowed, by principal, action and resource: what each principal used. */
    readonly allowed: CountByPrincipal;
    /** Requests of registered principals whose action or resource could not be told (let through). */
    readonly unjudged: number;
    /** Requests signed by credentials nobody registered (test clients, the bench's load): not checked. */
    readonly unchecked: number;
  };
  readonly streams: {
    /** GetRecords let through, by shard id. */
    readonly getRecordsByShard: Readonly<Record<string, number>>;
    /** Most GetRecords let through on a shard within any 1,000 ms, by shard id. */
    readonly peakGetRecordsPerSecondByShard: Readonly<Record<string, number>>;
    /** GetRecords whose iterator could not be tied to a shard (let through, not limited). */
    readonly unattributedGetRecords: number;
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function bump(record: Record<string, number>, key: string, by = 1): void {
  record[key] = (record[key] ?? 0) + by;
}

type MutableByPrincipal = Record<string, Record<string, Record<string, number>>>;

function bumpPrincipal(
  counts: MutableByPrincipal,
  principal: string,
  action: string,
  resource: string,
): void {
  counts[principal] ??= {};
  const byAction = counts[principal];
  byAction[action] ??= {};
  bump(byAction[action], resource);
}

function copyByPrincipal(counts: MutableByPrincipal): MutableByPrincipal {
  return Object.fromEntries(
    Object.entries(counts).map(([principal, byAction]) => [
      principal,
      Object.fromEntries(Object.entries(byAction).map(([action, byResource]) => [action, { ...byResource }])),
    ]),
  );
}

class KeyedCount {
  total = 0;
  byKey: Record<string, number> = {};

  add(key: string): void {
    this.total += 1;
    bump(this.byKey, key);
  }

  copy(): Record<string, number> {
    return { ...this.byKey };
  }
}

/** The mutable side, shared by the proxy and the rules. */
export class AwsRulesStatsRecorder {
  private since = Date.now();
  private requestTotal = 0;
  private byOperation: Record<string, number> = {};
  private byTable: Record<string, number> = {};
  private committed = 0;
  private failedUpstream = 0;
  private unmodelled = 0;
  private cancelledTransactions = 0;
  private refusedSingleWrites = 0;
  private conflictsByTable: Record<string, Mutable<TransactionConflictRefusals['byTable'][string]>> = {};
  private getRecordsRate = new KeyedCount();
  private readersPerShard = new KeyedCount();
  private describeStreamRate = new KeyedCount();
  private tableUpdates = new KeyedCount();
  private getRecordsByShard: Record<string, number> = {};
  private recentGetRecords = new Map<string, number[]>();
  private peakGetRecords: Record<string, number> = {};
  private unattributed = 0;
  private iamJudged = 0;
  private iamUnjudged = 0;
  private iamUnchecked = 0;
  private iamAllowed: MutableByPrincipal = {};
  private iamRefusedTotal = 0;
  private iamRefused: MutableByPrincipal = {};
  private iamRecent: IamRefusal[] = [];

  request(operation: string, tables: readonly string[]): void {
    this.requestTotal += 1;
    bump(this.byOperation, operation || '(none)');
    for (const table of tables) bump(this.byTable, table);
  }

  transactionCommitted(): void {
    this.committed += 1;
  }

  transactionFailedUpstream(): void {
    this.failedUpstream += 1;
  }

  transactionUnmodelled(): void {
    this.unmodelled += 1;
  }

  transactionCancelled(tables: readonly string[]): void {
    this.cancelledTransactions += 1;
    for (const table of new Set(tables)) this.conflictTable(table).cancelledTransactions += 1;
  }

  singleWriteRefused(table: string): void {
    this.refusedSingleWrites += 1;
    this.conflictTable(table).refusedSingleWrites += 1;
  }

  getRecordsRateRefused(shardId: string): void {
    this.getRecordsRate.add(shardId);
  }

  readersRefused(shardId: string): void {
    this.readersPerShard.add(shardId);
  }

  describeStreamRefused(streamArn: string): void {
    this.describeStreamRate.add(streamArn);
  }

  tableUpdateRefused(table: string): void {
    this.tableUpdates.add(table);
  }

  getRecordsAccepted(shardId: string, now: number = performance.now()): void {
    bump(this.getRecordsByShard, shardId);
    const recent = (this.recentGetRecords.get(shardId) ?? []).filter((at) => now - at < 1_000);
    recent.push(now);
    this.recentGetRecords.set(shardId, recent);
    this.peakGetRecords[shardId] = Math.max(this.peakGetRecords[shardId] ?? 0, recent.length);
  }

  getRecordsUnattributed(): void {
    this.unattributed += 1;
  }

  iamJudgedRequest(): void {
    this.iamJudged += 1;
  }

  iamAllowedAuthorization(roleArn: string, action: string, resource: string): void {
    bumpPrincipal(this.iamAllowed, roleArn, action, resource);
  }

  iamRefusal(refusal: IamRefusal): void {
    this.iamRefusedTotal += 1;
    bumpPrincipal(this.iamRefused, refusal.roleArn, refusal.action, refusal.resource);
    this.iamRecent.push(refusal);
    if (this.iamRecent.length > RECENT_IAM_REFUSALS) this.iamRecent.shift();
  }

  iamUnjudgedRequest(): void {
    this.iamUnjudged += 1;
  }

  iamUncheckedRequest(): void {
    this.iamUnchecked += 1;
  }

  reset(): void {
    this.since = Date.now();
    this.requestTotal = 0;
    this.byOperation = {};
    this.byTable = {};
    this.committed = 0;
    this.failedUpstream = 0;
    this.unmodelled = 0;
    this.cancelledTransactions = 0;
    this.refusedSingleWrites = 0;
    this.conflictsByTable = {};
    this.getRecordsRate = new KeyedCount();
    this.readersPerShard = new KeyedCount();
    this.describeStreamRate = new KeyedCount();
    this.tableUpdates = new KeyedCount();
    this.getRecordsByShard = {};
    this.recentGetRecords = new Map();
    this.peakGetRecords = {};
    this.unattributed = 0;
    this.iamJudged = 0;
    this.iamUnjudged = 0;
    this.iamUnchecked = 0;
    this.iamAllowed = {};
    this.iamRefusedTotal = 0;
    this.iamRefused = {};
    this.iamRecent = [];
  }

  snapshot(rules: RuleSwitches): AwsRulesStats {
    const byTable: Record<string, { cancelledTransactions: number; refusedSingleWrites: number }> = {};
    for (const [table, counts] of Object.entries(this.conflictsByTable)) byTable[table] = { ...counts };
    return {
      since: this.since,
      rules: { ...rules },
      requests: {
        total: this.requestTotal,
        byOperation: { ...this.byOperation },
        byTable: { ...this.byTable },
      },
      transactions: {
        committed: this.committed,
        failedUpstream: this.failedUpstream,
        unmodelled: this.unmodelled,
      },
      refused: {
        total:
          this.cancelledTransactions +
          this.refusedSingleWrites +
          this.getRecordsRate.total +
          this.readersPerShard.total +
          this.describeStreamRate.total +
          this.tableUpdates.total +
          this.iamRefusedTotal,
        transactionConflicts: {
          cancelledTransactions: this.cancelledTransactions,
          refusedSingleWrites: this.refusedSingleWrites,
          byTable,
        },
        getRecordsRate: { total: this.getRecordsRate.total, byShard: this.getRecordsRate.copy() },
        readersPerShard: { total: this.readersPerShard.total, byShard: this.readersPerShard.copy() },
        describeStreamRate: {
          total: this.describeStreamRate.total,
          byStream: this.describeStreamRate.copy(),
        },
        tableUpdates: { total: this.tableUpdates.total, byTable: this.tableUpdates.copy() },
        iam: {
          total: this.iamRefusedTotal,
          byPrincipal: copyByPrincipal(this.iamRefused),
          recent: this.iamRecent.map((refusal) => ({ ...refusal })),
        },
      },
      iam: {
        judged: this.iamJudged,
        allowed: copyByPrincipal(this.iamAllowed),
        unjudged: this.iamUnjudged,
        unchecked: this.iamUnchecked,
      },
      streams: {
        getRecordsByShard: { ...this.getRecordsByShard },
        peakGetRecordsPerSecondByShard: { ...this.peakGetRecords },
        unattributedGetRecords: this.unattributed,
      },
    };
  }

  private conflictTable(table: string): Mutable<TransactionConflictRefusals['byTable'][string]> {
    let counts = this.conflictsByTable[table];
    if (!counts) {
      counts = { cancelledTransactions: 0, refusedSingleWrites: 0 };
      this.conflictsByTable[table] = counts;
    }
    return counts;
  }
}
