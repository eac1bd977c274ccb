/**
 * Reacting to a CloudWatch alarm: parse the EventBridge "CloudWatch Alarm State Change" event, combine it
 * with fresh check verdicts into a diagnosis a person can act on, and publish it to the alerts topic
 * (SNS on AWS; an in-memory sink locally).
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { FleetSpec } from '../fleet/fleet.js';
import { asTransientWhenRetriable } from '../tables/tables.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import { describeValue } from '../vocabulary/validation.js';
import type { ReplicationVerdict, ScalingVerdict } from './checks.js';

export const ALARM_EVENT_DETAIL_TYPE = 'CloudWatch Alarm State Change';

export interface AlarmChange {
  alarmName: string;
  alarmArn: string | undefined;
  /** ALARM, OK or INSUFFICIENT_DATA. */
  state: string;
  previousState: string | undefined;
  reason: string;
  time: string;
  metricNames: string[];
}

export function parseAlarmEvent(value: unknown, field = 'event'): AlarmChange {
  const event = value as
    | {
        'detail-type'?: unknown;
        time?: unknown;
        resources?: unknown;
        detail?: {
          alarmName?: unknown;
          state?: { value?: unknown; reason?: unknown; timestamp?: unknown };
          previousState?: { value?: unknown };
          configuration?: { metrics?: { metricStat?: { metric?: { name?: unknown } } }[] };
        };
      }
    | undefined;
  if (event === null || typeof event !== 'object') {
    throw new InvalidInputError(field, `expected an EventBridge event, got ${describeValue(value)}`);
  }
  if (event['detail-type'] !== ALARM_EVENT_DETAIL_TYPE) {
    throw new InvalidInputError(
      `${field}.detail-type`,
      `expected "${ALARM_EVENT_DETAIL_TYPE}", got ${describeValue(event['detail-type'])}`,
    );
  }
  const detail = event.detail;
  if (typeof detail?.alarmName !== 'string' || typeof detail.state?.value !== 'string') {
    throw new InvalidInputError(`${field}.detail`, 'expected alarmName and state.value');
  }
  const metricNames = (detail.configuration?.metrics ?? [])
    .map((m) => m.metricStat?.metric?.name)
    .filter((name): name is string => typeof name === 'string');
  const resources = Array.isArray(event.resources) ? (event.resources as unknown[]) : [];
  return {
    alarmName: detail.alarmName,
    alarmArn: typeof resources[0] === 'string' ? resources[0] : undefined,
    state: detail.state.value,
    previousState: typeof detail.previousState?.value === 'string' ? detail.previousState.value : undefined,
    reason: typeof detail.state.reason === 'string' ? detail.state.reason : '',
    time: typeof event.time === 'string' ? event.time : new Date().toISOString(),
    metricNames,
  };
}

export interface Alert {
  subject: string;
  message: string;
  attributes: Record<string, string>;
}

export interface AlertSink {
  publish(alert: Alert): Promise<{ messageId: string }>;
}

/** The message: what fired, what the checks see now, and what to do. */
export function diagnose(input: {
  fleet: FleetSpec;
  alarm: AlarmChange;
  scaling?: ScalingVerdict;
  replication?: ReplicationVerdict;
}): Alert & { healthy: boolean } {
  const { fleet, alarm, scaling, replication } = input;
  const verdicts = [scaling, replication].filter(
    (v): v is ScalingVerdict | ReplicationVerdict => v !== undefined,
  );
  const healthy = verdicts.every((v) => v.healthy);
  const recovered = alarm.state === 'OK';
  const status = recovered ? 'recovered' : healthy ? 'alarm, checks now healthy' : 'alarm confirmed';
  const subject = `[Streamfleet] ${fleet.name}: ${alarm.alarmName} ${status}`.slice(0, 100);
  const lines = [
    `Alarm ${alarm.alarmName} went ${alarm.previousState ?? '?'} → ${alarm.state} at ${alarm.time}.`,
    alarm.reason ? `CloudWatch says: ${alarm.reason}` : '',
    '',
    `Fleet ${fleet.name} (cluster ${fleet.clusterName}, namespace ${fleet.namespace}): ${fleet.sourceTableName} → ${fleet.replicaTableName}.`,
    ...verdicts.map((v) => `- ${v.summary}`),
  ];
  if (scaling) lines.push(`- Shards: ${scaling.figures.summary}`);
  lines.push('', 'What to do:');
  if (healthy) {
    lines.push(
      recovered
        ? '- Nothing: the alarm cleared and the checks agree.'
        : '- The checks pass now: the condition was transient. Watch the alarm; if it flaps, look at the worker logs around the alarm time.',
    );
  } else {
    if (scaling && !scaling.healthy) {
      lines.push(
        `- Scaling: kubectl -n ${fleet.namespace} get scaledobject,hpa,deploy,pods -l app.kubernetes.io/instance=${fleet.name}; kubectl -n ${fleet.keda.namespace} logs deploy/${fleet.keda.deploymentName}.`,
      );
    }
    if (replication && !replication.healthy) {
      lines.push(
        `- Replication: kubectl -n ${fleet.namespace} logs -l app.kubernetes.io/instance=${fleet.name} --tail=200; compare the lag metric with the write rate.`,
      );
    }
  }
  return {
    subject,
    message: lines.filter((line, i, all) => line !== '' || all[i - 1] !== '').join('\n'),
    attributes: { fleet: fleet.name, alarm: alarm.alarmName, state: alarm.state, healthy: String(healthy) },
    healthy,
  };
}

export class SnsAlertSink implements AlertSink {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(alert: Alert): Promise<{ messageId: string }> {
    try {
      const result = await this.sns.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          // SNS subjects: ASCII, no line breaks, at most 100 characters.
          Subject: alert.subject.replace(/[^\x20-\x7e]/g, '-').slice(0, 100),
          Message: alert.message,
          MessageAttributes: Object.fromEntries(
            Object.entries(alert.attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
          ),
        }),
      );
      return { messageId: result.MessageId ?? '' };
    } catch (error) {
      throw asTransientWhenRetriable(error);
    }
  }
}

/** The local mode's alerts topic: messages kept in memory (and handed to `onAlert`, e.g. a console). */
export class LocalAlertSink implements AlertSink {
  readonly alerts: (Alert & { messageId: string; at: string })[] = [];
  onAlert: ((alert: Alert) => void) | undefined;

  async publish(alert: Alert): Promise<{ messageId: string }> {
    const messageId = `local-${this.alerts.length + 1}`;
    this.alerts.push({ ...alert, messageId, at: new Date().toISOString() });
    this.onAlert?.(alert);
    return { messageId };
  }
}
