/**
 * A read-only Kubernetes API in front of a local cluster, so tools outside the `npm start` process — the
 * `streamfleet status` command, through the same @kubernetes/client-node adapter it uses against EKS — can
 * read the local fleet over the wire format: discovery (`APIResourceList`), GET of the objects applied
 * (Deployment with its replica counts, ScaledObject with KEDA's Ready/Active conditions), KEDA's HPA
 * (`keda-hpa-NAME`, its desired count) and the pods of a Deployment by `app.kubernetes.io/instance` label
 * (Ready condition, restarts). Answers are built from the `Cluster` port (`get`, `scaleStatus`); writes are
 * refused with a `Status` 405: the workflows change the local cluster, not this API. A bearer token guards it.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { type Cluster, KEDA_API_VERSION, type ManifestObject } from '../../core/cluster.js';

const RESOURCES: Record<string, { apiVersion: string; kind: string; namespaced: boolean }> = {
  namespaces: { apiVersion: 'v1', kind: 'Namespace', namespaced: false },
  serviceaccounts: { apiVersion: 'v1', kind: 'ServiceAccount', namespaced: true },
  pods: { apiVersion: 'v1', kind: 'Pod', namespaced: true },
  deployments: { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true },
  horizontalpodautoscalers: {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    namespaced: true,
  },
  poddisruptionbudgets: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', namespaced: true },
  scaledobjects: { apiVersion: KEDA_API_VERSION, kind: 'ScaledObject', namespaced: true },
  triggerauthentications: { apiVersion: KEDA_API_VERSION, kind: 'TriggerAuthentication', namespaced: true },
};

const HPA_PREFIX = 'keda-hpa-';
const INSTANCE_LABEL = 'app.kubernetes.io/instance';

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function condition(type: string, value: boolean, message?: string) {
  return { type, status: value ? 'True' : 'False', ...(message ? { message } : {}) };
}

export class LocalKubernetesApi {
  private server: Server | undefined;
  readonly token = randomBytes(16).toString('hex');
  endpoint = '';

  constructor(private readonly cluster: Cluster) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A kubeconfig for this API (plain HTTP on loopback, so TLS verification is off). */
  kubeconfig(): string {
    const name = `streamfleet-local-${this.cluster.name}`;
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: this.cluster.name, cluster: { server: this.endpoint, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name, user: { token: this.token } }],
      contexts: [{ name, context: { cluster: this.cluster.name, user: name } }],
      'current-context': name,
    });
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        return this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      }
      if (req.method !== 'GET') {
        return this.send(
          res,
          405,
          status(
            405,
            'MethodNotAllowed',
            'The local cluster API is read-only: change the fleet through the workflows.',
          ),
        );
      }
      const url = new URL(req.url ?? '/', 'http://local');
      const body = await this.read(url);
      if (body === undefined) {
        return this.send(res, 404, status(404, 'NotFound', `${url.pathname} not found`));
      }
      return this.send(res, 200, body);
    } catch (error) {
      return this.send(
        res,
        500,
        status(500, 'InternalError', error instanceof Error ? error.message : String(error)),
      );
    }
  }

  private async read(url: URL): Promise<unknown> {
    const parts = url.pathname.split('/').filter((p) => p.length > 0);
    const core = parts[0] === 'api';
    const apiVersion = core ? parts[1] : `${parts[1]}/${parts[2]}`;
    const rest = parts.slice(core ? 2 : 3);
    if (!apiVersion || parts[0] === undefined || (!core && parts[0] !== 'apis')) return undefined;
    if (!(await this.cluster.servesApi(apiVersion))) return undefined;
    const served = Object.entries(RESOURCES).filter(([, r]) => r.apiVersion === apiVersion);
    if (rest.length === 0) {
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: apiVersion,
        resources: served.map(([name, r]) => ({
          name,
          kind: r.kind,
          namespaced: r.namespaced,
          verbs: ['get', 'list'],
        })),
      };
    }
    const namespaced = rest[0] === 'namespaces' && rest.length >= 3;
    const namespace = namespaced ? rest[1] : undefined;
    const plural = namespaced ? rest[2] : rest[0];
    const name = namespaced ? rest[3] : rest[1];
    const resource = served.find(([p]) => p === plural)?.[1];
    if (!resource || plural === undefined) return undefined;
    if (plural === 'pods' && name === undefined && namespace !== undefined) return this.pods(namespace, url);
    if (name === undefined) return undefined;
    if (plural === 'horizontalpodautoscalers' && namespace !== undefined) return this.hpa(namespace, name);
    const object = await this.cluster.get({
      apiVersion: resource.apiVersion,
      kind: resource.kind,
      name,
      ...(namespace === undefined ? {} : { namespace }),
    });
    if (!object) return undefined;
    if (plural === 'scaledobjects' && namespace !== undefined)
      return this.withScalerStatus(object, namespace);
    return object;
  }

  private async withScalerStatus(object: ManifestObject, namespace: string): Promise<unknown> {
    const target = (object.spec as { scaleTargetRef?: { name?: string } } | undefined)?.scaleTargetRef?.name;
    const scale = await this.cluster.scaleStatus({
      namespace,
      deploymentName: target ?? object.metadata.name,
      scaledObjectName: object.metadata.name,
    });
    const so = scale.scaledObject;
    return {
      ...object,
      status: {
        conditions: so
          ? [condition('Ready', so.ready, so.message), condition('Active', so.active)]
          : [condition('Ready', false, 'the local KEDA has not polled it yet')],
      },
    };
  }

  private async hpa(namespace: string, name: string): Promise<unknown> {
    if (!name.startsWith(HPA_PREFIX)) return undefined;
    const scaledObjectName = name.slice(HPA_PREFIX.length);
    const so = await this.cluster.get({
      apiVersion: KEDA_API_VERSION,
      kind: 'ScaledObject',
      namespace,
      name: scaledObjectName,
    });
    const target = (so?.spec as { scaleTargetRef?: { name?: string } } | undefined)?.scaleTargetRef?.name;
    if (!so || !target) return undefined;
    const scale = await this.cluster.scaleStatus({ namespace, deploymentName: target, scaledObjectName });
    const desired = scale.scaledObject?.hpaDesiredReplicas;
    if (desired === undefined) return undefined;
    return {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name, namespace },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target } },
      status: { desiredReplicas: desired, currentReplicas: scale.deployment?.desiredReplicas ?? 0 },
    };
  }

  private async pods(namespace: string, url: URL): Promise<unknown> {
    const selector = url.searchParams.get('labelSelector') ?? '';
    const instance = selector.startsWith(`${INSTANCE_LABEL}=`)
      ? selector.slice(INSTANCE_LABEL.length + 1)
      : undefined;
    const pods =
      instance === undefined
        ? []
        : (
            await this.cluster.scaleStatus({
              namespace,
              deploymentName: instance,
              scaledObjectName: instance,
            })
          ).pods;
    return {
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: {},
      items: pods.map((pod) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod.name, namespace, labels: { [INSTANCE_LABEL]: instance ?? '' } },
        status: {
          phase: 'Running',
          conditions: [condition('Ready', pod.ready)],
          containerStatuses: [{ name: 'consumer', ready: pod.ready, restartCount: pod.restarts }],
        },
      })),
    };
  }
}

export async function startLocalKubernetesApi(cluster: Cluster): Promise<LocalKubernetesApi> {
  const api = new LocalKubernetesApi(cluster);
  await api.start();
  return api;
}
