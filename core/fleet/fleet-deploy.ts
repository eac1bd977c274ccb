/** What deploys a fleet onto its cluster: the consumer's and the scaler's manifests, applied, followed and removed. */
import {
  type Cluster,
  KEDA_API_VERSION,
  kedaMissing,
  type ManifestObject,
  type RolloutStatus,
  toManifestObject,
} from '../kubernetes/cluster.js';
import { consumerDeployment } from '../kubernetes/consumer-deployment.js';
import { renderManifestsYaml } from '../kubernetes/fleet-manifests.js';
import type { ScalingMode } from '../kubernetes/keda.js';
import {
  consumerDisruptionBudget,
  consumerRole,
  consumerRoleBinding,
  consumerServiceAccount,
  IRSA_ROLE_ANNOTATION,
} from '../kubernetes/manifests.js';
import { consumerScaledObject, kedaTriggerAuthentication } from '../kubernetes/scaled-object.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import { type FleetSpec, prefixed } from './fleet.js';

export function triggerAuthenticationName(fleet: FleetSpec): string {
  return `${fleet.name}-aws`;
}

export function namespaceManifest(fleet: FleetSpec): ManifestObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: fleet.namespace, labels: { 'app.kubernetes.io/part-of': 'streamfleet' } },
  };
}

export interface AppliedManifests {
  /** `NAMESPACE/KIND/NAME` of each object applied, in order. */
  applied: string[];
  /** The same objects as multi-document YAML, for `kubectl apply -f`. */
  yaml: string;
}

async function applyAll(cluster: Cluster, manifests: ManifestObject[]): Promise<AppliedManifests> {
  const applied: string[] = [];
  for (const manifest of manifests) {
    await cluster.apply(manifest);
    applied.push(`${manifest.metadata.namespace ?? ''}/${manifest.kind}/${manifest.metadata.name}`);
  }
  return { applied, yaml: renderManifestsYaml(manifests) };
}

/**
 * The consumer's ServiceAccount (with its IRSA role), its Role and RoleBinding (list and watch the pods of its
 * namespace: peer evidence), Deployment and PodDisruptionBudget; KEDA sets the replicas later.
 */
export function consumerManifests(input: {
  fleet: FleetSpec;
  streamArn: string;
  consumerRoleArn: string;
  region: string;
}): ManifestObject[] {
  const { fleet } = input;
  if (fleet.image === undefined) {
    throw new InvalidInputError(
      'fleet.image',
      'is required to deploy the consumer, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/streamfleet:1.0.0',
    );
  }
  const serviceAccount = prefixed('fleet', () =>
    consumerServiceAccount({
      namespace: fleet.namespace,
      name: fleet.name,
      roleArn: input.consumerRoleArn,
      instance: fleet.name,
    }),
  );
  const deployment = prefixed('fleet', () =>
    consumerDeployment({
      namespace: fleet.namespace,
      name: fleet.name,
      serviceAccountName: fleet.name,
      image: fleet.image ?? '',
      sourceTableStreamArn: input.streamArn,
      targetTableName: fleet.replicaTableName,
      processorModule: fleet.processor?.module,
      applicationName: fleet.applicationName,
      awsRegion: input.region,
      env: fleet.workerEnv,
      terminationGracePeriodSeconds: fleet.terminationGracePeriodSeconds,
    }),
  );
  const budget = prefixed('fleet', () =>
    consumerDisruptionBudget({ namespace: fleet.namespace, name: fleet.name }),
  );
  const access = { namespace: fleet.namespace, name: fleet.name, serviceAccountName: fleet.name };
  const role = prefixed('fleet', () => consumerRole(access));
  const binding = prefixed('fleet', () => consumerRoleBinding(access));
  return [
    toManifestObject(serviceAccount),
    toManifestObject(role),
    toManifestObject(binding),
    toManifestObject(deployment),
    toManifestObject(budget),
  ];
}

/** How long DeployConsumer follows the rollout; a fleet that is not ready by then is judged by CheckLeases. */
export const CONSUMER_ROLLOUT_WAIT_MS = 90_000;

/**
 * Applies the Namespace and the consumer's objects, then follows the Deployment's rollout (a watch on EKS)
 * for up to `rolloutWaitMs`. A rollout that has not finished by then is reported, not failed: the setup's
 * lease wait says what is wrong with pods that never become ready.
 */
export async function deployConsumer(
  cluster: Cluster,
  input: { fleet: FleetSpec; streamArn: string; consumerRoleArn: string; region: string },
  options: { rolloutWaitMs?: number } = {},
): Promise<AppliedManifests & { deployment: string; rollout: RolloutStatus | null }> {
  const manifests = consumerManifests(input);
  const result = await applyAll(cluster, [namespaceManifest(input.fleet), ...manifests]);
  const rollout = await cluster.waitForRollout({
    namespace: input.fleet.namespace,
    name: input.fleet.name,
    timeoutMs: options.rolloutWaitMs ?? CONSUMER_ROLLOUT_WAIT_MS,
  });
  return { ...result, deployment: `${input.fleet.namespace}/${input.fleet.name}`, rollout: rollout ?? null };
}

/** KEDA's TriggerAuthentication and the fleet's ScaledObject (classic or unfinished-shards mode). */
export function scalerManifests(input: {
  fleet: FleetSpec;
  streamArn: string;
  scalerRoleArn: string;
  region: string;
}): ManifestObject[] {
  const { fleet } = input;
  const auth = prefixed('fleet', () =>
    kedaTriggerAuthentication({
      namespace: fleet.namespace,
      name: triggerAuthenticationName(fleet),
      instance: fleet.name,
      roleArn: input.scalerRoleArn,
    }),
  );
  const { mode, ...numbers } = fleet.scaling;
  const scaledObject = prefixed('fleet.scaling', () =>
    consumerScaledObject({
      ...numbers,
      mode,
      namespace: fleet.namespace,
      name: fleet.name,
      deploymentName: fleet.name,
      triggerAuthenticationName: triggerAuthenticationName(fleet),
      sourceTableStreamArn: input.streamArn,
      applicationName: fleet.applicationName,
      awsRegion: input.region,
    }),
  );
  return [toManifestObject(auth), toManifestObject(scaledObject)];
}

/**
 * Every object the setup workflow applies for a fleet, in its order: the Namespace, then what DeployConsumer
 * applies, then what InstallScaler applies. `streamfleet manifests` prints exactly this.
 */
export function fleetManifests(input: {
  fleet: FleetSpec;
  streamArn: string;
  consumerRoleArn: string;
  scalerRoleArn: string;
  region: string;
}): ManifestObject[] {
  return [namespaceManifest(input.fleet), ...consumerManifests(input), ...scalerManifests(input)];
}

export async function installScaler(
  cluster: Cluster,
  input: { fleet: FleetSpec; streamArn: string; scalerRoleArn: string; region: string },
): Promise<AppliedManifests & { scaledObject: string; mode: ScalingMode }> {
  if (!(await cluster.servesApi(KEDA_API_VERSION))) throw kedaMissing(cluster.name);
  const result = await applyAll(cluster, scalerManifests(input));
  return {
    ...result,
    scaledObject: `${input.fleet.namespace}/${input.fleet.name}`,
    mode: input.fleet.scaling.mode,
  };
}

/** Deletes the ScaledObject first (KEDA stops scaling and removes its HPA), then the TriggerAuthentication. */
export async function removeScaler(cluster: Cluster, fleet: FleetSpec): Promise<{ deleted: string[] }> {
  const deleted: string[] = [];
  if (!(await cluster.servesApi(KEDA_API_VERSION))) return { deleted };
  const refs = [
    { apiVersion: KEDA_API_VERSION, kind: 'ScaledObject', namespace: fleet.namespace, name: fleet.name },
    {
      apiVersion: KEDA_API_VERSION,
      kind: 'TriggerAuthentication',
      namespace: fleet.namespace,
      name: triggerAuthenticationName(fleet),
    },
  ];
  for (const ref of refs)
    if (await cluster.delete(ref)) deleted.push(`${ref.namespace}/${ref.kind}/${ref.name}`);
  return { deleted };
}

/**
 * Deletes the Deployment (its pods drain on SIGTERM), its PodDisruptionBudget, the RoleBinding and Role that
 * let its pods watch each other, and the ServiceAccount. The namespace stays.
 */
export async function removeConsumer(cluster: Cluster, fleet: FleetSpec): Promise<{ deleted: string[] }> {
  const deleted: string[] = [];
  const rbac = 'rbac.authorization.k8s.io/v1';
  const refs = [
    { apiVersion: 'apps/v1', kind: 'Deployment', namespace: fleet.namespace, name: fleet.name },
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', namespace: fleet.namespace, name: fleet.name },
    { apiVersion: rbac, kind: 'RoleBinding', namespace: fleet.namespace, name: fleet.name },
    { apiVersion: rbac, kind: 'Role', namespace: fleet.namespace, name: fleet.name },
    { apiVersion: 'v1', kind: 'ServiceAccount', namespace: fleet.namespace, name: fleet.name },
  ];
  for (const ref of refs)
    if (await cluster.delete(ref)) deleted.push(`${ref.namespace}/${ref.kind}/${ref.name}`);
  return { deleted };
}

/** The IRSA annotation of a ServiceAccount, if any. */
export function roleAnnotation(serviceAccount: ManifestObject | undefined): string | undefined {
  return serviceAccount?.metadata.annotations?.[IRSA_ROLE_ANNOTATION];
}
