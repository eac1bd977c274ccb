/**
 * Alerting: an encrypted SNS topic (handle-alarm publishes its diagnosis there), the CloudWatch alarms on
 * the fleet's health and on the workflows, and an EventBridge rule that starts the alarm-reaction workflow
 * on every state change of those alarms, with the fleet from context and the event as its input.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ALARM_EVENT_DETAIL_TYPE } from '../core/verification/alarms.js';
import { METRICS_NAMESPACE } from './control-plane.js';

/** The alarms, by what they watch. Names are `<stack>-<key>`. */
export const AlarmKey = {
  VerifyFailed: 'verify-failed',
  SetupFailed: 'setup-failed',
  ReplicationLag: 'replication-lag',
  UnownedLeases: 'unowned-leases',
  ScalingUnhealthy: 'scaling-unhealthy',
  ReplicationUnhealthy: 'replication-unhealthy',
} as const;
export type AlarmKey = (typeof AlarmKey)[keyof typeof AlarmKey];

export class AlertsTopic extends Construct {
  readonly key: kms.Key;
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: { alertEmail: string | undefined }) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: `Streamfleet alerts topic (${Stack.of(this).stackName})`,
      enableKeyRotation: true,
      // `cdk destroy` schedules the key's deletion (after the pending window) instead of leaving it behind.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Streamfleet alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (props.alertEmail !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alertEmail));
    }
  }
}

/** One datapoint per verify run: a period of the schedule's interval, at least CloudWatch's 5 minutes here. */
export function verifyPeriod(verifyEveryMinutes: number): Duration {
  return Duration.minutes(Math.max(5, verifyEveryMinutes));
}

/** A fleet metric `verify` publishes (namespace Streamfleet, dimension ApplicationName). */
export function fleetHealthMetric(input: {
  applicationName: string;
  metricName: string;
  statistic: string;
  period: Duration;
  label?: string;
}): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: input.metricName,
    dimensionsMap: { ApplicationName: input.applicationName },
    statistic: input.statistic,
    period: input.period,
    ...(input.label === undefined ? {} : { label: input.label }),
  });
}

export interface AlarmsProps {
  applicationName: string;
  setup: sfn.IStateMachine;
  verify: sfn.IStateMachine;
  alarmReaction: sfn.IStateMachine;
  /** The `fleet` object the alarm-reaction workflow is started with. */
  fleetInput: Record<string, unknown>;
  /** How often verify runs (and so how often the fleet metrics get a datapoint). */
  verifyEveryMinutes: number;
  replicationLagThresholdMs: number;
}

export class FleetAlarms extends Construct {
  readonly alarms: Record<AlarmKey, cloudwatch.Alarm>;
  readonly reactionRule: events.Rule;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    const period = verifyPeriod(props.verifyEveryMinutes);
    const fleetMetric = (metricName: string, statistic: string) =>
      fleetHealthMetric({ applicationName: props.applicationName, metricName, statistic, period });
    const make = (
      key: AlarmKey,
      description: string,
      options: cloudwatch.CreateAlarmOptions & { metric: cloudwatch.IMetric },
    ) =>
      new cloudwatch.Alarm(this, key, {
        alarmName: `${stackName}-${key}`,
        alarmDescription: description,
        ...options,
      });

    const failures = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    // Health metrics get one datapoint per verify run: two bad runs in a row before an alarm.
    const twoRuns = {
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    };
    this.alarms = {
      [AlarmKey.VerifyFailed]: make(
        AlarmKey.VerifyFailed,
        'A verify execution failed: the fleet is unhealthy (the execution Cause says why) or a check could not run.',
        {
          metric: props.verify.metricFailed({ period, statistic: 'Sum' }),
          ...failures,
        },
      ),
      [AlarmKey.SetupFailed]: make(
        AlarmKey.SetupFailed,
        'A setup execution failed: its Error and Cause say what to fix before starting it again.',
        {
          metric: props.setup.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
          ...failures,
        },
      ),
      [AlarmKey.ReplicationLag]: make(
        AlarmKey.ReplicationLag,
        `Replication lag above ${props.replicationLagThresholdMs} ms on two verify runs in a row.`,
        {
          metric: fleetMetric('ReplicationLag', 'Maximum'),
          threshold: props.replicationLagThresholdMs,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          ...twoRuns,
        },
      ),
      [AlarmKey.UnownedLeases]: make(
        AlarmKey.UnownedLeases,
        'Unfinished shards leased by no worker on two verify runs in a row.',
        {
          metric: fleetMetric('UnownedLeases', 'Maximum'),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          ...twoRuns,
        },
      ),
      [AlarmKey.ScalingUnhealthy]: make(
        AlarmKey.ScalingUnhealthy,
        'The scaling check failed on two verify runs in a row (ScalingHealthy = 0): replicas not ready, expired leases, or KEDA not scaling as it should.',
        {
          metric: fleetMetric('ScalingHealthy', 'Minimum'),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          ...twoRuns,
        },
      ),
      [AlarmKey.ReplicationUnhealthy]: make(
        AlarmKey.ReplicationUnhealthy,
        'The replication check failed on two verify runs in a row (ReplicationHealthy = 0): the consumers are failing to replicate (missing or differing items, or lag).',
        {
          metric: fleetMetric('ReplicationHealthy', 'Minimum'),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          ...twoRuns,
        },
      ),
    };

    this.reactionRule = new events.Rule(this, 'AlarmReaction', {
      description: 'Starts the alarm-reaction workflow when a Streamfleet alarm changes state',
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: [ALARM_EVENT_DETAIL_TYPE],
        resources: Object.values(this.alarms).map((alarm) => alarm.alarmArn),
      },
      targets: [
        new targets.SfnStateMachine(props.alarmReaction, {
          input: events.RuleTargetInput.fromObject({
            fleet: props.fleetInput,
            event: events.EventField.fromPath('$'),
          }),
          retryAttempts: 4,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });
  }
}
