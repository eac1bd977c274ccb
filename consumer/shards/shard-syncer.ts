/**
 * Shard sync: lists the stream and creates a lease for every new shard, parents first, then deletes the
 * finished leases nothing can need again (see lease-cleanup.ts). Cheap and idempotent
 * (creates are conditional), so any worker may run it at any time; it runs at start-up, periodically, and
 * at once whenever one of this worker's shards ends, so children are found without waiting for the period.
 */
import type { Clock } from '../../core/vocabulary/clock.js';
import type { LeaseRefresher } from '../leases/lease-refresher.js';
import type { WorkerEvents } from '../observability/events.js';
import { planLeaseCleanup } from './lease-cleanup.js';
import { planNewLeases } from './lineage.js';
import type { ShardDetector } from './shard-detector.js';

export interface ShardSyncResult {
  shards: number;
  openShards: number;
  created: string[];
  deleted: string[];
}

export class ShardSyncer {
  private running: Promise<ShardSyncResult> | undefined;
  private again = false;

  constructor(
    private readonly detector: ShardDetector,
    private readonly refresher: LeaseRefresher,
    private readonly initialPosition: 'TRIM_HORIZON' | 'LATEST',
    private readonly events: WorkerEvents,
    /** Called when this sync created leases, so the lease loop reads the table at its next pass. */
    private readonly onLeasesCreated: () => void = () => {},
  ) {}

  /** Runs a sync; calls made while one runs are folded into one more run after it. */
  sync(): Promise<ShardSyncResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        let result: ShardSyncResult;
        do {
          this.again = false;
          result = await this.syncOnce();
        } while (this.again);
        return result;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async syncOnce(): Promise<ShardSyncResult> {
    const shards = await this.detector.listShards();
    const leases = await this.refresher.listLeases();
    const plan = planNewLeases({
      shards,
      existingLeaseKeys: new Set(leases.map((lease) => lease.leaseKey)),
      initialPosition: this.initialPosition,
    });
    const created: string[] = [];
    for (const lease of plan) {
      if (await this.refresher.createLeaseIfNotExists({ ...lease, childShardIds: [] }))
        created.push(lease.leaseKey);
      for (const parent of lease.parentShardIds) await this.refresher.addChildShard(parent, lease.leaseKey);
    }
    if (created.length > 0) {
      this.events.emit('shards.created', { created, shards: shards.length }, 'shard sync created leases');
      this.onLeasesCreated();
    }
    const deleted: string[] = [];
    for (const leaseKey of planLeaseCleanup(shards, leases)) {
      if (await this.refresher.deleteFinishedLease(leaseKey)) deleted.push(leaseKey);
    }
    if (deleted.length > 0)
      this.events.emit(
        'shards.deleted',
        { deleted },
        'finished leases of shards gone from the stream deleted',
      );
    return {
      shards: shards.length,
      openShards: shards.filter((s) => !s.endingSequenceNumber).length,
      created,
      deleted,
    };
  }
}

/** Runs `sync` every interval (with ±10 % jitter so a fleet does not list the stream in step). */
export async function runPeriodicShardSync(
  syncer: ShardSyncer,
  intervalMs: number,
  clock: Clock,
  signal: AbortSignal,
  events: WorkerEvents,
): Promise<void> {
  while (!signal.aborted) {
    await clock.sleep(intervalMs * (0.9 + Math.random() * 0.2), signal);
    if (signal.aborted) return;
    try {
      await syncer.sync();
    } catch (error) {
      events.emit('shard-sync.failed', { error, when: 'periodic' }, 'periodic shard sync failed; will retry');
    }
  }
}
