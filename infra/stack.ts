/**
 * Streamfleet on AWS for one fleet: the control plane (eleven functions, five workflows), the cluster access
 * (and, when the app creates it, the cluster and KEDA), the consumer image, the scheduled verification, and
 * the alarms with their reaction. Environment-agnostic (no lookups): `cdk synth` needs no credentials.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { Workflow } from '../core/workflows.js';
import { AlertsTopic, FleetAlarms } from './alerts.js';
import { FleetCluster } from './cluster.js';
import { ImagePlatform, type InfraConfig } from './config.js';
import { ControlPlane, REPO_ROOT } from './control-plane.js';
import { FleetDashboard } from './dashboard.js';
import { acknowledgeNagFindings } from './nag.js';
import { Workflows } from './workflows.js';

/** The Dockerfile of the consumer image, relative to the build context (the repository root). */
export const CONSUMER_DOCKERFILE = 'consumer/Dockerfile';

/** The load the SetupInput output suggests (the README's example). */
export const EXAMPLE_LOAD = { batches: 10, itemsPerBatch: 100, ratePerSecond: 100 } as const;

export interface StreamfleetStackProps extends StackProps {
  config: InfraConfig;
  /** Where the Lambda bundles are (dist/functions by default). */
  distDir?: string;
  /** Make the cdk-nag acknowledgements (default true; the nag test turns them off to see every finding). */
  acknowledgeNagFindings?: boolean;
}

export class StreamfleetStack extends Stack {
  readonly controlPlane: ControlPlane;
  readonly workflows: Workflows;
  readonly fleetCluster: FleetCluster;
  readonly alerts: AlertsTopic;
  readonly alarms: FleetAlarms;
  readonly dashboard: FleetDashboard;
  readonly verifySchedule: scheduler.Schedule;
  readonly consumerImage: DockerImageAsset | undefined;

  constructor(scope: Construct, id: string, props: StreamfleetStackProps) {
    super(scope, id, {
      description: `Streamfleet: DynamoDB Streams consumers on EKS scaled by KEDA (fleet ${props.config.fleet.name})`,
      ...props,
    });
    const { config } = props;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.alerts = new AlertsTopic(this, 'Alerts', { alertEmail: config.alertEmail });
    this.controlPlane = new ControlPlane(this, 'ControlPlane', {
      fleet: config.fleet,
      alertsTopic: this.alerts.topic,
      alertsKey: this.alerts.key,
      logRetention,
      ...(props.distDir === undefined ? {} : { distDir: props.distDir }),
    });
    this.fleetCluster = new FleetCluster(this, 'Cluster', {
      mode: config.cluster.mode,
      clusterName: config.cluster.name,
      installKeda: config.cluster.installKeda,
      kedaVersion: config.kedaVersion,
      controlPlaneRole: this.controlPlane.role,
      clusterAdminRoleArn: config.clusterAdminRoleArn,
      logRetention,
    });
    this.controlPlane.grantCluster({
      clusterArn: this.fleetCluster.cluster.clusterArn,
      oidcIssuerHostPath: this.fleetCluster.oidcIssuerHostPath,
    });
    this.workflows = new Workflows(this, 'Workflows', { controlPlane: this.controlPlane, logRetention });
    const machines = this.workflows.stateMachines;

    this.consumerImage = config.buildConsumerImage
      ? new DockerImageAsset(this, 'ConsumerImage', {
          directory: REPO_ROOT,
          file: CONSUMER_DOCKERFILE,
          platform:
            config.consumerImagePlatform === ImagePlatform.Arm64
              ? Platform.LINUX_ARM64
              : Platform.LINUX_AMD64,
        })
      : undefined;
    const image = this.consumerImage?.imageUri ?? config.fleet.image;

    this.verifySchedule = new scheduler.Schedule(this, 'VerifySchedule', {
      description: `Starts the verify workflow for fleet ${config.fleet.name} every ${config.verifyEveryMinutes} min`,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(config.verifyEveryMinutes)),
      enabled: config.verifyScheduleEnabled,
      target: new schedulerTargets.StepFunctionsStartExecution(machines[Workflow.Verify], {
        input: scheduler.ScheduleTargetInput.fromObject({ fleet: config.fleetInput }),
        retryAttempts: 2,
        maxEventAge: Duration.minutes(Math.max(1, config.verifyEveryMinutes)),
      }),
    });

    this.alarms = new FleetAlarms(this, 'Alarms', {
      applicationName: config.fleet.applicationName,
      setup: machines[Workflow.Setup],
      verify: machines[Workflow.Verify],
      alarmReaction: machines[Workflow.AlarmReaction],
      fleetInput: config.fleetInput,
      verifyEveryMinutes: config.verifyEveryMinutes,
      replicationLagThresholdMs: config.replicationLagThresholdMs,
    });
    this.dashboard = new FleetDashboard(this, 'Dashboard', {
      applicationName: config.fleet.applicationName,
      alarms: this.alarms.alarms,
      stateMachines: {
        setup: machines[Workflow.Setup],
        verify: machines[Workflow.Verify],
        compare: machines[Workflow.Compare],
      },
      verifyEveryMinutes: config.verifyEveryMinutes,
    });

    const output = (key: string, value: string, description: string) =>
      new CfnOutput(this, key, { value, description });
    output('SetupStateMachineArn', machines[Workflow.Setup].stateMachineArn, 'Start setup here');
    output('VerifyStateMachineArn', machines[Workflow.Verify].stateMachineArn, 'Started on a schedule');
    output(
      'AlarmReactionStateMachineArn',
      machines[Workflow.AlarmReaction].stateMachineArn,
      'Started by the alarm rule',
    );
    output('TeardownStateMachineArn', machines[Workflow.Teardown].stateMachineArn, 'Removes the fleet');
    output(
      'CompareStateMachineArn',
      machines[Workflow.Compare].stateMachineArn,
      'A full comparison of source and replica, on demand',
    );
    output('AlertsTopicArn', this.alerts.topic.topicArn, 'Diagnoses from the alarm-reaction workflow');
    output('ClusterName', this.fleetCluster.cluster.clusterName, 'The EKS cluster of the fleet');
    output('ControlPlaneRoleArn', this.controlPlane.role.roleArn, 'The workflow functions’ role');
    output('LeaseTableName', config.fleet.applicationName, 'The lease table (APPLICATION_NAME)');
    if (image !== undefined) output('ConsumerImageUri', image, 'The consumer image setup deploys');
    output(
      'SetupInput',
      this.toJsonString({ fleet: { ...config.fleetInput, ...(image ? { image } : {}) }, load: EXAMPLE_LOAD }),
      'A start-execution input for setup: the fleet from context with the image filled in',
    );
    output(
      'VerifyInput',
      this.toJsonString({ fleet: config.fleetInput }),
      'The input the schedule starts verify with',
    );

    if (props.acknowledgeNagFindings !== false) acknowledgeNagFindings(this);
  }
}
