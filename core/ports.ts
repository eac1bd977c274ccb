/**
 * What the handlers see: ports, not SDKs. `controlPlanePorts()` builds them once per process from the
 * configuration (CLUSTER_MODE=eks|local): in eks mode the cluster is an EKS cluster reached through the
 * Kubernetes API, IAM is IAM, alerts go to SNS and metrics to CloudWatch; in local mode the cluster is one
 * the local runtime registered (local/cluster), and IAM, alerts and metrics are in-memory stand-ins that
 * the local runtime shares (`localServices`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import {
  AwsClients,
  ClusterMode,
  type ControlPlaneConfig,
  controlPlaneConfig,
  type LocalCredentials,
} from './control-plane-config.js';
import { AwsIam, type IamPort, LocalIam } from './iam/iam.js';
import { type Cluster, findLocalCluster } from './kubernetes/cluster.js';
import type { connectEksCluster } from './kubernetes/eks.js';
import { type AlertSink, LocalAlertSink, SnsAlertSink } from './verification/alarms.js';
import { CloudWatchMetricsSink, LocalMetricsSink, type MetricsSink } from './verification/fleet-metrics.js';
import { PreconditionError } from './vocabulary/errors.js';

export interface ControlPlanePorts {
  readonly config: ControlPlaneConfig;
  readonly dynamodb: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
  readonly iam: IamPort;
  readonly metrics: MetricsSink;
  /** The alerts topic: `topicArn` from the input wins over ALERTS_TOPIC_ARN (eks mode). */
  alerts(topicArn?: string): AlertSink;
}

/** The ports of a function that talks to its cluster (its handler names `cluster`, see core/handler.ts). */
export interface ClusterPorts extends ControlPlanePorts {
  /** The cluster named in the input: an EKS cluster, or a running local cluster. */
  cluster(name: string): Promise<Cluster>;
}

/** How a function reaches an EKS cluster: core/kubernetes/eks.ts's `connectEksCluster`. */
export type EksConnector = typeof connectEksCluster;

let eksConnector: EksConnector | undefined;

/**
 * The functions that talk to their cluster name the EKS connection in their handler spec (`cluster`), which
 * registers it here; only their bundles then carry the Kubernetes client (about 0.9 MB). The others never
 * import it, so a cluster asked of one of them is a wiring mistake, said as such.
 */
export function connectClustersWith(connector: EksConnector): void {
  eksConnector = connector;
}

/** The local mode's shared stand-ins for IAM, the alerts topic and CloudWatch metrics. */
export const localServices = {
  iam: new LocalIam(),
  alerts: new LocalAlertSink(),
  metrics: new LocalMetricsSink(),
};

export function createControlPlanePorts(
  config: ControlPlaneConfig,
  credentials?: LocalCredentials,
): ClusterPorts {
  const clients = new AwsClients(config, credentials);
  if (config.clusterMode === ClusterMode.Local) {
    return {
      config,
      dynamodb: clients.dynamodb(),
      streams: clients.streams(),
      iam: localServices.iam,
      metrics: localServices.metrics,
      cluster: async (name) => findLocalCluster(name),
      alerts: () => localServices.alerts,
    };
  }
  const clusters = new Map<string, Promise<Cluster>>();
  return {
    config,
    dynamodb: clients.dynamodb(),
    streams: clients.streams(),
    iam: new AwsIam(clients.iam(), clients.sts()),
    metrics: new CloudWatchMetricsSink(clients.cloudwatch()),
    cluster(name) {
      let cluster = clusters.get(name);
      if (!cluster) {
        if (!eksConnector) {
          throw new PreconditionError(
            `This function asked for cluster "${name}", but its handler names no way to reach an EKS cluster.`,
            'pass `cluster: connectEksCluster` (core/kubernetes/eks.ts) to controlPlaneHandler in its functions/ entry, then build and deploy again.',
          );
        }
        const sts = clients.sts();
        cluster = eksConnector({
          eks: clients.eks(),
          clusterName: name,
          region: config.region,
          credentials: () => sts.config.credentials(),
        });
        clusters.set(name, cluster);
        // A failed lookup is not remembered: the next invocation tries again.
        cluster.catch(() => clusters.delete(name));
      }
      return cluster;
    },
    alerts(topicArn) {
      const arn = topicArn ?? config.alertsTopicArn;
      if (!arn) {
        throw new PreconditionError(
          'No alerts topic is configured.',
          'set ALERTS_TOPIC_ARN on the handle-alarm function, or pass alertsTopicArn in the input.',
        );
      }
      return new SnsAlertSink(clients.sns(), arn);
    },
  };
}

let current: ClusterPorts | undefined;
/** Whether `current` was built from a configuration (and may be rebuilt with other credentials). */
let currentFromConfig = false;
/** Local mode: the ports of each role session an invocation ran as, by access key id. */
const byCredentials = new Map<string, ClusterPorts>();
const invocationCredentials = new AsyncLocalStorage<LocalCredentials>();

/**
 * Local mode: runs `fn` (one handler invocation) with its AWS clients signing as `credentials` — a session of
 * the role the function has when deployed (local/workflows/run.ts gets it from the CDK app), so the strict
 * layer judges its calls by that role's policies. On AWS, Lambda gives each function its role; this is the
 * local runtime's way to do the same for handlers that share one process.
 */
export function withInvocationCredentials<T>(credentials: LocalCredentials, fn: () => T): T {
  return invocationCredentials.run(credentials, fn);
}

/** The process's ports, built from the environment on first use (with the invocation's credentials, locally). */
export function controlPlanePorts(): ClusterPorts {
  if (!current) {
    current = createControlPlanePorts(controlPlaneConfig());
    currentFromConfig = true;
  }
  const credentials = invocationCredentials.getStore();
  if (!credentials || !currentFromConfig || current.config.clusterMode !== ClusterMode.Local) return current;
  let ports = byCredentials.get(credentials.accessKeyId);
  if (!ports) {
    ports = createControlPlanePorts(current.config, credentials);
    byCredentials.set(credentials.accessKeyId, ports);
  }
  return ports;
}

/** Replaces the process's ports (the local runtime, tests); returns the new ones. */
export function configureControlPlane(config: ControlPlaneConfig | ClusterPorts): ClusterPorts {
  currentFromConfig = !('dynamodb' in config);
  current = 'dynamodb' in config ? config : createControlPlanePorts(config);
  byCredentials.clear();
  return current;
}

/** Forgets the configured ports; the next `controlPlanePorts()` reads the environment again. */
export function resetControlPlane(): void {
  current = undefined;
  currentFromConfig = false;
  byCredentials.clear();
}
