/**
 * The fleet npm start sets up (the setup workflow's fleet input): users → users_replica, or an example processor
 * instead of replication (`--processor`), on the local cluster, with worker timings for a demo that fits in
 * minutes and checks that read every item.
 */
import { DEFAULT_READ_BUDGET } from '../../core/fleet/fleet.js';
import type { ScalingConfig } from '../../core/kubernetes/keda.js';
import type { ExampleProcessor } from './example-processor.js';

export const FLEET_NAME = 'users-replicator';
export const NAMESPACE = 'streamfleet';

/** Worker timings for a demo that fits in minutes (each is a documented variable of consumer/config.ts). */
export const DEMO_WORKER_ENV = {
  LEASE_DURATION_MS: '6000',
  LEASE_TAKER_INTERVAL_MS: '500',
  SHARD_SYNC_INTERVAL_MS: '2000',
  IDLE_TIME_BETWEEN_READS_MS: '200',
  SHUTDOWN_TIMEOUT_MS: '5000',
  LOG_LEVEL: 'warn',
} as const;

export function localFleet(input: {
  example: ExampleProcessor | undefined;
  /** The ScaledObject's numbers as they are now. */
  scaling: ScalingConfig;
  /** Items the load will write. */
  itemsPlanned: number;
}) {
  const { example, scaling } = input;
  return {
    name: FLEET_NAME,
    clusterName: 'local',
    namespace: NAMESPACE,
    sourceTableName: 'users',
    // An example processor replaces replication: no replica, its module and grants instead.
    replicaTableName: example ? undefined : 'users_replica',
    ...(example ? { processor: example.processor } : {}),
    applicationName: FLEET_NAME,
    image: 'streamfleet:local',
    tables: { create: true },
    scaling: {
      mode: 'classic',
      shardCount: scaling.shardCount,
      maxReplicaCount: scaling.maxReplicaCount,
      pollingIntervalSeconds: 1,
    },
    workerEnv: { ...DEMO_WORKER_ENV, ...example?.workerEnv },
    // The summary says the replica equals the source: a read budget that pays for every item (a census).
    checks: {
      leaseSampleMs: 2_000,
      maxLagMs: 60_000,
      readBudget: Math.max(DEFAULT_READ_BUDGET, Math.ceil(input.itemsPlanned * 1.2) + 1_000),
      maxSampleSeconds: 600,
    },
  };
}
