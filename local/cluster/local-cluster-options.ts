/** How a LocalCluster is made: its IAM, STS, launcher, API backend and listeners. */
import type { LocalIam } from '../../core/iam/iam.js';
import type { LocalMetricsSink } from '../../core/verification/fleet-metrics.js';
import type { LocalSts } from '../identities/sts.js';
import type { WorkerLauncher } from './launcher.js';

export interface LocalClusterOptions {
  name: string;
  /** DynamoDB Local, which the workers and the local KEDA use. */
  dynamodbEndpoint: string;
  /** The SDK region for the local KEDA. Default us-east-1. */
  region?: string;
  /** Whether KEDA is installed (its CRDs served, its operator present). Default true. */
  keda?: boolean;
  /** Overrides every ScaledObject's pollingInterval (seconds) with this many milliseconds. */
  pollingIntervalMs?: number;
  /** How often pods are probed for readiness. Default 500 ms. */
  readinessIntervalMs?: number;
  /** Pause before a crashed worker is started again. Default 1 s. */
  restartBackoffMs?: number;
  /** Variables added to every worker after the Deployment's own (like a node's injected settings). */
  workerEnv?: Record<string, string>;
  /** Where to write a JSON snapshot of the cluster after each change, for people and tools to read. */
  stateFile?: string;
  launcher?: WorkerLauncher;
  iam?: LocalIam;
  /**
   * Hands out role-session credentials to pods and the local KEDA. Default: registered with the strict layer
   * at `dynamodbEndpoint` when one answers there, else the unchecked dummy credentials.
   */
  sts?: LocalSts;
  metrics?: LocalMetricsSink;
  /** Register under `name` for the handlers (default true). */
  register?: boolean;
  /** Where the cluster's own events go (scaling decisions, crashes). */
  log?: (line: string) => void;
}
