/**
 * Inputs for short local runs of the workflows: a fleet on a local cluster with worker timings that make an
 * end-to-end run take seconds, and the EventBridge alarm event the alarm-reaction workflow starts with. Used by
 * the workflow tests and the least-privilege run (local/identities/proof.ts).
 */

import type { FleetSpec } from '../../core/fleet/fleet.js';

/** Worker timings for a run of seconds: short leases and taker passes, frequent shard syncs and reads. */
export const FAST_WORKER_ENV = {
  LEASE_DURATION_MS: '3000',
  LEASE_TAKER_INTERVAL_MS: '300',
  SHARD_SYNC_INTERVAL_MS: '1000',
  IDLE_TIME_BETWEEN_READS_MS: '100',
  SHUTDOWN_TIMEOUT_MS: '5000',
  LOG_LEVEL: 'warn',
} as const;

/** The `fleet` object of a workflow input, as `localFleetInput` makes it (fields may be overridden). */
export interface LocalFleetInput
  extends Pick<
    FleetSpec,
    | 'name'
    | 'clusterName'
    | 'namespace'
    | 'sourceTableName'
    | 'replicaTableName'
    | 'applicationName'
    | 'workerEnv'
  > {
  [field: string]: unknown;
  image: string;
  tables: { create: boolean };
  scaling: Record<string, string | number>;
  checks: Record<string, number>;
}

/** A fleet on `clusterName` whose tables are named after `prefix`, with `overrides` laid over. */
export function localFleetInput(
  clusterName: string,
  prefix: string,
  overrides: Record<string, unknown> = {},
): LocalFleetInput {
  const fleet: LocalFleetInput = {
    name: 'users-replicator',
    clusterName,
    namespace: 'streamfleet',
    sourceTableName: `${prefix}-users`,
    replicaTableName: `${prefix}-users_replica`,
    applicationName: `${prefix}-app`,
    image: 'streamfleet:local',
    tables: { create: true },
    scaling: {
      mode: 'classic',
      shardCount: 1,
      maxReplicaCount: 3,
      pollingIntervalSeconds: 1,
      scaleDownStabilizationSeconds: 0,
    },
    workerEnv: FAST_WORKER_ENV,
    checks: { leaseSampleMs: 3000, maxLagMs: 60000 },
  };
  // An override may give a field another shape on purpose (the wrong-input tests): it is the caller's.
  return { ...fleet, ...overrides } as LocalFleetInput;
}

/** The "CloudWatch Alarm State Change" event EventBridge sends when `alarmName` goes from OK to ALARM. */
export function exampleAlarmEvent(alarmName = 'users-replicator-replication') {
  return {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '000000000000',
    time: '2026-11-26T12:00:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:cloudwatch:us-east-1:000000000000:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: {
        value: 'ALARM',
        reason: 'Threshold Crossed: 1 datapoint [0.0] was less than the threshold (1.0).',
      },
      previousState: { value: 'OK' },
      configuration: { metrics: [{ metricStat: { metric: { name: 'ReplicationHealthy' } } }] },
    },
  };
}
