/** The KEDA objects of a fleet: its ScaledObject (one trigger by the scaling mode) and TriggerAuthentication. */
import {
  type IScaledObject,
  ScaledObject,
  TriggerAuthentication,
} from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { parseRoleArn, parseStreamArn } from '../vocabulary/arns.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import {
  describeValue,
  requireDns1123Label,
  requireDns1123Subdomain,
  requireInteger,
  requireTableName,
} from '../vocabulary/validation.js';
import { requireStreamRegion } from './consumer-deployment.js';
import { KEDA_DEFAULTS, ScalingMode, scalingConfig, UNFINISHED_SHARDS_METRIC } from './keda.js';
import { standardLabels, validated } from './manifests.js';

/** KEDA's trigger types. */
export const TriggerType = {
  DynamoDbStreams: 'aws-dynamodb-streams',
  CloudWatch: 'aws-cloudwatch',
} as const;
export type TriggerType = (typeof TriggerType)[keyof typeof TriggerType];

/** How KEDA reads the unfinished-shards metric: one datapoint a minute, newest within five minutes. */
export const CLOUDWATCH_QUERY = {
  metricStat: 'Maximum',
  metricStatPeriod: '60',
  metricCollectionTime: '300',
} as const;
export type ScaledObjectTrigger = IScaledObject['spec']['triggers'][number];
// --- KEDA -----------------------------------------------------------------------------------------------

export interface TriggerAuthenticationInput {
  namespace: string;
  name: string;
  /** The fleet's `app.kubernetes.io/instance` label. Default: `name`. */
  instance?: string;
  /** The fleet's scaler role, which the KEDA operator assumes with its own IRSA identity for this trigger. */
  roleArn: string;
}

/**
 * KEDA authenticates to AWS through its operator's IRSA identity (`podIdentity.provider: aws`) and, for
 * this fleet, assumes the fleet's own scaler role (`podIdentity.roleArn`, KEDA 2.13+), so fleets sharing a
 * cluster never share or overwrite each other's permissions. (The recipe's `identityOwner: operator`
 * trigger metadata is deprecated since KEDA 2.13; this is its successor.)
 */
export function kedaTriggerAuthentication(input: TriggerAuthenticationInput): TriggerAuthentication {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Subdomain('triggerAuthenticationName', input.name);
  const instance = requireDns1123Label('instance', input.instance ?? name);
  const { roleArn } = parseRoleArn(input.roleArn, 'roleArn');
  // The package's schema predates `roleArn` (it accepts it; its type does not name it).
  const podIdentity = { provider: 'aws', roleArn } as { provider: string };
  return validated(
    new TriggerAuthentication({
      metadata: { name, namespace, labels: standardLabels(instance) },
      spec: { podIdentity },
    }),
    'TriggerAuthentication',
  );
}

export interface ScaledObjectInput {
  namespace: string;
  name: string;
  /** The Deployment to scale. */
  deploymentName: string;
  triggerAuthenticationName: string;
  /** The source stream: the classic trigger names its table. */
  sourceTableStreamArn: string;
  /** The fleet's APPLICATION_NAME: the unfinished-shards metric's dimension value. */
  applicationName: string;
  awsRegion: string;
  /** Default `classic`. */
  mode?: ScalingMode;
  /** Shards per pod. Default 2. */
  shardCount?: number;
  /** Default 0. */
  activationShardCount?: number;
  /** Default 0 (classic) or 1 (unfinished-shards). */
  minReplicaCount?: number;
  /** Default 100. */
  maxReplicaCount?: number;
  /** Seconds between KEDA's polls. Default 30. */
  pollingIntervalSeconds?: number;
  /** Default 300. */
  cooldownPeriodSeconds?: number;
  /** Sets the HPA's scale-down stabilisation window when given (the HPA's default is 300 s). */
  scaleDownStabilizationSeconds?: number;
}

/**
 * The ScaledObject. `classic`: KEDA's `aws-dynamodb-streams` trigger, one pod per `shardCount` shards that
 * DescribeStream lists, closed ones included. `unfinished-shards`: an `aws-cloudwatch` trigger on the
 * fleet's own `Streamfleet/UnfinishedShards` metric (dimension ApplicationName), one pod per `shardCount`
 * shards that still have work. The metric is published by the control plane's verify workflow (the
 * publish-metrics step, core/verification/fleet-metrics.ts); that mode keeps at least one pod.
 */
export function consumerScaledObject(input: ScaledObjectInput): ScaledObject {
  const namespace = requireDns1123Label('namespace', input.namespace);
  const name = requireDns1123Subdomain('name', input.name);
  const deploymentName = requireDns1123Label('deploymentName', input.deploymentName);
  const triggerAuthenticationName = requireDns1123Subdomain(
    'triggerAuthenticationName',
    input.triggerAuthenticationName,
  );
  const stream = parseStreamArn(input.sourceTableStreamArn, 'sourceTableStreamArn');
  const applicationName = requireTableName('applicationName', input.applicationName);
  const awsRegion = requireStreamRegion(input.awsRegion, stream.region);
  const mode = input.mode ?? ScalingMode.Classic;
  if (mode !== ScalingMode.Classic && mode !== ScalingMode.UnfinishedShards) {
    throw new InvalidInputError(
      'mode',
      `expected ${ScalingMode.Classic} or ${ScalingMode.UnfinishedShards}, got ${describeValue(mode)}`,
    );
  }
  const defaultMin = mode === ScalingMode.Classic ? KEDA_DEFAULTS.minReplicaCount : 1;
  const config = scalingConfig({
    shardCount: input.shardCount,
    activationShardCount: input.activationShardCount,
    minReplicaCount: input.minReplicaCount ?? defaultMin,
    maxReplicaCount: input.maxReplicaCount,
    cooldownPeriodSeconds: input.cooldownPeriodSeconds,
    scaleDownStabilizationSeconds: input.scaleDownStabilizationSeconds,
  });
  if (mode === ScalingMode.UnfinishedShards && config.minReplicaCount < 1) {
    throw new InvalidInputError(
      'minReplicaCount',
      'expected at least 1 in unfinished-shards mode: the workers publish UnfinishedShards, so a fleet at zero pods would publish nothing and never scale up',
    );
  }
  const pollingInterval = requireInteger(
    'pollingIntervalSeconds',
    input.pollingIntervalSeconds ?? KEDA_DEFAULTS.pollingIntervalSeconds,
    { min: 1 },
  );
  const authenticationRef = { name: triggerAuthenticationName };
  const trigger: ScaledObjectTrigger =
    mode === ScalingMode.Classic
      ? {
          type: TriggerType.DynamoDbStreams,
          metadata: {
            tableName: stream.tableName,
            awsRegion,
            shardCount: String(config.shardCount),
            activationShardCount: String(config.activationShardCount),
          },
          authenticationRef,
        }
      : {
          type: TriggerType.CloudWatch,
          metadata: {
            namespace: UNFINISHED_SHARDS_METRIC.namespace,
            metricName: UNFINISHED_SHARDS_METRIC.metricName,
            dimensionName: UNFINISHED_SHARDS_METRIC.dimensionName,
            dimensionValue: applicationName,
            targetMetricValue: String(config.shardCount),
            activationTargetMetricValue: String(config.activationShardCount),
            minMetricValue: '0',
            awsRegion,
            ...CLOUDWATCH_QUERY,
          },
          authenticationRef,
        };

  return validated(
    new ScaledObject({
      metadata: { name, namespace, labels: standardLabels(deploymentName) },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deploymentName },
        pollingInterval,
        cooldownPeriod: config.cooldownPeriodSeconds,
        minReplicaCount: config.minReplicaCount,
        maxReplicaCount: config.maxReplicaCount,
        ...(input.scaleDownStabilizationSeconds === undefined
          ? {}
          : {
              advanced: {
                horizontalPodAutoscalerConfig: {
                  behavior: {
                    scaleDown: { stabilizationWindowSeconds: config.scaleDownStabilizationSeconds },
                  },
                },
              },
            }),
        triggers: [trigger],
      },
    }),
    'ScaledObject',
  );
}
