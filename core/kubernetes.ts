/**
 * A small Kubernetes API client (plain `node:https` with the cluster's CA, a bearer token) and the
 * `KubernetesCluster` adapter of the `Cluster` port built on it. It speaks the wire format directly:
 * server-side apply is `PATCH …?fieldManager=streamfleet&force=true` with `application/apply-patch+yaml`
 * (a JSON body is valid YAML), a rollout restart is a strategic-merge patch of the pod template's
 * annotations, errors come back as `Status` objects. No client library: five kinds do not earn one.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  type Cluster,
  type ClusterInfo,
  FIELD_MANAGER,
  KEDA_API_VERSION,
  kedaHpaName,
  type ManifestObject,
  type ObjectRef,
  type PodStatus,
  type ScaleStatus,
} from './cluster.js';
import {
  KubernetesApiError,
  type KubernetesStatus,
  PreconditionError,
  StreamfleetError,
  TransientError,
} from './errors.js';

/** The REST names of the kinds Streamfleet touches. */
const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'autoscaling/v2/HorizontalPodAutoscaler': { plural: 'horizontalpodautoscalers', namespaced: true },
  [`${KEDA_API_VERSION}/ScaledObject`]: { plural: 'scaledobjects', namespaced: true },
  [`${KEDA_API_VERSION}/TriggerAuthentication`]: { plural: 'triggerauthentications', namespaced: true },
};

/** `/api/v1` for the core group, `/apis/GROUP/VERSION` for the others. */
export function apiPrefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** The collection path of a kind, in a namespace when it is namespaced. */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const resource = RESOURCES[`${apiVersion}/${kind}`];
  if (!resource)
    throw new StreamfleetError(`Streamfleet does not know the REST path of ${apiVersion} ${kind}.`);
  if (resource.namespaced && !namespace)
    throw new StreamfleetError(`${kind} is namespaced: a namespace is needed.`);
  const ns = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? '')}` : '';
  return `${apiPrefix(apiVersion)}${ns}/${resource.plural}`;
}

export function objectPath(ref: ObjectRef): string {
  return `${collectionPath(ref.apiVersion, ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`;
}

export interface KubernetesConnection {
  /** The API server URL: `https://…` (EKS), or `http://127.0.0.1:PORT` for a loopback fake in tests. */
  server: string;
  /** Base64 PEM of the cluster CA, as DescribeCluster's `certificateAuthority.data`. */
  caData?: string;
  /** A fresh bearer token (EKS: `k8s-aws-v1.…`, valid for a minute). */
  token(): Promise<string>;
  /** Per-request timeout. Default 15 s. */
  timeoutMs?: number;
}

interface ApiResponse {
  status: number;
  body: unknown;
}

export class KubernetesApi {
  private readonly base: URL;
  private readonly ca: Buffer | undefined;

  constructor(
    private readonly connection: KubernetesConnection,
    /** The cluster's name, for messages. */
    private readonly clusterName: string,
  ) {
    this.base = new URL(connection.server);
    this.ca = connection.caData ? Buffer.from(connection.caData, 'base64') : undefined;
  }

  async request(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; query?: Record<string, string> } = {},
  ): Promise<ApiResponse> {
    const url = new URL(path, this.base);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const token = await this.connection.token();
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token}` };
    if (payload !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<ApiResponse>((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          headers,
          ...(url.protocol === 'https:' && this.ca ? { ca: this.ca } : {}),
          timeout: this.connection.timeoutMs ?? 15_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              body = { message: text.slice(0, 500) };
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`timed out after ${this.connection.timeoutMs ?? 15_000} ms`)),
      );
      req.on('error', (error) =>
        reject(
          new TransientError(
            `Cannot reach the Kubernetes API of cluster ${this.clusterName} at ${this.base.origin}: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Turns a non-2xx answer into the right error class. */
  fail(method: string, path: string, response: ApiResponse): never {
    const body = response.body as KubernetesStatus | undefined;
    if (response.status === 401 || response.status === 403) {
      throw new PreconditionError(
        `The Kubernetes API of cluster ${this.clusterName} refused ${method} ${path} (${response.status}: ${body?.message ?? 'no message'}).`,
        `give the control plane's IAM role access to the cluster, e.g. aws eks create-access-entry --cluster-name ${this.clusterName} --principal-arn ROLE_ARN, then aws eks associate-access-policy --cluster-name ${this.clusterName} --principal-arn ROLE_ARN --policy-arn arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy --access-scope type=cluster.`,
      );
    }
    if (response.status === 429 || response.status >= 500) {
      throw new TransientError(
        `Kubernetes API ${method} ${path} answered ${response.status}: ${body?.message ?? 'no message'}`,
      );
    }
    throw new KubernetesApiError(method, path, response.status, body);
  }

  async get(path: string, query?: Record<string, string>): Promise<unknown | undefined> {
    const response = await this.request('GET', path, query ? { query } : {});
    if (response.status === 404) return undefined;
    if (response.status >= 300) this.fail('GET', path, response);
    return response.body;
  }
}

function conditionTrue(conditions: unknown, type: string): { value: boolean; message?: string } | undefined {
  if (!Array.isArray(conditions)) return undefined;
  const condition = conditions.find((c: { type?: string }) => c?.type === type) as
    | { status?: string; message?: string }
    | undefined;
  if (!condition) return undefined;
  return {
    value: condition.status === 'True',
    ...(condition.message ? { message: condition.message } : {}),
  };
}

/** The `Cluster` port over a Kubernetes API server. */
export class KubernetesCluster implements Cluster {
  readonly api: KubernetesApi;

  constructor(
    private readonly clusterInfo: ClusterInfo,
    connection: KubernetesConnection,
  ) {
    this.api = new KubernetesApi(connection, clusterInfo.name);
  }

  get name(): string {
    return this.clusterInfo.name;
  }

  async info(): Promise<ClusterInfo> {
    return { ...this.clusterInfo };
  }

  async servesApi(apiVersion: string): Promise<boolean> {
    return (await this.api.get(apiPrefix(apiVersion))) !== undefined;
  }

  async apply(manifest: ManifestObject): Promise<ManifestObject> {
    const path = objectPath({
      apiVersion: manifest.apiVersion,
      kind: manifest.kind,
      name: manifest.metadata.name,
      ...(manifest.metadata.namespace === undefined ? {} : { namespace: manifest.metadata.namespace }),
    });
    const response = await this.api.request('PATCH', path, {
      body: manifest,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: FIELD_MANAGER, force: 'true' },
    });
    if (response.status === 404 && manifest.apiVersion === KEDA_API_VERSION) {
      throw kedaMissing(this.name);
    }
    if (response.status >= 300) this.api.fail('PATCH', path, response);
    return response.body as ManifestObject;
  }

  async get(ref: ObjectRef): Promise<ManifestObject | undefined> {
    return (await this.api.get(objectPath(ref))) as ManifestObject | undefined;
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    const path = objectPath(ref);
    const response = await this.api.request('DELETE', path, { query: { propagationPolicy: 'Background' } });
    if (response.status === 404) return false;
    if (response.status >= 300) this.api.fail('DELETE', path, response);
    return true;
  }

  async restartDeployment(namespace: string, name: string): Promise<void> {
    const path = objectPath({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name });
    const response = await this.api.request('PATCH', path, {
      body: {
        spec: {
          template: {
            metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
          },
        },
      },
      contentType: 'application/strategic-merge-patch+json',
      query: { fieldManager: FIELD_MANAGER },
    });
    if (response.status >= 300) this.api.fail('PATCH', path, response);
  }

  async scaleStatus(input: {
    namespace: string;
    deploymentName: string;
    scaledObjectName: string;
  }): Promise<ScaleStatus> {
    const { namespace } = input;
    const [deployment, scaledObject, hpa, pods] = await Promise.all([
      this.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: input.deploymentName }),
      this.servesApi(KEDA_API_VERSION).then((served) =>
        served
          ? this.get({
              apiVersion: KEDA_API_VERSION,
              kind: 'ScaledObject',
              namespace,
              name: input.scaledObjectName,
            })
          : undefined,
      ),
      this.get({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        namespace,
        name: kedaHpaName(input.scaledObjectName),
      }),
      this.api.get(collectionPath('v1', 'Pod', namespace), {
        labelSelector: `app.kubernetes.io/instance=${input.deploymentName}`,
      }),
    ]);
    const spec = deployment?.spec as { replicas?: number } | undefined;
    const status = deployment?.status as { readyReplicas?: number } | undefined;
    const soStatus = scaledObject?.status as { conditions?: unknown } | undefined;
    const ready = conditionTrue(soStatus?.conditions, 'Ready');
    const active = conditionTrue(soStatus?.conditions, 'Active');
    const hpaDesired = (hpa?.status as { desiredReplicas?: number } | undefined)?.desiredReplicas;
    const podItems = ((pods as { items?: unknown[] } | undefined)?.items ?? []) as {
      metadata?: { name?: string; deletionTimestamp?: string };
      status?: { conditions?: unknown; containerStatuses?: { restartCount?: number }[] };
    }[];
    const podStatuses: PodStatus[] = podItems
      .filter((pod) => !pod.metadata?.deletionTimestamp)
      .map((pod) => ({
        name: pod.metadata?.name ?? '',
        ready: conditionTrue(pod.status?.conditions, 'Ready')?.value ?? false,
        restarts: (pod.status?.containerStatuses ?? []).reduce((sum, c) => sum + (c.restartCount ?? 0), 0),
      }));
    return {
      deployment: deployment
        ? { desiredReplicas: spec?.replicas ?? 1, readyReplicas: status?.readyReplicas ?? 0 }
        : undefined,
      scaledObject: scaledObject
        ? {
            ready: ready?.value ?? false,
            active: active?.value ?? false,
            ...(ready?.message && !ready.value ? { message: ready.message } : {}),
            ...(hpaDesired === undefined ? {} : { hpaDesiredReplicas: hpaDesired }),
          }
        : undefined,
      pods: podStatuses,
    };
  }
}

/** The error for a cluster without KEDA's CRDs, with the commands that install it. */
export function kedaMissing(clusterName: string): PreconditionError {
  return new PreconditionError(
    `KEDA is not installed on cluster ${clusterName} (the API server does not serve ${KEDA_API_VERSION}).`,
    'install it (helm repo add kedacore https://kedacore.github.io/charts && helm install keda kedacore/keda --namespace keda --create-namespace), then start the execution again.',
  );
}
