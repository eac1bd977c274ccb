/**
 * Shared by the workflow tests: a local cluster on the run's DynamoDB Local, the control plane configured for
 * the local mode, and a fleet spec with fast worker timings so an end-to-end run takes seconds.
 */
import type { ControlPlaneConfig } from '../../core/control-plane-config.js';
import { type LocalCluster, startLocalCluster } from '../../local/cluster/index.js';
import { uniqueName } from '../support/fleet.js';

export const FAST_WORKER_ENV = {
  LEASE_DURATION_MS: '3000',
  LEASE_TAKER_INTERVAL_MS: '300',
  SHARD_SYNC_INTERVAL_MS: '1000',
  IDLE_TIME_BETWEEN_READS_MS: '100',
  SHUTDOWN_TIMEOUT_MS: '5000',
  LOG_LEVEL: 'warn',
};

export function localControlPlane(endpoint: string): ControlPlaneConfig {
  return {
    clusterMode: 'local',
    region: 'us-east-1',
    endpoint,
    alertsTopicArn: undefined,
    metricsNamespace: 'Streamfleet',
  };
}

export async function startTestCluster(
  endpoint: string,
  options: { keda?: boolean } = {},
): Promise<LocalCluster> {
  return startLocalCluster({
    name: uniqueName('local'),
    dynamodbEndpoint: endpoint,
    pollingIntervalMs: 500,
    readinessIntervalMs: 200,
    ...(options.keda === undefined ? {} : { keda: options.keda }),
  });
}

export function testFleet(clusterName: string, overrides: Record<string, unknown> = {}) {
  const scaling: Record<string, string | number> = {
    mode: 'classic',
    shardCount: 1,
    maxReplicaCount: 3,
    pollingIntervalSeconds: 1,
    scaleDownStabilizationSeconds: 0,
  };
  const prefix = uniqueName('wf');
  return {
    name: 'users-replicator',
    clusterName,
    namespace: 'streamfleet',
    sourceTableName: `${prefix}-users`,
    replicaTableName: `${prefix}-users_replica`,
    applicationName: `${prefix}-app`,
    image: 'streamfleet:local',
    tables: { create: true },
    scaling,
    workerEnv: FAST_WORKER_ENV,
    checks: { leaseSampleMs: 3000, maxLagMs: 60000 },
    ...overrides,
  };
}

/** Short waits and retries for local runs. */
export const FAST_RUN = { waitMs: 1_000, retryMs: 50, timeoutMs: 240_000 } as const;
