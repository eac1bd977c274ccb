/**
 * Shared by the workflow tests: a local cluster on the run's DynamoDB Local, the control plane configured for
 * the local mode, and a fleet spec with fast worker timings so an end-to-end run takes seconds.
 */
import type { ControlPlaneConfig } from '../../core/control-plane-config.js';
import { type LocalCluster, startLocalCluster } from '../../local/cluster/index.js';
import { localFleetInput } from '../../local/workflows/examples.js';
import { uniqueName } from '../support/fleet.js';

export { FAST_WORKER_ENV } from '../../local/workflows/examples.js';

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
  return localFleetInput(clusterName, uniqueName('wf'), overrides);
}

/** Short waits and retries for local runs. */
export const FAST_RUN = { waitMs: 1_000, retryMs: 50, timeoutMs: 240_000 } as const;
