/**
 * A LeaseRefresher that counts, per worker, what its coordinator asks of the lease table: requests by
 * operation (from the real refresher's onRequest callback, so pages and batches count as DynamoDB sees them)
 * and lease items read by operation (to estimate read capacity).
 */
import type { LeaseRefresher } from '../../consumer/leases/lease-refresher.js';

export class RequestTally {
  readonly requests = new Map<string, number>();
  readonly itemsRead = new Map<string, number>();
  /** Writes by purpose: renew, take. */
  readonly writes = new Map<string, number>();

  request(operation: string, n = 1): void {
    this.requests.set(operation, (this.requests.get(operation) ?? 0) + n);
  }

  read(operation: string, n: number): void {
    this.itemsRead.set(operation, (this.itemsRead.get(operation) ?? 0) + n);
  }

  write(purpose: string): void {
    this.writes.set(purpose, (this.writes.get(purpose) ?? 0) + 1);
  }

  snapshot(): TallySnapshot {
    return {
      requests: Object.fromEntries(this.requests),
      itemsRead: Object.fromEntries(this.itemsRead),
      writes: Object.fromEntries(this.writes),
    };
  }
}

export interface TallySnapshot {
  requests: Record<string, number>;
  itemsRead: Record<string, number>;
  writes: Record<string, number>;
}

export function tallyDelta(after: TallySnapshot, before: TallySnapshot): TallySnapshot {
  const d = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]));
  return {
    requests: d(after.requests, before.requests),
    itemsRead: d(after.itemsRead, before.itemsRead),
    writes: d(after.writes, before.writes),
  };
}

/** Marks the items of eventually consistent reads in `itemsRead` (e.g. `BatchGetItem (eventual)`). */
export const EVENTUAL = '(eventual)';

/** Requests the in-memory table would have cost on DynamoDB (it cannot report pages itself). */
export const MEMORY_SCAN_PAGE_ITEMS = 4_000;

/** Request names for the methods of the in-memory refresher, which cannot report requests itself. */
const MEMORY_REQUESTS: Record<string, string> = {
  getLease: 'GetItem',
  createLeaseIfNotExists: 'PutItem',
  renewLease: 'UpdateItem',
  takeLease: 'UpdateItem',
  evictLease: 'UpdateItem',
  assignLease: 'UpdateItem',
  checkpoint: 'UpdateItem',
  addChildShard: 'UpdateItem',
};

/**
 * Wraps any LeaseRefresher (a Proxy, so it keeps up with the interface as it changes): counts lease items read
 * by listLeases / listOwnedLeases / getLeases / getLease and writes by purpose; with `countRequests` (for the
 * in-memory table), also requests as DynamoDB would see them (Scan pages of ~4,000 leases, BatchGetItem of 100).
 */
export function countingRefresher<T extends LeaseRefresher>(
  inner: T,
  tally: RequestTally,
  countRequests = false,
): T {
  const reads: Record<string, string> = {
    listLeases: 'Scan',
    listOwnedLeases: 'Query',
    getLeases: 'BatchGetItem',
    getLease: 'GetItem',
  };
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return async (...args: unknown[]) => {
        if (property === 'renewLease') tally.write('renew');
        if (property === 'takeLease') tally.write('take');
        // listLeases(options) and getLeases(keys, options): an eventually consistent read costs half.
        const options = (property === 'getLeases' ? args[1] : args[0]) as
          | { consistent?: boolean }
          | undefined;
        const eventual =
          (property === 'listLeases' || property === 'getLeases') && options?.consistent === false;
        const result = (await (value as (...a: unknown[]) => Promise<unknown>).apply(
          target,
          args,
        )) as unknown;
        const readOp = reads[property];
        if (readOp) {
          const n = Array.isArray(result) ? result.length : result ? 1 : 0;
          tally.read(eventual ? `${readOp} ${EVENTUAL}` : readOp, n);
          if (countRequests) {
            if (property === 'listLeases')
              tally.request('Scan', Math.max(1, Math.ceil(n / MEMORY_SCAN_PAGE_ITEMS)));
            else if (property === 'getLeases')
              tally.request(
                'BatchGetItem',
                Math.ceil(((args[0] as readonly string[] | undefined)?.length ?? 0) / 100),
              );
            else tally.request(readOp);
          }
        } else if (countRequests) {
          tally.request(MEMORY_REQUESTS[property] ?? property);
        }
        return result;
      };
    },
  });
}
