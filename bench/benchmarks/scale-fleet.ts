/** The scale benchmark's fleet: lease coordinators with the worker's real defaults, started and balanced. */
import { pino } from 'pino';
import { parseConfig } from '../../consumer/config.js';
import { LeaseCoordinator, type LeaseCoordinatorOptions } from '../../consumer/leases/lease-coordinator.js';
import type { LeaseRefresher } from '../../consumer/leases/lease-refresher.js';
import { silentEvents } from '../../consumer/observability/events.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { NO_PEER_EVIDENCE, type PeerEvidence, PeerState } from '../../consumer/peers/peer-evidence.js';
import type { Clock } from '../../core/vocabulary/clock.js';
import { confirmHandoffsAtOnce } from '../../test/support/lease-loop.js';
import { RequestTally } from '../lib/counting-refresher.js';

export const silent = pino({ level: 'silent' });

/** The worker's real defaults, from the worker's own configuration parser. */
export function defaultLeaseOptions(): Omit<LeaseCoordinatorOptions, 'workerId' | 'ownerIndex'> {
  const config = parseConfig(
    {
      SOURCE_TABLE_STREAM_ARN:
        'arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/2026-01-01T00:00:00.000',
      TARGET_TABLE_NAME: 'users_replica',
      APPLICATION_NAME: 'bench-app',
      AWS_REGION: 'us-east-1',
    },
    'bench',
  );
  return {
    leaseDurationMs: config.leaseDurationMs,
    renewIntervalMs: config.leaseRenewIntervalMs,
    takerIntervalMs: config.leaseTakerIntervalMs,
    scanIntervalMs: config.leaseScanIntervalMs,
    maxLeasesPerWorker: config.maxLeasesPerWorker,
    maxLeasesToStealAtOnce: config.maxLeasesToStealAtOnce,
  };
}

export type Design = 'streamfleet' | 'streamfleet-pod-evidence' | 'full-scan-every-pass' | 'kcl1-intervals';

/** A current watch of the pods that says every peer's pod runs (nobody crashes in this benchmark). */
const EVERY_POD_RUNNING: PeerEvidence = {
  isCurrent: () => true,
  stateOf: () => PeerState.Running,
  onChange: () => () => {},
};
export function designOptions(design: Design): Partial<LeaseCoordinatorOptions> {
  if (design === 'streamfleet') return { ownerIndex: true, evidence: NO_PEER_EVIDENCE };
  if (design === 'streamfleet-pod-evidence') return { ownerIndex: true, evidence: EVERY_POD_RUNNING };
  if (design === 'full-scan-every-pass') return { ownerIndex: false };
  return { ownerIndex: false, takerIntervalMs: 20_050, renewIntervalMs: 3_308 };
}
export interface Fleet {
  coordinators: LeaseCoordinator[];
  tallies: RequestTally[];
  metrics: WorkerMetrics[];
}
export function spread(fleet: Fleet): { held: number; spread: number } {
  const counts = fleet.coordinators.map((c) => c.heldLeases().length);
  return { held: counts.reduce((a, b) => a + b, 0), spread: Math.max(...counts) - Math.min(...counts) };
}

/**
 * Polls every 100 ms (on the caller's clock) until every shard is held and no worker holds more than one lease
 * more than another; returns when that was, or undefined after `timeoutSeconds` from `started`.
 */
export async function waitForBalance(
  fleet: Fleet,
  shards: number,
  timing: { started: number; timeoutSeconds: number; now(): number; pause(ms: number): Promise<unknown> },
): Promise<number | undefined> {
  while (timing.now() - timing.started < timing.timeoutSeconds * 1000) {
    const s = spread(fleet);
    if (s.held === shards && s.spread <= 1) return timing.now();
    await timing.pause(100);
  }
  return undefined;
}
export async function leaseEvents(fleet: Fleet): Promise<{ takes: number; steals: number; losses: number }> {
  const sum = async (pick: (m: WorkerMetrics) => { get(): Promise<{ values: { value: number }[] }> }) => {
    let n = 0;
    for (const m of fleet.metrics) for (const v of (await pick(m).get()).values) n += v.value;
    return n;
  };
  return {
    takes: await sum((m) => m.leaseTakes),
    steals: await sum((m) => m.leaseSteals),
    losses: await sum((m) => m.leaseLosses),
  };
}
export function makeFleet(
  refresherFor: (i: number, tally: RequestTally) => LeaseRefresher,
  design: Design,
  workers: number,
  clock: Clock,
): Fleet {
  const base = defaultLeaseOptions();
  const fleet: Fleet = { coordinators: [], tallies: [], metrics: [] };
  for (let i = 0; i < workers; i++) {
    const tally = new RequestTally();
    const metrics = new WorkerMetrics();
    fleet.tallies.push(tally);
    fleet.metrics.push(metrics);
    fleet.coordinators.push(
      new LeaseCoordinator(
        refresherFor(i, tally),
        {
          ...base,
          workerId: `worker-${String(i).padStart(2, '0')}`,
          ownerIndex: true,
          ...designOptions(design),
        },
        clock,
        silent,
        metrics,
        silentEvents(),
      ),
    );
  }
  // No shard consumers run here: a lease asked for is handed over at once, as the scheduler does for a
  // lease nothing reads.
  for (const c of fleet.coordinators) confirmHandoffsAtOnce(c);
  return fleet;
}

/** Start every coordinator the way Scheduler.start does: one taker pass, then the loops. */
export async function startFleet(fleet: Fleet): Promise<void> {
  await Promise.all(
    fleet.coordinators.map(async (c) => {
      await c.takerPass().catch(() => undefined);
      c.start();
    }),
  );
}
