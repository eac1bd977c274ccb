/**
 * The local KEDA's two triggers, read as KEDA's scalers read them, signed as the trigger's session:
 * - `aws-dynamodb-streams`: DescribeTable for the stream, then every shard DescribeStream lists (closed ones
 *   included), against the trigger's `shardCount` per pod;
 * - `aws-cloudwatch`: the latest value of the metric from the local CloudWatch stand-in (not behind the
 *   strict layer, so its one action, cloudwatch:GetMetricData, is judged here), against `targetMetricValue`.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { accessDeniedMessage, Decision, evaluatePolicies } from '../../core/iam/iam-evaluation.js';
import type { LocalMetricsSink } from '../../core/verification/fleet-metrics.js';
import { listShards } from '../../core/vocabulary/shard.js';
import type { SessionCredentials } from '../identities/sts.js';
import type { KedaSession } from './keda-identity.js';
import type { ScaledObjectTrigger, TriggerTarget } from './scaled-object.js';

export interface TriggerReading extends TriggerTarget {
  metric: number;
}

export class KedaTriggers {
  /** One pair of clients per role session KEDA uses. */
  private readonly clients = new Map<string, { dynamodb: DynamoDBClient; streams: DynamoDBStreamsClient }>();

  constructor(private readonly options: { endpoint: string; region: string; metrics: LocalMetricsSink }) {}

  /** The trigger's metric and target, or why it cannot be read. AWS errors are thrown as they are. */
  async read(
    trigger: ScaledObjectTrigger,
    session: KedaSession,
  ): Promise<TriggerReading | { failure: string }> {
    if (trigger.type === 'aws-dynamodb-streams') {
      const tableName = trigger.metadata.tableName ?? '';
      const { dynamodb, streams } = this.clientsFor(session.credentials);
      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
      const streamArn = Table?.LatestStreamArn;
      if (!streamArn) return { failure: `table ${tableName} has no stream` };
      return {
        metric: (await listShards(streams, streamArn)).length,
        target: Number(trigger.metadata.shardCount ?? 2),
        activation: Number(trigger.metadata.activationShardCount ?? 0),
      };
    }
    if (trigger.type === 'aws-cloudwatch') {
      const request = { action: 'cloudwatch:GetMetricData', resource: '*' };
      const evaluation = await evaluatePolicies(session.policies, request);
      if (evaluation.decision !== Decision.Allow) {
        return {
          failure: `AccessDeniedException: ${accessDeniedMessage(session.principalArn, request, evaluation.decision)}`,
        };
      }
      const m = trigger.metadata;
      const value = this.options.metrics.latest(
        m.namespace ?? '',
        m.metricName ?? '',
        { [m.dimensionName ?? '']: m.dimensionValue ?? '' },
        { withinMs: Number(m.metricCollectionTime ?? 300) * 1000 },
      );
      return {
        metric: value ?? Number(m.minMetricValue ?? 0),
        target: Number(m.targetMetricValue ?? 1),
        activation: Number(m.activationTargetMetricValue ?? 0),
      };
    }
    return { failure: `trigger type ${trigger.type} is not emulated locally` };
  }

  private clientsFor(credentials: SessionCredentials): {
    dynamodb: DynamoDBClient;
    streams: DynamoDBStreamsClient;
  } {
    let clients = this.clients.get(credentials.accessKeyId);
    if (!clients) {
      const config = {
        endpoint: this.options.endpoint,
        region: this.options.region,
        credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
      };
      clients = { dynamodb: new DynamoDBClient(config), streams: new DynamoDBStreamsClient(config) };
      this.clients.set(credentials.accessKeyId, clients);
    }
    return clients;
  }

  close(): void {
    for (const clients of this.clients.values()) {
      clients.dynamodb.destroy();
      clients.streams.destroy();
    }
    this.clients.clear();
  }
}
