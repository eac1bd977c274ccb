/**
 * KEDA as the local cluster has it installed: the operator's namespace, ServiceAccount and Deployment, seeded
 * as objects someone else made (Streamfleet annotates the ServiceAccount with an IRSA role and restarts the
 * operator, as on EKS). The operator itself is the local KEDA (local-keda.ts), not a pod.
 */
import type { ManifestObject } from '../../core/kubernetes/cluster.js';

export const KEDA_OPERATOR = {
  namespace: 'keda',
  serviceAccountName: 'keda-operator',
  deploymentName: 'keda-operator',
} as const;

export function kedaInstallManifests(): ManifestObject[] {
  const labels = {
    'app.kubernetes.io/name': 'keda-operator',
    'app.kubernetes.io/part-of': 'keda-operator',
  };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: KEDA_OPERATOR.namespace } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: KEDA_OPERATOR.serviceAccountName, namespace: KEDA_OPERATOR.namespace, labels },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: KEDA_OPERATOR.deploymentName, namespace: KEDA_OPERATOR.namespace, labels },
      spec: {
        replicas: 1,
        template: { metadata: { labels }, spec: { serviceAccountName: KEDA_OPERATOR.serviceAccountName } },
      },
    },
  ];
}

/** Whether `namespace/name` is the KEDA operator's Deployment (whose restart makes it read its role again). */
export function isKedaOperator(namespace: string, name: string): boolean {
  return namespace === KEDA_OPERATOR.namespace && name === KEDA_OPERATOR.deploymentName;
}
