/**
 * IRSA wiring for one fleet: the cluster's OIDC issuer → the IAM OIDC provider → the fleet's two roles and
 * the cluster's KEDA operator role, with trust and least-privilege policies from core/iam/iam-policies.ts → the
 * ServiceAccounts annotated with them. Every step is idempotent.
 *
 * Several fleets share one cluster and one KEDA operator, so KEDA's identity is split in two:
 * - the **operator role** (`fleet.keda.operatorRoleName`, one per cluster) is what the operator's
 *   ServiceAccount is annotated with; it may only `sts:AssumeRole` the scaler roles of the fleets on the
 *   cluster — one inline policy per fleet, named after that fleet's scaler role;
 * - each fleet's **scaler role** (`fleet.roles.scalerRoleName`) holds what its trigger reads, trusts only the
 *   operator role, and is named in the fleet's TriggerAuthentication (`podIdentity.roleArn`).
 * A second fleet therefore never rewrites the first one's permissions, the operator's annotation stays the
 * same (so it is restarted only when the annotation first changes), and a teardown removes only its own
 * fleet's roles and its own inline policy on the operator role.
 */

import { type FleetSpec, fleetDeadLetterTable } from './fleet/fleet.js';
import { roleAnnotation } from './fleet/fleet-deploy.js';
import type { IamPort } from './iam/iam.js';
import {
  assumedByRoleTrustPolicy,
  consumerPolicy,
  irsaTrustPolicy,
  kedaOperatorAssumePolicy,
  kedaOperatorPolicyName,
  kedaScalerPolicy,
} from './iam/iam-policies.js';
import { scopedProcessorGrants, streamScope } from './iam/processor-grants.js';
import type { Cluster, ManifestObject, RolloutStatus } from './kubernetes/cluster.js';
import { IRSA_ROLE_ANNOTATION } from './kubernetes/manifests.js';
import { PreconditionError } from './vocabulary/errors.js';

export interface IrsaResult {
  oidcProviderArn: string;
  oidcProviderCreated: boolean;
  consumerRoleArn: string;
  /** This fleet's scaler role: the fleet's TriggerAuthentication names it (`podIdentity.roleArn`). */
  scalerRoleArn: string;
  /** The KEDA operator's own role, shared by every fleet on the cluster. */
  kedaOperatorRoleArn: string;
  /** Roles created by this run (the others existed and were brought up to date). */
  createdRoles: string[];
  /** True when the KEDA operator's annotation changed and the operator was restarted. */
  kedaOperatorRestarted: boolean;
  /** After a restart: the operator's rollout, waited for so the scaler installed next meets new credentials. */
  kedaOperatorRollout?: RolloutStatus;
}

/** How long WireIrsa waits for the restarted KEDA operator to roll out before going on. */
export const KEDA_OPERATOR_ROLLOUT_WAIT_MS = 120_000;

function kedaServiceAccountRef(fleet: FleetSpec) {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    namespace: fleet.keda.namespace,
    name: fleet.keda.serviceAccountName,
  };
}

export async function wireIrsa(
  deps: { iam: IamPort; cluster: Cluster },
  input: { fleet: FleetSpec; streamArn: string },
): Promise<IrsaResult> {
  const { fleet, streamArn } = input;
  const { cluster, iam } = deps;
  const kedaAccount = await cluster.get(kedaServiceAccountRef(fleet));
  if (kedaAccount === undefined) {
    throw new PreconditionError(
      `KEDA is not installed on cluster ${cluster.name}: there is no ServiceAccount ${fleet.keda.namespace}/${fleet.keda.serviceAccountName}.`,
      `install KEDA (helm repo add kedacore https://kedacore.github.io/charts && helm install keda kedacore/keda --namespace ${fleet.keda.namespace} --create-namespace), or set fleet.keda to where it runs, then start the execution again.`,
    );
  }
  const { oidcIssuerUrl } = await cluster.info();
  const provider = await iam.ensureOidcProvider(oidcIssuerUrl);
  const accountId = await iam.accountId();
  const tags = { 'streamfleet:fleet': fleet.name, 'streamfleet:cluster': fleet.clusterName };

  const consumer = await iam.ensureRole({
    roleName: fleet.roles.consumerRoleName,
    description: `Streamfleet consumer ${fleet.name}: reads ${fleet.sourceTableName}'s stream, ${fleet.processor ? `runs ${fleet.processor.module}` : `writes ${fleet.replicaTableName}`}`,
    trustPolicy: irsaTrustPolicy({
      issuerUrl: oidcIssuerUrl,
      accountId,
      namespace: fleet.namespace,
      serviceAccountName: fleet.name,
    }),
    policyName: 'streamfleet-consumer',
    policy: consumerPolicy({
      streamArn,
      leaseTableName: fleet.applicationName,
      targetTableName: fleet.replicaTableName,
      ...pickDeadLetterTable(fleet),
      ...(fleet.processor
        ? { processorGrants: scopedProcessorGrants(fleet.processor, streamScope(streamArn)) }
        : {}),
    }),
    tags,
  });
  // The operator role is the cluster's: it is created (or brought up to date) by whichever fleet comes first
  // and carries one inline policy per fleet. Its tags name the cluster only.
  const scalerRoleArn = roleArnLike(consumer.arn, fleet.roles.scalerRoleName);
  const operator = await iam.ensureRole({
    roleName: fleet.keda.operatorRoleName,
    description: `KEDA operator on cluster ${fleet.clusterName}: assumes the scaler role of each Streamfleet fleet`,
    trustPolicy: irsaTrustPolicy({
      issuerUrl: oidcIssuerUrl,
      accountId,
      namespace: fleet.keda.namespace,
      serviceAccountName: fleet.keda.serviceAccountName,
    }),
    policyName: kedaOperatorPolicyName(fleet.roles.scalerRoleName),
    policy: kedaOperatorAssumePolicy(scalerRoleArn),
    tags: { 'streamfleet:cluster': fleet.clusterName },
  });
  const scaler = await iam.ensureRole({
    roleName: fleet.roles.scalerRoleName,
    description: `KEDA scaler for Streamfleet ${fleet.name}: reads the shard count of ${fleet.sourceTableName}`,
    trustPolicy: assumedByRoleTrustPolicy(operator.arn),
    policyName: 'streamfleet-keda-scaler',
    policy: kedaScalerPolicy({ streamArn, scalingMode: fleet.scaling.mode, anyStreamOfTable: true }),
    tags,
  });

  await cluster.apply({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: fleet.namespace, labels: { 'app.kubernetes.io/part-of': 'streamfleet' } },
  });
  await cluster.apply({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: fleet.name,
      namespace: fleet.namespace,
      labels: {
        'app.kubernetes.io/name': 'streamfleet',
        'app.kubernetes.io/instance': fleet.name,
        'app.kubernetes.io/component': 'consumer',
        'app.kubernetes.io/part-of': 'streamfleet',
      },
      annotations: { [IRSA_ROLE_ANNOTATION]: consumer.arn },
    },
  });

  // Only the annotation, under our field manager: Helm keeps owning everything else of KEDA's account.
  const before = roleAnnotation(kedaAccount);
  const kedaPatch: ManifestObject = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: fleet.keda.serviceAccountName,
      namespace: fleet.keda.namespace,
      annotations: { [IRSA_ROLE_ANNOTATION]: operator.arn },
    },
  };
  await cluster.apply(kedaPatch);
  const restart = before !== operator.arn;
  let rollout: RolloutStatus | undefined;
  if (restart) {
    await cluster.restartDeployment(fleet.keda.namespace, fleet.keda.deploymentName);
    rollout = await cluster.waitForRollout({
      namespace: fleet.keda.namespace,
      name: fleet.keda.deploymentName,
      timeoutMs: KEDA_OPERATOR_ROLLOUT_WAIT_MS,
    });
  }

  return {
    oidcProviderArn: provider.arn,
    oidcProviderCreated: provider.created,
    consumerRoleArn: consumer.arn,
    scalerRoleArn: scaler.arn,
    kedaOperatorRoleArn: operator.arn,
    createdRoles: [consumer, operator, scaler].filter((r) => r.created).map((r) => r.arn),
    kedaOperatorRestarted: restart,
    ...(rollout ? { kedaOperatorRollout: rollout } : {}),
  };
}

/**
 * Undoes this fleet's wiring: deletes its consumer and scaler roles and its own inline policy on the KEDA
 * operator role. The operator role, its ServiceAccount annotation and the OIDC provider stay: other fleets on
 * the cluster (and other workloads) scale and authenticate through them, and with no fleet left the operator
 * role may assume nothing.
 */
export async function removeIrsa(
  deps: { iam: IamPort; cluster: Cluster },
  fleet: FleetSpec,
): Promise<{ deletedRoles: string[]; detachedOperatorPolicy: boolean }> {
  const deletedRoles: string[] = [];
  for (const roleName of [fleet.roles.consumerRoleName, fleet.roles.scalerRoleName]) {
    if (await deps.iam.deleteRole(roleName)) deletedRoles.push(roleName);
  }
  const detachedOperatorPolicy = await deps.iam.deleteRolePolicy(
    fleet.keda.operatorRoleName,
    kedaOperatorPolicyName(fleet.roles.scalerRoleName),
  );
  return { deletedRoles, detachedOperatorPolicy };
}

function pickDeadLetterTable(fleet: FleetSpec): { deadLetterTableName?: string } {
  const table = fleetDeadLetterTable(fleet);
  return table === undefined ? {} : { deadLetterTableName: table };
}

/** Another role's ARN in the same account and partition as `roleArn`. */
function roleArnLike(roleArn: string, roleName: string): string {
  return roleArn.replace(/:role\/.*$/, `:role/${roleName}`);
}
