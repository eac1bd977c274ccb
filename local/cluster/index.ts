/** The local-process cluster: the `Cluster` port's second adapter (see local-cluster.ts). */
export {
  type ClusterEvent,
  ClusterEventKind,
  type ClusterEventListener,
  describeClusterEvent,
} from './events.js';
export {
  CONSUMER_BUNDLE,
  type LaunchedWorker,
  type LaunchSpec,
  ProcessLauncher,
  type WorkerLauncher,
} from './launcher.js';
export { LocalCluster, startLocalCluster } from './local-cluster.js';
export type { LocalClusterOptions } from './local-cluster-options.js';
export type { ClusterSnapshot, PodSnapshot } from './state-file.js';
