/**
 * Replication lag from the lease table, without reading the stream. Each worker records on its lease item
 * `lastRecordCreatedAt` (the creation time of the newest record its checkpoint covers) and `caughtUpAt` (the
 * last time a read found nothing more in the shard). Every record not yet replicated was created after both,
 * so the oldest one is younger than now − max(caughtUpAt, lastRecordCreatedAt): that is each shard's lag
 * bound. The one-second granularity of lastRecordCreatedAt only makes the bound larger, never smaller.
 *
 * Which shards exist comes from DescribeStream (a listing). A shard whose parent is unfinished is blocked on
 * it, and every record it holds is younger than the parent's, so the parent's bound covers it. A shard with
 * no lease, no owner, or neither attribute is reported as what it is — never as 0 lag. Pure: no I/O.
 */
import { type LeaseView, SHARD_END, type ShardView } from './fleet-state.js';

export const ShardLagStatus = {
  /** Owned, and the owner has recorded its progress. */
  Measured: 'measured',
  /** Blocked on an unfinished parent, whose bound covers it. */
  WaitingOnParent: 'waiting-on-parent',
  /** Leased by nobody (bounded still, from the last owner's attributes, when it left any). */
  Unowned: 'unowned',
  /** Listed by the stream but without a lease: the workers' shard sync has not seen it. */
  NoLease: 'no-lease',
  /** Owned, but neither attribute is on the lease item (a worker that does not record them, or just started). */
  NotReported: 'not-reported',
} as const;
export type ShardLagStatus = (typeof ShardLagStatus)[keyof typeof ShardLagStatus];

export interface ShardLag {
  shardId: string;
  status: ShardLagStatus;
  owner?: string;
  /** now − max(caughtUpAt, lastRecordCreatedAt), at least 0; absent when neither is known. */
  boundMs?: number;
  /** The attribute that gave the bound. */
  from?: 'caughtUpAt' | 'lastRecordCreatedAt';
  /** The recorded time is this far ahead of our clock (the owner's clock runs ahead); the bound is then 0. */
  clockAheadMs?: number;
  /** Lag attributes on the item that are not usable epoch-ms numbers. */
  malformed?: string[];
}

export interface LagFigures {
  /** The largest bound over the unfinished shards that have one; null when none has. Lag ≤ this. */
  boundMs: number | null;
  worstShardId: string | null;
  /** Every unfinished shard has a bound or waits on a parent: boundMs covers the whole stream. */
  complete: boolean;
  unfinishedShards: number;
  /** Unfinished shards without a bound that do not wait on a parent. */
  unknownShards: number;
  byStatus: Record<ShardLagStatus, number>;
  /** The unknown ones by status. */
  unknownByStatus: Record<ShardLagStatus, number>;
  /** At most `MAX_LISTED_SHARDS`: the ones without a bound first, then the largest bounds. */
  shards: ShardLag[];
}

export const MAX_LISTED_SHARDS = 20;

/** A future time further ahead than this is reported as clock skew (lastRecordCreatedAt is floored to 1 s). */
const CLOCK_AHEAD_TOLERANCE_MS = 1_000;

function boundOf(lease: LeaseView, nowMs: number): Pick<ShardLag, 'boundMs' | 'from' | 'clockAheadMs'> {
  const caught = lease.caughtUpAt;
  const created = lease.lastRecordCreatedAt;
  if (caught === undefined && created === undefined) return {};
  const from = (caught ?? -1) >= (created ?? -1) ? ('caughtUpAt' as const) : ('lastRecordCreatedAt' as const);
  const since = Math.max(caught ?? 0, created ?? 0);
  const ahead = since - nowMs;
  return {
    boundMs: Math.max(0, nowMs - since),
    from,
    ...(ahead > CLOCK_AHEAD_TOLERANCE_MS ? { clockAheadMs: ahead } : {}),
  };
}

function countByStatus(shards: readonly ShardLag[]): Record<ShardLagStatus, number> {
  const counts = Object.fromEntries(Object.values(ShardLagStatus).map((s) => [s, 0])) as Record<
    ShardLagStatus,
    number
  >;
  for (const shard of shards) counts[shard.status]++;
  return counts;
}

/** Each unfinished shard's lag bound and status, and the stream's. */
export function lagFromLeases(input: {
  shards: readonly ShardView[];
  leases: readonly LeaseView[];
  nowMs: number;
}): LagFigures {
  const { nowMs } = input;
  const leases = new Map(input.leases.map((lease) => [lease.leaseKey, lease]));
  // A closed shard without a lease finished (cleaned up, or closed before the fleet started at LATEST).
  const unfinished = input.shards.filter((shard) => {
    const lease = leases.get(shard.shardId);
    return shard.closed
      ? lease !== undefined && lease.checkpoint !== SHARD_END
      : lease?.checkpoint !== SHARD_END;
  });
  const unfinishedIds = new Set(unfinished.map((s) => s.shardId));

  const all: ShardLag[] = unfinished.map((shard) => {
    const lease = leases.get(shard.shardId);
    if (lease === undefined) return { shardId: shard.shardId, status: ShardLagStatus.NoLease };
    const owner = lease.leaseOwner;
    const bound = boundOf(lease, nowMs);
    const status =
      shard.parentShardId !== undefined && unfinishedIds.has(shard.parentShardId)
        ? ShardLagStatus.WaitingOnParent
        : owner === undefined
          ? ShardLagStatus.Unowned
          : bound.boundMs === undefined
            ? ShardLagStatus.NotReported
            : ShardLagStatus.Measured;
    return {
      shardId: shard.shardId,
      status,
      ...(owner === undefined ? {} : { owner }),
      ...bound,
      ...(lease.malformed ? { malformed: lease.malformed } : {}),
    };
  });

  const unknown = all.filter((s) => s.boundMs === undefined && s.status !== ShardLagStatus.WaitingOnParent);
  let worst: ShardLag | undefined;
  for (const shard of all) {
    if (shard.boundMs !== undefined && (worst?.boundMs === undefined || shard.boundMs > worst.boundMs))
      worst = shard;
  }
  const bounded = all
    .filter((s) => s.boundMs !== undefined)
    .sort((a, b) => (b.boundMs ?? 0) - (a.boundMs ?? 0));
  return {
    boundMs: worst?.boundMs ?? (all.length === 0 ? 0 : null),
    worstShardId: worst?.shardId ?? null,
    complete: unknown.length === 0,
    unfinishedShards: all.length,
    unknownShards: unknown.length,
    byStatus: countByStatus(all),
    unknownByStatus: countByStatus(unknown),
    shards: [...unknown, ...bounded].slice(0, MAX_LISTED_SHARDS),
  };
}

/**
 * One sentence about the lag for a verdict's summary, saying what the bound covers: the shards that have one,
 * and by name the ones that have none and why (a shard too new for a lease, a lease nobody holds, an owner
 * that records no progress), so a passing check with a partial bound does not read as a contradiction.
 */
export function describeLag(lag: LagFigures): string {
  if (lag.unfinishedShards === 0) return 'no unfinished shards';
  const covered = lag.unfinishedShards - lag.unknownShards;
  const bound =
    lag.boundMs === null ? 'no lag bound yet' : `lag ≤ ${lag.boundMs} ms (worst shard ${lag.worstShardId})`;
  if (lag.complete) return `${bound} over ${lag.unfinishedShards} unfinished shards`;
  const parts = (
    [
      [ShardLagStatus.NoLease, 'without a lease yet (shard sync has not listed it)'],
      [ShardLagStatus.Unowned, 'leased by nobody'],
      [ShardLagStatus.NotReported, 'whose owner records no progress yet'],
    ] as const
  )
    .map(([status, text]) =>
      lag.unknownByStatus[status] > 0 ? `${lag.unknownByStatus[status]} ${text}` : '',
    )
    .filter(Boolean);
  const over = covered > 0 ? ` over ${covered} of ${lag.unfinishedShards} unfinished shards` : '';
  return `${bound}${over}; not bounded: ${parts.join(', ')}`;
}
