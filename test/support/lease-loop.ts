/** Driving a LeaseCoordinator without a scheduler (unit tests, the scale bench). */
import type { LeaseCoordinator } from '../../consumer/leases/lease-coordinator.js';

/**
 * No shard consumer runs: a lease a peer asks for is confirmed stopped at once, as the scheduler does for a
 * lease nothing reads here.
 */
export function confirmHandoffsAtOnce(coordinator: LeaseCoordinator): void {
  coordinator.onAssignments(({ handOff }) => {
    for (const key of handOff) coordinator.consumerStopped(key);
  });
}
