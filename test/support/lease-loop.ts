/** Driving a LeaseCoordinator without a scheduler (unit tests, the scale bench). */
import type { LeaseCoordinator, LeaseCoordinatorOptions } from '../../consumer/leases/lease-coordinator.js';

/** The unit tests' lease duration: the worker's default. */
export const TEST_LEASE_DURATION_MS = 10_000;

/** A coordinator's options with the worker's default timings, unlimited leases, and `extra` over them. */
export function testLeaseOptions(
  workerId: string,
  extra: Partial<LeaseCoordinatorOptions> = {},
): LeaseCoordinatorOptions {
  return {
    workerId,
    leaseDurationMs: TEST_LEASE_DURATION_MS,
    renewIntervalMs: 3_333,
    takerIntervalMs: 1_000,
    scanIntervalMs: 30_000,
    maxLeasesPerWorker: 10_000,
    maxLeasesToStealAtOnce: 1,
    ownerIndex: true,
    ...extra,
  };
}

/**
 * No shard consumer runs: a lease a peer asks for is confirmed stopped at once, as the scheduler does for a
 * lease nothing reads here.
 */
export function confirmHandoffsAtOnce(coordinator: LeaseCoordinator): void {
  coordinator.onAssignments(({ handOff }) => {
    for (const key of handOff) coordinator.consumerStopped(key);
  });
}
