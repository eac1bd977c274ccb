/**
 * The object endpoints of the local Kubernetes API (kubernetes-api.ts): get and list of what the cluster holds,
 * watches of pods, and writes as dry runs, over the cluster's backend. Authentication and RBAC are decided
 * before a request reaches here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse } from 'yaml';
import {
  KEDA_API_VERSION,
  type ManifestObject,
  type ObjectRef,
  type ScaleStatus,
} from '../../core/kubernetes/cluster.js';
import type { RoleBindingLike, RoleSource } from '../../core/kubernetes/rbac.js';
import {
  bodyOf,
  condition,
  HPA_PREFIX,
  methodNotAllowed,
  objectNotFound,
  type ParsedPath,
  qualified,
  type Resource,
  sendJson,
  status,
} from './kubernetes-api-paths.js';
import { parseLabelSelector } from './label-selector.js';
import { merge } from './object-store.js';
import type { PodFeed, PodJson, PodWatchEvent } from './pod-feed.js';

/** What the API serves from: the local cluster (local-cluster.ts implements it). */
export interface LocalApiBackend {
  readonly name: string;
  servesApi(apiVersion: string): Promise<boolean>;
  get(ref: ObjectRef): Promise<ManifestObject | undefined>;
  /** Stored objects of a kind (not pods), in `namespace` when given. */
  list(apiVersion: string, kind: string, namespace?: string): ManifestObject[];
  scaleStatus(input: {
    namespace: string;
    deploymentName: string;
    scaledObjectName: string;
  }): Promise<ScaleStatus>;
  /** The pods that exist now, in `namespace` when given. */
  pods(namespace?: string): PodJson[];
  readonly podFeed: PodFeed;
  /** The RBAC objects applied: bindings, and the roles they may name. */
  rbac(): { bindings: RoleBindingLike[]; roles: RoleSource };
  /** When a stored object was created (metadata.creationTimestamp). */
  createdAt(ref: ObjectRef): string | undefined;
}

export class KubernetesObjectRoutes {
  /** Open watch streams, ended when the API stops. */
  readonly watches = new Set<ServerResponse>();

  constructor(private readonly backend: LocalApiBackend) {}

  async read(path: ParsedPath, resource: Resource): Promise<unknown> {
    const { namespace, name } = path;
    if (name === undefined) return undefined;
    if (resource.alwaysEmpty) return undefined;
    if (resource.kind === 'Pod') return this.backend.pods(namespace).find((p) => p.metadata.name === name);
    if (resource.kind === 'HorizontalPodAutoscaler' && namespace !== undefined)
      return this.hpa(namespace, name);
    const object = await this.backend.get({
      apiVersion: resource.groupVersion,
      kind: resource.kind,
      name,
      ...(resource.namespaced && namespace !== undefined ? { namespace } : {}),
    });
    if (!object) return undefined;
    const stamped = this.withCreationTime(object);
    if (resource.kind === 'ScaledObject' && namespace !== undefined)
      return this.withScalerStatus(stamped, namespace);
    return stamped;
  }

  /** metadata.creationTimestamp from when the cluster stored it, as an API server sets it. */
  private withCreationTime(object: ManifestObject): ManifestObject {
    const metadata = object.metadata as ManifestObject['metadata'] & { creationTimestamp?: string };
    if (metadata.creationTimestamp) return object;
    const createdAt = this.backend.createdAt({
      apiVersion: object.apiVersion,
      kind: object.kind,
      name: metadata.name,
      ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
    });
    if (!createdAt) return object;
    return {
      ...object,
      metadata: { ...metadata, creationTimestamp: createdAt } as ManifestObject['metadata'],
    };
  }

  async list(path: ParsedPath, resource: Resource, url: URL): Promise<unknown> {
    const selects = parseLabelSelector(url.searchParams.get('labelSelector'));
    const namespace = resource.namespaced ? path.namespace : undefined;
    let items: unknown[];
    if (resource.alwaysEmpty) items = [];
    else if (resource.kind === 'Pod') items = this.backend.pods(namespace);
    else {
      const stored = this.backend.list(resource.groupVersion, resource.kind, namespace);
      items = await Promise.all(
        stored.map(async (object) =>
          resource.kind === 'Deployment' || resource.kind === 'ScaledObject'
            ? ((await this.read(
                { ...path, name: object.metadata.name, namespace: object.metadata.namespace },
                resource,
              )) ?? object)
            : this.withCreationTime(object),
        ),
      );
    }
    return {
      kind: `${resource.kind}List`,
      apiVersion: resource.groupVersion,
      metadata: { resourceVersion: String(this.backend.podFeed.resourceVersion()) },
      items: items.filter((item) =>
        selects((item as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {}),
      ),
    };
  }

  /**
   * A watch: pods from `resourceVersion` on (all that exist as ADDED when none is given), other kinds as
   * their current objects; the stream ends after `timeoutSeconds` or when the client goes.
   */
  watch(res: ServerResponse, url: URL, path: ParsedPath, resource: Resource): void {
    const selects = parseLabelSelector(url.searchParams.get('labelSelector'));
    const namespace = resource.namespaced ? path.namespace : undefined;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // the client's watch starts with the answer's headers, events or not
    this.watches.add(res);
    const write = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
    const wanted = (event: PodWatchEvent) =>
      (namespace === undefined || event.namespace === namespace) && selects(event.object.metadata.labels);
    let unsubscribe = () => {};
    const end = () => {
      unsubscribe();
      this.watches.delete(res);
      res.end();
    };
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 1800);
    const timer = setTimeout(end, Math.max(1, timeout) * 1000);
    timer.unref();
    res.on('close', () => {
      clearTimeout(timer);
      unsubscribe();
      this.watches.delete(res);
    });
    if (resource.kind !== 'Pod') {
      const objects = resource.alwaysEmpty
        ? []
        : this.backend.list(resource.groupVersion, resource.kind, namespace);
      for (const object of objects) if (selects(object.metadata.labels ?? {})) write('ADDED', object);
      return;
    }
    const feed = this.backend.podFeed;
    const from = url.searchParams.get('resourceVersion');
    if (from === null || from === '' || from === '0') {
      for (const pod of this.backend.pods(namespace)) if (selects(pod.metadata.labels)) write('ADDED', pod);
    } else {
      const missed = feed.since(Number(from));
      if (missed === 'gone') {
        write(
          'ERROR',
          status(410, 'Expired', `too old resource version: ${from} (${feed.resourceVersion()})`),
        );
        end();
        return;
      }
      for (const event of missed) if (wanted(event)) write(event.type, event.object);
    }
    unsubscribe = feed.subscribe((event) => {
      if (wanted(event)) write(event.type, event.object);
    });
  }

  /** Writes are dry runs only (kubectl apply --dry-run=server); a real one is refused. */
  async write(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: ParsedPath,
    resource: Resource,
    verb: string,
  ): Promise<void> {
    if (url.searchParams.get('dryRun') !== 'All' || !['create', 'update', 'patch'].includes(verb)) {
      return sendJson(
        res,
        405,
        methodNotAllowed(
          'The local cluster API changes nothing (dry runs aside: ?dryRun=All): change the fleet through the workflows.',
        ),
      );
    }
    const text = await bodyOf(req);
    let body: ManifestObject;
    try {
      body = parse(text) as ManifestObject;
    } catch (error) {
      return sendJson(res, 400, status(400, 'BadRequest', `the body is not JSON or YAML: ${String(error)}`));
    }
    const name = body?.metadata?.name ?? path.name;
    const bodyNamespace = body?.metadata?.namespace;
    const problem =
      verb !== 'patch' && (body?.kind !== resource.kind || body?.apiVersion !== resource.groupVersion)
        ? `the object is a ${body?.apiVersion} ${body?.kind}, not a ${resource.groupVersion} ${resource.kind}`
        : !name
          ? 'metadata.name is required'
          : path.name !== undefined && name !== path.name
            ? `the name of the object (${name}) does not match the name on the URL (${path.name})`
            : resource.namespaced && bodyNamespace !== undefined && bodyNamespace !== path.namespace
              ? `the namespace of the object (${bodyNamespace}) does not match the namespace on the request (${path.namespace})`
              : undefined;
    if (problem) return sendJson(res, 400, status(400, 'BadRequest', problem));
    const existing = await this.read({ ...path, name }, resource);
    const stamp = (object: ManifestObject) => ({
      ...object,
      metadata: {
        ...object.metadata,
        name,
        ...(resource.namespaced ? { namespace: path.namespace } : {}),
        uid:
          (existing as { metadata?: { uid?: string } } | undefined)?.metadata?.uid ??
          '00000000-0000-0000-0000-000000000000',
        creationTimestamp:
          (existing as { metadata?: { creationTimestamp?: string } } | undefined)?.metadata
            ?.creationTimestamp ?? new Date().toISOString(),
      },
    });
    const apply = req.headers['content-type']?.startsWith('application/apply-patch') ?? false;
    if (verb === 'create' && existing) {
      const message = `${qualified(path)} "${name}" already exists`;
      return sendJson(res, 409, status(409, 'AlreadyExists', message));
    }
    if ((verb === 'update' || (verb === 'patch' && !apply)) && !existing) {
      return sendJson(res, 404, objectNotFound(path, name));
    }
    if (verb === 'patch') {
      const merged = merge(existing ?? { apiVersion: resource.groupVersion, kind: resource.kind }, body);
      return sendJson(res, existing ? 200 : 201, stamp(merged as ManifestObject));
    }
    return sendJson(res, verb === 'create' ? 201 : 200, stamp(body));
  }

  private async withScalerStatus(object: ManifestObject, namespace: string): Promise<unknown> {
    const target = (object.spec as { scaleTargetRef?: { name?: string } } | undefined)?.scaleTargetRef?.name;
    const scale = await this.backend.scaleStatus({
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
    const so = await this.backend.get({
      apiVersion: KEDA_API_VERSION,
      kind: 'ScaledObject',
      namespace,
      name: scaledObjectName,
    });
    const target = (so?.spec as { scaleTargetRef?: { name?: string } } | undefined)?.scaleTargetRef?.name;
    if (!so || !target) return undefined;
    const scale = await this.backend.scaleStatus({ namespace, deploymentName: target, scaledObjectName });
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
}
