/**
 * IRSA wiring for one fleet: the cluster's OIDC issuer → the IAM OIDC provider → two roles (the consumer's
 * and the KEDA operator's) with trust and least-privilege policies from core/iam-policies.ts → the
 * ServiceAccounts annotated with them → a rollout restart of the KEDA operator when its annotation changed,
 * so the pod identity webhook injects the new credentials. Every step is idempotent.
 */
import type { Cluster, ManifestObject, RolloutStatus } from './cluster.js';
import { PreconditionError } from './errors.js';
import { type FleetSpec, roleAnnotation } from './fleet.js';
import type { IamPort } from './iam.js';
import { consumerPolicy, irsaTrustPolicy, kedaOperatorPolicy } from './iam-policies.js';
import { IRSA_ROLE_ANNOTATION } from './manifests.js';

export interface IrsaResult {
  oidcProviderArn: string;
  oidcProviderCreated: boolean;
  consumerRoleArn: string;
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
    description: `Streamfleet consumer ${fleet.name}: reads ${fleet.sourceTableName}'s stream, writes ${fleet.replicaTableName}`,
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
    }),
    tags,
  });
  const keda = await iam.ensureRole({
    roleName: fleet.roles.kedaOperatorRoleName,
    description: `KEDA operator for Streamfleet ${fleet.name}: reads the shard count of ${fleet.sourceTableName}`,
    trustPolicy: irsaTrustPolicy({
      issuerUrl: oidcIssuerUrl,
      accountId,
      namespace: fleet.keda.namespace,
      serviceAccountName: fleet.keda.serviceAccountName,
    }),
    policyName: 'streamfleet-keda-operator',
    policy: kedaOperatorPolicy({ streamArn, scalingMode: fleet.scaling.mode, anyStreamOfTable: true }),
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
      annotations: { [IRSA_ROLE_ANNOTATION]: keda.arn },
    },
  };
  await cluster.apply(kedaPatch);
  const restart = before !== keda.arn;
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
    kedaOperatorRoleArn: keda.arn,
    createdRoles: [consumer, keda].filter((r) => r.created).map((r) => r.arn),
    kedaOperatorRestarted: restart,
    ...(rollout ? { kedaOperatorRollout: rollout } : {}),
  };
}

/**
 * Undoes the wiring: drops our annotation from KEDA's ServiceAccount (an apply without it, under the same
 * field manager, removes the field we own) and deletes both roles. The OIDC provider stays: other workloads
 * on the cluster may trust it.
 */
export async function removeIrsa(
  deps: { iam: IamPort; cluster: Cluster },
  fleet: FleetSpec,
): Promise<{ deletedRoles: string[] }> {
  const kedaAccount = await deps.cluster.get(kedaServiceAccountRef(fleet));
  if (kedaAccount !== undefined) {
    await deps.cluster.apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: fleet.keda.serviceAccountName, namespace: fleet.keda.namespace },
    });
  }
  const deletedRoles: string[] = [];
  for (const roleName of [fleet.roles.consumerRoleName, fleet.roles.kedaOperatorRoleName]) {
    if (await deps.iam.deleteRole(roleName)) deletedRoles.push(roleName);
  }
  return { deletedRoles };
}
