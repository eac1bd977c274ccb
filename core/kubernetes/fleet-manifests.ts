/** Every manifest of one consumer fleet, in the order they are applied, and as the YAML `streamfleet manifests` prints. */
import type { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import type { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { stringify } from 'yaml';
import { requireDns1123Label } from '../vocabulary/validation.js';
import { consumerDeployment, type DeploymentInput } from './consumer-deployment.js';
import {
  consumerDisruptionBudget,
  consumerRole,
  consumerRoleBinding,
  consumerServiceAccount,
  type Manifest,
} from './manifests.js';
import { consumerScaledObject, kedaTriggerAuthentication, type ScaledObjectInput } from './scaled-object.js';

// --- The whole fleet ------------------------------------------------------------------------------------

export interface ConsumerFleetInput
  extends Omit<DeploymentInput, 'serviceAccountName'>,
    Pick<
      ScaledObjectInput,
      | 'mode'
      | 'shardCount'
      | 'activationShardCount'
      | 'minReplicaCount'
      | 'maxReplicaCount'
      | 'pollingIntervalSeconds'
      | 'cooldownPeriodSeconds'
      | 'scaleDownStabilizationSeconds'
    > {
  /** The consumer's IRSA role. */
  roleArn: string;
  /** The fleet's scaler role, which KEDA assumes for the trigger. */
  scalerRoleArn: string;
  /** Default: the Deployment's name. */
  serviceAccountName?: string;
}

/**
 * Everything `kubectl apply -f` needs for one fleet, in apply order: ServiceAccount, Role, RoleBinding,
 * Deployment, PodDisruptionBudget, TriggerAuthentication (`NAME-aws`), ScaledObject (`NAME`).
 */
export function consumerFleetManifests(
  input: ConsumerFleetInput,
): [ServiceAccount, Role, RoleBinding, Deployment, PodDisruptionBudget, TriggerAuthentication, ScaledObject] {
  const name = requireDns1123Label('name', input.name);
  const serviceAccountName = input.serviceAccountName ?? name;
  const triggerAuthenticationName = `${name}-aws`;
  return [
    consumerServiceAccount({
      namespace: input.namespace,
      name: serviceAccountName,
      roleArn: input.roleArn,
      instance: name,
    }),
    consumerRole({ namespace: input.namespace, name, serviceAccountName }),
    consumerRoleBinding({ namespace: input.namespace, name, serviceAccountName }),
    consumerDeployment({ ...input, serviceAccountName }),
    consumerDisruptionBudget({ namespace: input.namespace, name }),
    kedaTriggerAuthentication({
      namespace: input.namespace,
      name: triggerAuthenticationName,
      instance: name,
      roleArn: input.scalerRoleArn,
    }),
    consumerScaledObject({
      ...pickDefined({
        mode: input.mode,
        shardCount: input.shardCount,
        activationShardCount: input.activationShardCount,
        minReplicaCount: input.minReplicaCount,
        maxReplicaCount: input.maxReplicaCount,
        pollingIntervalSeconds: input.pollingIntervalSeconds,
        cooldownPeriodSeconds: input.cooldownPeriodSeconds,
        scaleDownStabilizationSeconds: input.scaleDownStabilizationSeconds,
      }),
      namespace: input.namespace,
      name,
      deploymentName: name,
      triggerAuthenticationName,
      sourceTableStreamArn: input.sourceTableStreamArn,
      applicationName: input.applicationName,
      awsRegion: input.awsRegion,
    }),
  ];
}
function pickDefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
// --- YAML -----------------------------------------------------------------------------------------------
/** Multi-document YAML (`---` between documents), no line folding, for `kubectl apply -f`. */
export function renderManifestsYaml(manifests: readonly Manifest[]): string {
  return manifests
    .map((manifest) => {
      const data = typeof manifest.toJSON === 'function' ? (manifest.toJSON as () => unknown)() : manifest;
      return stringify(data, { lineWidth: 0 });
    })
    .join('---\n');
}
