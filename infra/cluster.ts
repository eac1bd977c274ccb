/**
 * The EKS cluster the fleet runs on, with aws-eks-v2 (in aws-cdk-lib) and the matching kubectl layer:
 * - `create`: a new Auto Mode cluster (Kubernetes 1.35) in a new VPC with flow logs and every control-plane
 *   log type, and KEDA installed from its Helm chart;
 * - `import`: an existing cluster by name (context `clusterName`, e.g. the recipe's eksctl cluster); KEDA is
 *   installed only with `installKeda=true`, through a kubectl provider that gets its own access entry.
 * Either way the control-plane role gets an EKS access entry (no aws-auth ConfigMap), so the workflow
 * functions can apply the fleet's objects with a token made like `aws eks get-token`.
 */
import { KubectlV35Layer } from '@aws-cdk/lambda-layer-kubectl-v35';
import { Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { KEDA_CHART } from './config.js';

/** The Kubernetes version of a cluster the app creates; the kubectl layer above must match it. */
export const KUBERNETES_VERSION = eks.KubernetesVersion.V1_35;

/**
 * What the control-plane role may do in Kubernetes. The workflows create a namespace, ServiceAccounts,
 * Deployments and KEDA's ScaledObject/TriggerAuthentication (custom resources), patch KEDA's own
 * ServiceAccount in another namespace and restart its Deployment: more than the namespace-scoped edit/admin
 * policies cover, so cluster admin, scoped to this one role.
 */
export const CONTROL_PLANE_ACCESS_POLICY = 'AmazonEKSClusterAdminPolicy';

export interface FleetClusterProps {
  mode: 'create' | 'import';
  clusterName: string;
  installKeda: boolean;
  kedaVersion: string;
  /** The role of the workflow functions: gets an access entry. */
  controlPlaneRole: iam.IRole;
  /** An operator's role that may use kubectl on a cluster the app creates. */
  clusterAdminRoleArn: string | undefined;
  logRetention: logs.RetentionDays;
}

function clusterAdmin(): eks.IAccessPolicy {
  return eks.AccessPolicy.fromAccessPolicyName(CONTROL_PLANE_ACCESS_POLICY, {
    accessScopeType: eks.AccessScopeType.CLUSTER,
  });
}

export class FleetCluster extends Construct {
  readonly cluster: eks.ICluster;
  /** The OIDC issuer without `https://`, when the app creates the cluster (a deploy-time value). */
  readonly oidcIssuerHostPath: string | undefined;
  readonly keda: eks.HelmChart | undefined;
  readonly kubectlProvider: eks.IKubectlProvider | undefined;

  constructor(scope: Construct, id: string, props: FleetClusterProps) {
    super(scope, id);
    const kubectlLayer = () => new KubectlV35Layer(this, 'KubectlLayer');
    let installAfter: Construct | undefined;

    if (props.mode === 'create') {
      const flowLogs = new logs.LogGroup(this, 'VpcFlowLogs', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 1,
        flowLogs: {
          all: {
            destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
            trafficType: ec2.FlowLogTrafficType.ALL,
          },
        },
      });
      const cluster = new eks.Cluster(this, 'Cluster', {
        clusterName: props.clusterName,
        version: KUBERNETES_VERSION,
        vpc,
        kubectlProviderOptions: { kubectlLayer: kubectlLayer() },
        clusterLogging: [
          eks.ClusterLoggingTypes.API,
          eks.ClusterLoggingTypes.AUDIT,
          eks.ClusterLoggingTypes.AUTHENTICATOR,
          eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
          eks.ClusterLoggingTypes.SCHEDULER,
        ],
      });
      if (props.clusterAdminRoleArn !== undefined) {
        cluster.grantAccess('OperatorAccess', props.clusterAdminRoleArn, [clusterAdmin()]);
      }
      this.cluster = cluster;
      this.kubectlProvider = cluster.kubectlProvider;
      this.oidcIssuerHostPath = Fn.select(1, Fn.split('https://', cluster.clusterOpenIdConnectIssuerUrl));
    } else {
      const imported = eks.Cluster.fromClusterAttributes(this, 'Imported', {
        clusterName: props.clusterName,
      });
      this.oidcIssuerHostPath = undefined;
      if (props.installKeda) {
        const provider = new eks.KubectlProvider(this, 'KubectlProvider', {
          cluster: imported,
          kubectlLayer: kubectlLayer(),
        });
        if (provider.role === undefined)
          throw new Error('the kubectl provider has no role to grant access to');
        installAfter = new eks.AccessEntry(this, 'KubectlProviderAccess', {
          cluster: imported,
          principal: provider.role.roleArn,
          accessPolicies: [clusterAdmin()],
        });
        this.kubectlProvider = provider;
        this.cluster = eks.Cluster.fromClusterAttributes(this, 'Cluster', {
          clusterName: props.clusterName,
          kubectlProvider: provider,
        });
      } else {
        this.kubectlProvider = undefined;
        this.cluster = imported;
      }
    }

    new eks.AccessEntry(this, 'ControlPlaneAccess', {
      cluster: this.cluster,
      principal: props.controlPlaneRole.roleArn,
      accessPolicies: [clusterAdmin()],
    });

    if (props.installKeda) {
      this.keda = new eks.HelmChart(this, 'Keda', {
        cluster: this.cluster,
        repository: KEDA_CHART.repository,
        chart: KEDA_CHART.chart,
        release: KEDA_CHART.release,
        namespace: KEDA_CHART.namespace,
        createNamespace: true,
        version: props.kedaVersion,
        wait: true,
        timeout: Duration.minutes(10),
      });
      if (installAfter !== undefined) this.keda.node.addDependency(installAfter);
    } else {
      this.keda = undefined;
    }
  }
}
