/**
 * A KEDA ScaledObject as the local KEDA reads it: its scale target, its first trigger (with the
 * TriggerAuthentication it names) and the numbers core/kubernetes/keda.ts decides with. Pure.
 */
import type { ManifestObject } from '../../core/kubernetes/cluster.js';
import { type ScalingConfig, scalingConfig } from '../../core/kubernetes/keda.js';

export interface ScaledObjectTrigger {
  type: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}

interface ScaledObjectFields {
  scaleTargetRef?: { name: string };
  pollingInterval?: number;
  minReplicaCount?: number;
  maxReplicaCount?: number;
  cooldownPeriod?: number;
  advanced?: {
    horizontalPodAutoscalerConfig?: {
      behavior?: {
        scaleDown?: { stabilizationWindowSeconds?: number };
        scaleUp?: { stabilizationWindowSeconds?: number };
      };
    };
  };
  triggers?: ScaledObjectTrigger[];
}

export interface ScaledObjectSpec {
  namespace: string;
  /** The Deployment it scales ('' when the ScaledObject names none). */
  target: string;
  trigger: ScaledObjectTrigger | undefined;
  fields: ScaledObjectFields;
}

export function readScaledObject(scaledObject: ManifestObject): ScaledObjectSpec {
  const fields = scaledObject.spec as ScaledObjectFields;
  return {
    namespace: scaledObject.metadata.namespace ?? 'default',
    target: fields.scaleTargetRef?.name ?? '',
    trigger: fields.triggers?.[0],
    fields,
  };
}

/** How often KEDA polls the trigger: `pollingInterval` (default 30 s), unless the cluster overrides it. */
export function pollingIntervalMs(scaledObject: ManifestObject, overrideMs: number | undefined): number {
  const spec = scaledObject.spec as { pollingInterval?: number };
  return overrideMs ?? (spec.pollingInterval ?? 30) * 1000;
}

/** What the trigger measures against: the target per pod and the activation threshold. */
export interface TriggerTarget {
  target: number;
  activation: number;
}

/** KEDA's and the HPA's numbers for this ScaledObject, the trigger's target per pod as `shardCount`. */
export function scalingConfigOf(spec: ScaledObjectSpec, trigger: TriggerTarget): ScalingConfig {
  const behavior = spec.fields.advanced?.horizontalPodAutoscalerConfig?.behavior;
  return scalingConfig({
    shardCount: trigger.target,
    activationShardCount: trigger.activation,
    minReplicaCount: spec.fields.minReplicaCount,
    maxReplicaCount: spec.fields.maxReplicaCount,
    cooldownPeriodSeconds: spec.fields.cooldownPeriod,
    scaleDownStabilizationSeconds: behavior?.scaleDown?.stabilizationWindowSeconds,
    scaleUpStabilizationSeconds: behavior?.scaleUp?.stabilizationWindowSeconds,
  });
}
