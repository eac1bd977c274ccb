/**
 * Rule 1, transaction conflicts, as the DynamoDB Developer Guide describes them ("Transaction conflict
 * handling in DynamoDB"):
 *
 * - a PutItem, UpdateItem or DeleteItem on an item that is part of an ongoing TransactWriteItems fails
 *   with `TransactionConflictException`;
 * - a TransactWriteItems that includes an item (Put, Update, Delete or ConditionCheck: each includes it)
 *   that is part of another ongoing TransactWriteItems is cancelled with `TransactionCanceledException`,
 *   reason `TransactionConflict` for each such item and `None` for the others.
 *
 * The model. A TransactWriteItems that arrives with no conflict holds all its items for as long as it is
 * ongoing: a commit latency (default 20 ms; AWS shows tens of milliseconds) before it is forwarded to
 * DynamoDB Local, plus DynamoDB Local's own time, until its answer is back; then it lets them go. It holds
 * them even if its conditions fail in the end (DynamoDB Local still evaluates every condition; this rule
 * only models the contention). Reads (GetItem, BatchGetItem, Query, Scan) never conflict. Single writes
 * hold nothing: they are only refused. A cancelled transaction holds nothing either.
 *
 * Item identity is the table name plus the item's primary key (see `item-keys.ts`); a Put carries the
 * whole item, so the table's key schema comes from DescribeTable, cached per table (`key-schema-cache.ts`).
 *
 * Not modelled: conflicts of TransactGetItems (with writes or with transactions); BatchWriteItem items
 * against transactions (AWS refuses those per item inside the batch, as UnprocessedItems); idempotency
 * tokens (a replayed ClientRequestToken is just another transaction here); per-partition throughput,
 * throttling and the transaction size limits DynamoDB Local enforces itself.
 */
import { transactionCanceled, transactionConflict } from './errors.js';
import {
  type ItemTarget,
  itemId,
  needsKeySchema,
  singleWriteTarget,
  transactItemTargets,
} from './item-keys.js';
import type { KeySchemaCache } from './key-schema-cache.js';
import {
  type Admission,
  type AwsRequest,
  PASS,
  type RequestHead,
  type Rule,
  refuse,
  tablesMentioned,
} from './rule.js';
import type { AwsRulesStatsRecorder } from './stats.js';
import type { RuleSwitches } from './switches.js';

export type TransactionId = number;

export type HoldResult =
  | { readonly held: true; readonly transaction: TransactionId }
  /** `conflicting[i]` says whether `items[i]` is held by another ongoing transaction. */
  | { readonly held: false; readonly conflicting: readonly boolean[] };

/** The lock table: which ongoing transaction holds which item. Pure; no I/O, no clock. */
export class ItemLocks {
  private readonly holders = new Map<string, TransactionId>();
  private readonly heldItems = new Map<TransactionId, readonly string[]>();
  private nextTransaction: TransactionId = 1;

  /** Holds every item for a new transaction, unless one of them is held already; all or nothing. */
  tryHold(items: readonly string[]): HoldResult {
    let conflict = false;
    const conflicting = items.map((item) => {
      const held = this.holders.has(item);
      conflict ||= held;
      return held;
    });
    if (conflict) return { held: false, conflicting };
    const transaction = this.nextTransaction++;
    for (const item of items) this.holders.set(item, transaction);
    this.heldItems.set(transaction, items);
    return { held: true, transaction };
  }

  /** The transaction is no longer ongoing; idempotent. */
  release(transaction: TransactionId): void {
    const items = this.heldItems.get(transaction);
    if (!items) return;
    this.heldItems.delete(transaction);
    for (const item of items) {
      if (this.holders.get(item) === transaction) this.holders.delete(item);
    }
  }

  isHeld(item: string): boolean {
    return this.holders.has(item);
  }

  /** Ongoing transactions. */
  get ongoing(): number {
    return this.heldItems.size;
  }
}

export interface TransactionConflictOptions {
  readonly schemas: KeySchemaCache;
  readonly stats: AwsRulesStatsRecorder;
  /** Added before a transaction is forwarded, while it holds its items. */
  readonly commitLatencyMs: number;
  readonly locks?: ItemLocks;
}

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
/** Operations after which a table's cached key schema may be wrong. */
const SCHEMA_CHANGES = new Set(['CreateTable', 'DeleteTable', 'DescribeTable']);

/** The rule's I/O side: reads requests, asks the key-schema cache, answers with AWS's errors. */
export class TransactionConflictRule implements Rule {
  readonly name = 'transactionConflicts';
  readonly locks: ItemLocks;

  constructor(private readonly options: TransactionConflictOptions) {
    this.locks = options.locks ?? new ItemLocks();
  }

  inspects(head: RequestHead, switches: RuleSwitches): boolean {
    if (head.service !== 'dynamodb') return false;
    // Transactions are watched with the rule off too, so a comparison run still counts what committed.
    if (SCHEMA_CHANGES.has(head.operation) || head.operation === 'TransactWriteItems') return true;
    return switches.transactionConflicts && WRITES.has(head.operation);
  }

  admit(request: AwsRequest, switches: RuleSwitches): Admission | Promise<Admission> {
    const { operation } = request;
    if (SCHEMA_CHANGES.has(operation)) return this.watchSchemaChange(request);
    if (operation === 'TransactWriteItems') {
      return switches.transactionConflicts ? this.admitTransaction(request) : this.countOutcome(undefined);
    }
    if (!switches.transactionConflicts) return PASS;
    // Nothing is held: no need to read the body at all (the common case).
    if (this.locks.ongoing === 0) return PASS;
    return this.admitSingleWrite(request);
  }

  private async admitTransaction(request: AwsRequest): Promise<Admission> {
    const { stats, commitLatencyMs } = this.options;
    const targets = transactItemTargets(request.json());
    const items = targets && (await this.itemIds(targets, request));
    if (!targets || !items) {
      stats.transactionUnmodelled();
      return this.countOutcome(undefined);
    }
    const result = this.locks.tryHold(items);
    if (!result.held) {
      stats.transactionCancelled(targets.filter((_, index) => result.conflicting[index]).map((t) => t.table));
      return refuse(transactionCanceled(result.conflicting));
    }
    return { ...this.countOutcome(result.transaction), delayMs: commitLatencyMs };
  }

  /** Passes a transaction, releasing what it holds (if anything) and counting how it ended. */
  private countOutcome(transaction: TransactionId | undefined): Admission & { kind: 'pass' } {
    const { stats } = this.options;
    return {
      kind: 'pass',
      watch: {
        settle: (outcome) => {
          if (transaction !== undefined) this.locks.release(transaction);
          if (outcome.kind !== 'answered') return;
          if (outcome.status === 200) stats.transactionCommitted();
          else stats.transactionFailedUpstream();
        },
      },
    };
  }

  private async admitSingleWrite(request: AwsRequest): Promise<Admission> {
    const target = singleWriteTarget(request.operation, request.json());
    if (!target) return PASS;
    const [id] = (await this.itemIds([target], request)) ?? [];
    if (id === undefined || !this.locks.isHeld(id)) return PASS;
    this.options.stats.singleWriteRefused(target.table);
    return refuse(transactionConflict());
  }

  /** Canonical ids of the targets' items; undefined if one cannot be told (no schema, odd key). */
  private async itemIds(targets: readonly ItemTarget[], request: AwsRequest): Promise<string[] | undefined> {
    const authorization = request.headers.authorization;
    const ids: string[] = [];
    for (const target of targets) {
      const keyNames = needsKeySchema(target)
        ? await this.options.schemas.get(target.table, authorization)
        : undefined;
      const id = itemId(target, keyNames);
      if (id === undefined) return undefined;
      ids.push(id);
    }
    return ids;
  }

  private watchSchemaChange(request: AwsRequest): Admission {
    const [table] = tablesMentioned(request.text());
    if (table === undefined) return PASS;
    const { schemas } = this.options;
    if (request.operation !== 'DescribeTable') schemas.invalidate(table);
    return {
      kind: 'pass',
      watch: {
        settle: (outcome) => {
          if (request.operation !== 'DescribeTable') {
            schemas.invalidate(table);
          } else if (outcome.kind === 'answered' && outcome.status !== 200) {
            if (/ResourceNotFoundException/.test(outcome.tail)) schemas.invalidate(table);
          }
        },
      },
    };
  }
}
