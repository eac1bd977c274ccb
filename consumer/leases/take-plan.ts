/**
 * Which leases to take and which to steal, decided from one snapshot of the lease table. Pure: no I/O, no
 * clock; the caller says which leases are expired.
 *
 * Rules:
 * - Finished leases (checkpoint SHARD_END) are neither taken nor counted.
 * - Workers are the owners of unexpired leases, plus this worker.
 * - Target = ceil(active leases / workers), capped by maxLeasesPerWorker. Below target, take expired or
 *   unowned leases (those whose parents are done first, then in random order to spread contention).
 * - Nothing left to take and still short: steal from the most loaded worker, but only while it holds at
 *   least two more than this worker, so that the fleet converges to max − min ≤ 1 and never flaps.
 * - Only leases `mayAskFor` allows are stolen: an owner that does not answer hand-off requests (a KCL 1.x worker
 *   during a migration) still counts as a worker, but keeps its leases until they expire.
 */
import { isFinished, type Lease, parentsDone } from '../../core/vocabulary/lease.js';

export interface TakePlanInput {
  leases: readonly Lease[];
  workerId: string;
  /** Keys this worker currently holds (renewing them). */
  heldKeys: ReadonlySet<string>;
  isExpired: (lease: Lease) => boolean;
  maxLeasesPerWorker: number;
  maxLeasesToStealAtOnce: number;
  /** Leases that may be asked for to balance (default: all); the taker passes `answersHandoffs`. */
  mayAskFor?: (lease: Lease) => boolean;
  random?: () => number;
}

export interface TakePlan {
  take: Lease[];
  steal: Lease[];
  target: number;
  workers: number;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

export function planLeaseTaking(input: TakePlanInput): TakePlan {
  const random = input.random ?? Math.random;
  const byKey = new Map(input.leases.map((lease) => [lease.leaseKey, lease]));
  const active = input.leases.filter((lease) => !isFinished(lease));

  const counts = new Map<string, Lease[]>([[input.workerId, []]]);
  const available: Lease[] = [];
  for (const lease of active) {
    const mine = lease.leaseOwner === input.workerId;
    if (mine && input.heldKeys.has(lease.leaseKey)) {
      counts.get(input.workerId)?.push(lease);
    } else if (mine || input.isExpired(lease)) {
      // Ours in the table but not held (we lost track of it), expired, or unowned: free to take.
      available.push(lease);
    } else if (lease.leaseOwner !== undefined) {
      const owned = counts.get(lease.leaseOwner) ?? [];
      owned.push(lease);
      counts.set(lease.leaseOwner, owned);
    }
  }

  const workers = counts.size;
  const target = Math.min(input.maxLeasesPerWorker, Math.ceil(active.length / workers));
  const myCount = counts.get(input.workerId)?.length ?? 0;
  const wanted = target - myCount;
  if (wanted <= 0) return { take: [], steal: [], target, workers };

  const ready = shuffle(
    available.filter((lease) => parentsDone(lease, byKey)),
    random,
  );
  const blocked = shuffle(
    available.filter((lease) => !parentsDone(lease, byKey)),
    random,
  );
  const take = [...ready, ...blocked].slice(0, wanted);
  if (take.length > 0 || input.maxLeasesToStealAtOnce === 0) return { take, steal: [], target, workers };

  const mayAskFor = input.mayAskFor ?? (() => true);
  let victim: Lease[] = [];
  for (const [owner, owned] of counts) {
    if (owner !== input.workerId && owned.length > victim.length && owned.every(mayAskFor)) victim = owned;
  }
  const surplus = victim.length - myCount;
  if (surplus < 2) return { take: [], steal: [], target, workers };
  const count = Math.min(input.maxLeasesToStealAtOnce, wanted, Math.floor(surplus / 2));
  // Steal leases whose parents are done: a blocked child is no work to gain.
  const candidates = [
    ...shuffle(
      victim.filter((lease) => parentsDone(lease, byKey)),
      random,
    ),
    ...shuffle(
      victim.filter((lease) => !parentsDone(lease, byKey)),
      random,
    ),
  ];
  return { take: [], steal: candidates.slice(0, count), target, workers };
}
