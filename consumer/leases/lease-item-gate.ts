/**
 * One write at a time on each lease item, from this worker.
 *
 * On AWS, a PutItem/UpdateItem/DeleteItem on an item that an ongoing TransactWriteItems includes fails with
 * `TransactionConflictException`, and a transaction that includes an item of another ongoing transaction is
 * cancelled with reason `TransactionConflict` (DynamoDB developer guide, "Transaction conflict handling").
 * The fenced writer's transactions include the shard's lease item (the fence, and the checkpoint), and the
 * renewer, the checkpointer and the hand-off write that same item. Sending them one at a time per lease means
 * the worker never collides with itself; only other processes (a peer asking for the lease, a zombie) can
 * still cause a conflict, and every caller retries those.
 *
 * Renewals go first: a renewal waits for the one write in flight, never for a queue of transactions. And a
 * renewal never waits longer than `maxWaitMs`: if the write in flight hangs (a slow network), the renewal is
 * sent anyway and, at worst, is refused for a conflict and retried, rather than letting the lease run out.
 */
import type { Clock } from '../../core/vocabulary/clock.js';

export const GatePriority = { RENEWAL: 'renewal', WRITE: 'write' } as const;
export type GatePriority = (typeof GatePriority)[keyof typeof GatePriority];

interface Waiter {
  grant: () => void;
}

interface Lane {
  busy: boolean;
  renewals: Waiter[];
  writes: Waiter[];
}

export interface GateRunOptions {
  /** Run anyway (outside the gate) after waiting this long. Unbounded when absent. */
  maxWaitMs?: number;
}

export class LeaseItemGate {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly clock: Clock) {}

  /** Runs `work` once no other write on `leaseKey` from this worker is in flight. */
  async run<T>(
    leaseKey: string,
    priority: GatePriority,
    work: () => Promise<T>,
    options: GateRunOptions = {},
  ): Promise<T> {
    const holds = await this.acquire(leaseKey, priority, options.maxWaitMs);
    try {
      return await work();
    } finally {
      if (holds) this.release(leaseKey);
    }
  }

  /** Writes in flight or waiting, for tests and diagnostics. */
  pending(leaseKey: string): number {
    const lane = this.lanes.get(leaseKey);
    return lane ? (lane.busy ? 1 : 0) + lane.renewals.length + lane.writes.length : 0;
  }

  /** Resolves true once the lane is ours; false when `maxWaitMs` ran out first (run without holding it). */
  private acquire(leaseKey: string, priority: GatePriority, maxWaitMs: number | undefined): Promise<boolean> {
    let lane = this.lanes.get(leaseKey);
    if (!lane) {
      lane = { busy: false, renewals: [], writes: [] };
      this.lanes.set(leaseKey, lane);
    }
    if (!lane.busy) {
      lane.busy = true;
      return Promise.resolve(true);
    }
    const queue = priority === GatePriority.RENEWAL ? lane.renewals : lane.writes;
    return new Promise<boolean>((resolve) => {
      const timeout = new AbortController();
      const waiter: Waiter = {
        grant: () => {
          timeout.abort();
          resolve(true);
        },
      };
      queue.push(waiter);
      if (maxWaitMs === undefined) return;
      void this.clock.sleep(maxWaitMs, timeout.signal).then(() => {
        if (timeout.signal.aborted) return;
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        resolve(false);
      });
    });
  }

  private release(leaseKey: string): void {
    const lane = this.lanes.get(leaseKey);
    if (!lane) return;
    const next = lane.renewals.shift() ?? lane.writes.shift();
    if (next) {
      next.grant();
      return;
    }
    lane.busy = false;
    this.lanes.delete(leaseKey);
  }
}
