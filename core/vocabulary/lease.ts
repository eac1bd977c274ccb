/**
 * A lease: the right of one worker to read one shard, and its item in the lease table. One vocabulary for the
 * workers that write it and the checks, the local KEDA and the bench that read it. Field and attribute names
 * follow the Kinesis Client Library, so the lease table reads like KCL's to an operator who scans it.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { Sentinel } from './sequence.js';

export interface Lease {
  /** The shard id. */
  leaseKey: string;
  /** The worker holding the lease; absent when nobody does. */
  leaseOwner: string | undefined;
  /** Bumped by every renewal, take and release; an unchanged counter is how expiry is seen. */
  leaseCounter: number;
  /** A sequence number, or TRIM_HORIZON / LATEST / SHARD_END. */
  checkpoint: string;
  ownerSwitchesSinceCheckpoint: number;
  parentShardIds: readonly string[];
  childShardIds: readonly string[];
  /**
   * A peer that asked for this lease to balance the load: the owner finishes its batch, checkpoints and
   * hands the lease over at its next renewal, so the shard pauses for about a renew interval instead of a
   * whole lease duration. Removed by every change of owner.
   */
  handoffTo?: string | undefined;
  /**
   * The Streamfleet worker that took the lease last: every take and hand-off writes it beside `leaseOwner`.
   * While the two are equal the owner is a Streamfleet worker, which answers hand-off requests. A KCL 1.x
   * worker's take writes `leaseOwner` and `leaseCounter` only (`LeaseSerializer.getDynamoTakeLeaseUpdate`), so
   * on a lease it took the two differ, and KCL 1.x ignores the attribute (core/tables/kcl1-lease.ts). See
   * `answersHandoffs`.
   */
  streamfleetOwner?: string | undefined;
  /** Epoch ms: the last time the owner found nothing more to read in the shard (see LeaseProgress). */
  caughtUpAt?: number | undefined;
  /** Epoch ms: the stream's ApproximateCreationDateTime of the newest record the checkpoint covers. */
  lastRecordCreatedAt?: number | undefined;
  /** Progress attributes present on the item but not a usable epoch-ms number (edited by hand?). */
  malformed?: string[];
}

/**
 * What the owner records about its progress beside the checkpoint, so the replication lag can be judged from
 * the lease table alone, without reading the stream (a third reader would take a share of the shard's five
 * reads a second, and AWS refuses a third concurrent reader). Written with writes the worker makes anyway:
 * inside the fenced transaction with the checkpoint, and with the lease renewal while the shard is idle.
 * Lag of the shard ≤ now − max(caughtUpAt, lastRecordCreatedAt).
 */
export interface LeaseProgress {
  caughtUpAt?: number;
  lastRecordCreatedAt?: number;
}

/**
 * The leaseCounter of an item whose counter is not a number (edited by hand): such a lease expires like any
 * other and is taken with a condition on the attribute's type instead of its value.
 */
export const MALFORMED_COUNTER = -1;

export function isFinished(lease: Pick<Lease, 'checkpoint'>): boolean {
  return lease.checkpoint === Sentinel.SHARD_END;
}

/**
 * Whether the lease's owner answers hand-off requests: a Streamfleet worker took it (`streamfleetOwner`). An
 * owner that does not — a KCL 1.x worker still running beside the fleet during a migration — is never asked for
 * a lease nor stolen from while it renews: its record processor writes without Streamfleet's fence, so a lease
 * taken from it while it still reads would race it. Its leases are taken only once they expire, as KCL would.
 */
export function answersHandoffs(lease: Pick<Lease, 'leaseOwner' | 'streamfleetOwner'>): boolean {
  return lease.leaseOwner !== undefined && lease.leaseOwner === lease.streamfleetOwner;
}

/**
 * A shard may be read once every parent is done: its lease reached SHARD_END, or it has no lease at all
 * (cleaned up after finishing, or never leased because it was closed before the application started at LATEST).
 */
export function parentsDone(
  lease: Pick<Lease, 'parentShardIds'>,
  leasesByKey: ReadonlyMap<string, Lease>,
): boolean {
  return lease.parentShardIds.every((parent) => {
    const parentLease = leasesByKey.get(parent);
    return parentLease === undefined || isFinished(parentLease);
  });
}

/** Lease attributes beyond KCL's: what the owner last recorded about its progress (see LeaseProgress). */
export const PROGRESS_ATTRIBUTES = {
  caughtUpAt: 'caughtUpAt',
  lastRecordCreatedAt: 'lastRecordCreatedAt',
} as const;

/** A positive, finite epoch-ms number from an N attribute; anything else present is malformed. */
function epochMs(value: AttributeValue | undefined): number | 'malformed' | undefined {
  if (value === undefined || value.NULL === true) return undefined;
  if (value.N === undefined) return 'malformed';
  const ms = Number(value.N);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms) : 'malformed';
}

/**
 * A lease item as the lease table holds it. Never throws: a counter that is not a number is MALFORMED_COUNTER
 * (such a lease expires like any other), a missing checkpoint is TRIM_HORIZON, and progress attributes that
 * are not epoch-ms numbers are left out and named in `malformed`.
 */
export function leaseFromItem(item: Record<string, AttributeValue>): Lease {
  const counter = item.leaseCounter?.N;
  const lease: Lease = {
    leaseKey: item.leaseKey?.S ?? '',
    leaseOwner: item.leaseOwner?.S,
    leaseCounter:
      counter !== undefined && Number.isSafeInteger(Number(counter)) ? Number(counter) : MALFORMED_COUNTER,
    checkpoint: item.checkpoint?.S ?? Sentinel.TRIM_HORIZON,
    ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? '0'),
    parentShardIds: item.parentShardId?.SS ?? [],
    childShardIds: item.childShardIds?.SS ?? [],
    handoffTo: item.handoffTo?.S,
    streamfleetOwner: item.streamfleetOwner?.S,
  };
  const malformed: string[] = [];
  for (const name of Object.values(PROGRESS_ATTRIBUTES)) {
    const value = epochMs(item[name]);
    if (value === 'malformed') malformed.push(name);
    else if (value !== undefined) lease[name] = value;
  }
  if (malformed.length > 0) lease.malformed = malformed;
  return lease;
}
