/**
 * The `Cluster` port over a Kubernetes API server, through @kubernetes/client-node:
 * - `KubernetesObjectApi` for server-side apply (`PATCH` `application/apply-patch+yaml`, field manager
 *   `streamfleet`, conflicts forced), reads, deletes, a rollout restart (strategic-merge patch) and lists,
 *   which are paged (`limit` + `continue`) so a namespace with thousands of pods is read in bounded pieces;
 *   discovery finds each kind's REST path, so nothing here knows plurals;
 * - `Watch` where something is waited for: a Deployment's rollout is followed on a watch from the
 *   resourceVersion it was read at, and re-watched when the server closes the stream;
 * - every `ApiException` and network error mapped to core/vocabulary/errors.ts: 401/403 → PreconditionError (what access
 *   to grant), 429/5xx/unreachable/timeout → TransientError (Step Functions retries it), anything else →
 *   KubernetesApiError with the `Status` the server sent.
 * The credentials come with the KubeConfig (core/kubernetes/kubeconfig.ts); the client's classes come through
 * core/kubernetes/client.ts, the one module that imports @kubernetes/client-node.
 */

import {
  KubernetesApiError,
  PreconditionError,
  StreamfleetError,
  TransientError,
} from '../vocabulary/errors.js';
import {
  ApiException,
  createConfiguration,
  type KubeConfig,
  type KubernetesObject,
  PatchStrategy,
  ServerConfiguration,
  Watch,
} from './client.js';
import {
  type Cluster,
  type ClusterInfo,
  FIELD_MANAGER,
  KEDA_API_VERSION,
  kedaHpaName,
  kedaMissing,
  type ManifestObject,
  type ObjectRef,
  type PodStatus,
  type RolloutStatus,
  type RolloutWait,
  rolloutOf,
  type ScaleStatus,
  scaledObjectMaxReplicas,
} from './cluster.js';
import {
  conditionTrue,
  describeRef,
  type KubernetesClusterOptions,
  ObjectApi,
  plain,
  specOf,
  statusOf,
} from './kubernetes-objects.js';

/** The `Cluster` port over a Kubernetes API server. */
export class KubernetesCluster implements Cluster {
  private readonly api: ObjectApi;
  private readonly server: string;
  private readonly pageSize: number;

  constructor(
    private readonly clusterInfo: ClusterInfo,
    private readonly kubeConfig: KubeConfig,
    options: KubernetesClusterOptions = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new StreamfleetError('The KubeConfig has no current cluster.');
    this.server = cluster.server;
    this.pageSize = options.pageSize ?? 250;
    const timeoutMs = options.timeoutMs ?? 15_000;
    this.api = new ObjectApi(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: kubeConfig },
        promiseMiddleware: [
          {
            pre: async (context) => {
              context.setSignal(AbortSignal.timeout(timeoutMs));
              return context;
            },
            post: async (context) => context,
          },
        ],
      }),
    );
  }

  get name(): string {
    return this.clusterInfo.name;
  }

  async info(): Promise<ClusterInfo> {
    return { ...this.clusterInfo };
  }

  /** Maps what the client threw to the error classes the workflows branch on. */
  private failure(error: unknown, action: string): Error {
    if (error instanceof StreamfleetError) return error;
    if (error instanceof ApiException) {
      const code = error.code;
      const status = statusOf(error);
      if (code === 401 || code === 403) {
        return new PreconditionError(
          `The Kubernetes API of cluster ${this.name} refused to ${action} (${code}: ${status?.message ?? 'no message'}).`,
          `give the identity Streamfleet runs as access to the cluster, e.g. aws eks create-access-entry --cluster-name ${this.name} --principal-arn ROLE_ARN, then aws eks associate-access-policy --cluster-name ${this.name} --principal-arn ROLE_ARN --policy-arn arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy --access-scope type=cluster.`,
        );
      }
      if (code === 429 || code >= 500) {
        return new TransientError(
          `The Kubernetes API of cluster ${this.name} answered ${code} to ${action}: ${status?.message ?? 'no message'}`,
          { cause: error },
        );
      }
      return new KubernetesApiError('request', action, code, status);
    }
    const e = error as { name?: string; code?: string; type?: string; message?: string };
    if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.name === 'FetchError') {
      return new TransientError(
        `Cannot reach the Kubernetes API of cluster ${this.name} at ${this.server} to ${action}: ${e.code ?? e.message ?? e.name}`,
        { cause: error },
      );
    }
    if (error instanceof Error && /Unrecognized API version and kind/.test(error.message)) {
      return new PreconditionError(
        `The Kubernetes API of cluster ${this.name} does not serve what Streamfleet asked for (${action}).`,
        'install the CustomResourceDefinition that kind comes from, then try again.',
        { cause: error },
      );
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.failure(error, action);
    }
  }

  async servesApi(apiVersion: string): Promise<boolean> {
    try {
      await this.api.discover(apiVersion);
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return false;
      throw this.failure(error, `discover ${apiVersion}`);
    }
  }

  async apply(manifest: ManifestObject): Promise<ManifestObject> {
    const action = `apply ${describeRef({ ...manifest, ...manifest.metadata })}`;
    try {
      const stored = await this.api.patch(
        structuredClone(manifest) as KubernetesObject,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
      return plain<ManifestObject>(stored);
    } catch (error) {
      if (error instanceof ApiException && error.code === 404 && manifest.apiVersion === KEDA_API_VERSION) {
        throw kedaMissing(this.name);
      }
      throw this.failure(error, action);
    }
  }

  async get(ref: ObjectRef): Promise<ManifestObject | undefined> {
    try {
      return plain<ManifestObject>(await this.api.read(specOf(ref)));
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw this.failure(error, `read ${describeRef(ref)}`);
    }
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    try {
      await this.api.delete(specOf(ref), undefined, undefined, undefined, undefined, 'Background');
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return false;
      throw this.failure(error, `delete ${describeRef(ref)}`);
    }
  }

  /** Every object of a kind, page by page (`limit`, then `continue` until the server sends none). */
  async list(input: {
    apiVersion: string;
    kind: string;
    namespace?: string;
    labelSelector?: string;
    fieldSelector?: string;
  }): Promise<ManifestObject[]> {
    const items: ManifestObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(`list ${describeRef(input)}`, () =>
        this.api.list(
          input.apiVersion,
          input.kind,
          input.namespace,
          undefined,
          undefined,
          undefined,
          input.fieldSelector,
          input.labelSelector,
          this.pageSize,
          token,
        ),
      );
      items.push(...plain<ManifestObject[]>(page.items));
      token = page.metadata?._continue || undefined;
    } while (token);
    return items;
  }

  async restartDeployment(namespace: string, name: string): Promise<void> {
    const patch = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        template: {
          metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
        },
      },
    };
    await this.call(`restart apps/v1 Deployment ${namespace}/${name}`, () =>
      this.api.patch(
        patch,
        undefined,
        undefined,
        FIELD_MANAGER,
        undefined,
        PatchStrategy.StrategicMergePatch,
      ),
    );
  }

  async waitForRollout(input: RolloutWait): Promise<RolloutStatus | undefined> {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: input.namespace, name: input.name };
    const deadline = Date.now() + input.timeoutMs;
    const path = await this.call(`discover ${describeRef(ref)}`, () =>
      this.api.collectionPath(ref.apiVersion, ref.kind, ref.namespace),
    );
    for (;;) {
      const deployment = await this.get(ref);
      if (!deployment) return undefined;
      let status = rolloutOf(deployment);
      if (status.complete || status.stalled || Date.now() >= deadline) return status;
      const resourceVersion = (deployment.metadata as { resourceVersion?: string }).resourceVersion;
      const watched = await this.watchUntil(
        path,
        {
          fieldSelector: `metadata.name=${input.name}`,
          ...(resourceVersion ? { resourceVersion } : {}),
          allowWatchBookmarks: true,
          timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
        },
        (object) => {
          status = rolloutOf(object);
          return status.complete || status.stalled;
        },
        deadline,
      );
      if (watched === 'done' || watched === 'deleted') return watched === 'deleted' ? undefined : status;
      if (Date.now() >= deadline) return status;
      // The stream ended (server timeout, 410 Gone, a dropped connection): read again and watch anew.
    }
  }

  /**
   * Follows a watch until `done(object)` says so ('done'), the object is deleted ('deleted'), the deadline
   * passes or the stream ends ('ended').
   */
  private async watchUntil(
    path: string,
    query: Record<string, string | number | boolean>,
    done: (object: ManifestObject) => boolean,
    deadline: number,
  ): Promise<'done' | 'deleted' | 'ended'> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let controller: AbortController | undefined;
      const finish = (result: 'done' | 'deleted' | 'ended') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        controller?.abort();
        resolve(result);
      };
      const timer = setTimeout(() => finish('ended'), Math.max(0, deadline - Date.now()));
      new Watch(this.kubeConfig)
        .watch(
          path,
          query,
          (type, object) => {
            if (type === 'DELETED') finish('deleted');
            else if ((type === 'ADDED' || type === 'MODIFIED') && done(object as ManifestObject))
              finish('done');
            else if (type === 'ERROR') finish('ended'); // e.g. 410 Gone: the caller reads again
          },
          (error: unknown) => {
            if (!error || settled) return finish('ended');
            const failure = this.failure(
              error instanceof Error && 'statusCode' in error
                ? new ApiException(Number(error.statusCode), error.message, undefined, {})
                : error,
              `watch ${path}`,
            );
            if (failure instanceof TransientError) return finish('ended');
            settled = true;
            clearTimeout(timer);
            reject(failure);
          },
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        }, reject);
    });
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
      this.list({
        apiVersion: 'v1',
        kind: 'Pod',
        namespace,
        labelSelector: `app.kubernetes.io/instance=${input.deploymentName}`,
      }),
    ]);
    const spec = deployment?.spec as { replicas?: number } | undefined;
    const status = deployment?.status as { readyReplicas?: number } | undefined;
    const soStatus = scaledObject?.status as { conditions?: unknown } | undefined;
    const ready = conditionTrue(soStatus?.conditions, 'Ready');
    const active = conditionTrue(soStatus?.conditions, 'Active');
    const hpaDesired = (hpa?.status as { desiredReplicas?: number } | undefined)?.desiredReplicas;
    const maxReplicas = scaledObjectMaxReplicas(scaledObject);
    const podStatuses: PodStatus[] = (
      pods as {
        metadata: { name: string; deletionTimestamp?: string };
        status?: { conditions?: unknown; containerStatuses?: { restartCount?: number }[] };
      }[]
    )
      .filter((pod) => !pod.metadata.deletionTimestamp)
      .map((pod) => ({
        name: pod.metadata.name,
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
            ...(maxReplicas === undefined ? {} : { maxReplicaCount: maxReplicas }),
          }
        : undefined,
      pods: podStatuses,
    };
  }
}
