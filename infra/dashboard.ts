/**
 * A CloudWatch dashboard beside the alarms: the alarms' state at the top, then each alarm's own metric with its
 * threshold, then the fleet metrics `verify` publishes (scaling and replication) and the workflows' executions.
 * The workers' own counters (records/s, leases per worker, throttles, conflicts, errors) are Prometheus metrics on
 * each pod's /metrics: the Grafana dashboard in consumer/observability/grafana-dashboard.json shows those.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { type AlarmKey, fleetHealthMetric, verifyPeriod } from './alerts.js';

export interface FleetDashboardProps {
  applicationName: string;
  alarms: Record<AlarmKey, cloudwatch.Alarm>;
  stateMachines: { setup: sfn.IStateMachine; verify: sfn.IStateMachine; compare: sfn.IStateMachine };
  verifyEveryMinutes: number;
}

export class FleetDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: FleetDashboardProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    const period = verifyPeriod(props.verifyEveryMinutes);
    const fleet = (metricName: string, label: string, statistic = 'Maximum') =>
      fleetHealthMetric({ applicationName: props.applicationName, metricName, statistic, period, label });
    const alarms = Object.values(props.alarms);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${stackName}-fleet`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# Streamfleet: ${props.applicationName}\nFleet metrics come from the \`verify\` workflow (every ${props.verifyEveryMinutes} min); each pod's own counters are on its \`/metrics\` (the Grafana dashboard in the repository).`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 3 }),
    );
    // Each alarm's own metric with its threshold, so what fired reads at a glance.
    this.dashboard.addWidgets(
      ...Object.entries(props.alarms).map(
        ([key, alarm]) =>
          new cloudwatch.GraphWidget({
            title: `${stackName}-${key}`,
            left: [alarm.metric],
            leftAnnotations: [alarm.toAnnotation()],
            width: 8,
            height: 6,
          }),
      ),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Replicas: KEDA's formula, what the unfinished shards need, what runs",
        left: [
          fleet('KedaSteadyStateReplicas', "KEDA's formula"),
          fleet('NeededReplicas', 'needed'),
          fleet('DesiredReplicas', 'desired'),
          fleet('ReadyReplicas', 'ready'),
        ],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Shards and leases',
        left: [fleet('Shards', 'shards listed'), fleet('UnfinishedShards', 'unfinished shards')],
        right: [fleet('UnownedLeases', 'unowned leases'), fleet('ExpiredLeases', 'expired leases')],
        width: 12,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Replication lag (ms, upper bound from the lease table)',
        left: [fleet('ReplicationLag', 'lag bound')],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Replica check: missing, differing and extra items',
        left: [
          fleet('MissingItems', 'missing'),
          fleet('DifferingItems', 'differing'),
          fleet('ExtraItems', 'extra'),
        ],
        right: [fleet('MismatchRateUpperBound', 'mismatch rate bound (%)')],
        width: 12,
        height: 6,
      }),
    );
    const executions = (machine: sfn.IStateMachine, name: string) => [
      machine.metricSucceeded({ period, statistic: 'Sum', label: `${name} succeeded` }),
      machine.metricFailed({ period, statistic: 'Sum', label: `${name} failed` }),
    ];
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Workflow executions',
        left: [
          ...executions(props.stateMachines.verify, 'verify'),
          ...executions(props.stateMachines.setup, 'setup'),
          ...executions(props.stateMachines.compare, 'compare'),
        ],
        width: 24,
        height: 6,
      }),
    );
  }
}
