/**
 * What the handlers see: ports, not SDKs. `controlPlanePorts()` builds them once per process from the
 * configuration (CLUSTER_MODE=eks|local): in eks mode the cluster is an EKS cluster reached through the
 * Kubernetes API, IAM is IAM, alerts go to SNS and metrics to CloudWatch; in local mode the cluster is one
 * the local runtime registered (local/cluster), and IAM, alerts and metrics are in-memory stand-ins that
 * the local runtime shares (`localServices`).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { type AlertSink, LocalAlertSink, SnsAlertSink } from './alarms.js';
import { type Cluster, findLocalCluster } from './cluster.js';
import {
  AwsClients,
  ClusterMode,
  type ControlPlaneConfig,
  controlPlaneConfig,
} from './control-plane-config.js';
import { connectEksCluster } from './eks.js';
import { PreconditionError } from './errors.js';
import { CloudWatchMetricsSink, LocalMetricsSink, type MetricsSink } from './fleet-metrics.js';
import { AwsIam, type IamPort, LocalIam } from './iam.js';

export interface ControlPlanePorts {
  readonly config: ControlPlaneConfig;
  readonly dynamodb: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
  readonly iam: IamPort;
  readonly metrics: MetricsSink;
  /** The cluster named in the input: an EKS cluster, or a running local cluster. */
  cluster(name: string): Promise<Cluster>;
  /** The alerts topic: `topicArn` from the input wins over ALERTS_TOPIC_ARN (eks mode). */
  alerts(topicArn?: string): AlertSink;
}

/** The local mode's shared stand-ins for IAM, the alerts topic and CloudWatch metrics. */
export const localServices = {
  iam: new LocalIam(),
  alerts: new LocalAlertSink(),
  metrics: new LocalMetricsSink(),
};

export function createControlPlanePorts(config: ControlPlaneConfig): ControlPlanePorts {
  const clients = new AwsClients(config);
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
        const sts = clients.sts();
        cluster = connectEksCluster({
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

let current: ControlPlanePorts | undefined;

/** The process's ports, built from the environment on first use. */
export function controlPlanePorts(): ControlPlanePorts {
  current ??= createControlPlanePorts(controlPlaneConfig());
  return current;
}

/** Replaces the process's ports (the local runtime, tests); returns the new ones. */
export function configureControlPlane(config: ControlPlaneConfig | ControlPlanePorts): ControlPlanePorts {
  current = 'dynamodb' in config ? config : createControlPlanePorts(config);
  return current;
}

/** Forgets the configured ports; the next `controlPlanePorts()` reads the environment again. */
export function resetControlPlane(): void {
  current = undefined;
}
