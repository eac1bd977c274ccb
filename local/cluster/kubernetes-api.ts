/**
 * The local cluster's Kubernetes API, over HTTPS on loopback (a self-signed certificate, tls.ts), in the wire
 * format a real API server speaks for what its clients here need:
 *
 * - who calls: bearer tokens (api-credentials.ts): the operator's kubeconfig is `kubernetes-admin`
 *   (`system:masters`), each pod presents its ServiceAccount's token; anything else is a 401 `Status`;
 * - what they may do: RBAC (core/kubernetes/rbac.ts) over the Roles, ClusterRoles and their bindings applied to the
 *   cluster, as the API server's authorizer decides it; a refusal is the API server's 403 Forbidden `Status`
 *   naming the verb, resource, namespace and user. Every decision is counted (`usage()`), so tests prove a
 *   grant from the calls as the strict layer proves IAM policies;
 * - discovery as kubectl reads it: `/version`, `/api`, `/apis`, each group version's `APIResourceList`;
 * - reads: GET and list (with `labelSelector`) of what was applied (Deployments with their replica counts,
 *   ScaledObjects with KEDA's Ready/Active conditions, RBAC objects, …), KEDA's HPA (`keda-hpa-NAME`), the
 *   pods of the Deployments (pod-feed.ts: container states, restarts, deletion), and watches of pods
 *   (`?watch=true` from a `resourceVersion`, 410 Gone when it is too old, `timeoutSeconds`);
 * - writes only as dry runs (`?dryRun=All`: create, update, patch, server-side apply), enough for
 *   `kubectl apply --dry-run=server`; a real write is refused with a 405 `Status`: the workflows change the
 *   local cluster, not this API. Events and ReplicaSets are listed empty (kubectl describe asks for them).
 *
 * It is no Kubernetes: no admission, defaulting or schema validation beyond kind, name and namespace.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse } from 'yaml';
import {
  KEDA_API_VERSION,
  type ManifestObject,
  type ObjectRef,
  type ScaleStatus,
} from '../../core/kubernetes/cluster.js';
import {
  authorize,
  forbiddenStatus,
  MASTERS_GROUP,
  type ResourceRequest,
  type RoleBindingLike,
  type RoleSource,
  serviceAccountUser,
  type UserInfo,
} from '../../core/kubernetes/rbac.js';
import { ApiCredentials, kubeconfigYaml } from './api-credentials.js';
import { type OpenApiResource, openApiDocument, openApiRoot } from './api-openapi.js';
import { asTable } from './api-tables.js';
import {
  ACCESS_REVIEWS,
  bodyOf,
  condition,
  HPA_PREFIX,
  methodNotAllowed,
  objectNotFound,
  type ParsedPath,
  parsePath,
  qualified,
  READ_VERBS,
  RESOURCES,
  type Resource,
  status,
  verbOf,
} from './kubernetes-api-paths.js';
import { parseLabelSelector } from './label-selector.js';
import { merge } from './object-store.js';
import type { PodFeed, PodJson, PodWatchEvent } from './pod-feed.js';
import { selfSignedCertificate } from './tls.js';

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

/** One line of `usage()`: what a user asked for, and how often it was allowed and refused. */
export interface ApiUsage {
  user: string;
  verb: string;
  apiGroup: string;
  resource: string;
  namespace: string | undefined;
  allowed: number;
  denied: number;
}

export class LocalKubernetesApi {
  private server: Server | undefined;
  private readonly tls = selfSignedCertificate();
  readonly credentials = new ApiCredentials();
  private readonly usageByKey = new Map<string, ApiUsage>();
  private readonly watches = new Set<ServerResponse>();
  endpoint = '';

  constructor(private readonly backend: LocalApiBackend) {}

  /** The operator's bearer token (`kubernetes-admin`, group system:masters). */
  get token(): string {
    return this.credentials.adminToken;
  }

  /** The PEM certificate clients trust (kubeconfigs carry it as certificate-authority-data). */
  get caPem(): string {
    return this.tls.cert;
  }

  async start(): Promise<string> {
    if (this.server) return this.endpoint;
    this.server = createServer(
      { key: this.tls.key, cert: this.tls.cert },
      (req, res) => void this.handle(req, res),
    );
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.endpoint = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    for (const watch of this.watches) watch.end();
    this.watches.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
    this.credentials.dispose();
  }

  /** The operator's kubeconfig: this API, its CA, the admin token. */
  kubeconfig(): string {
    return kubeconfigYaml({
      clusterName: this.backend.name,
      server: this.endpoint,
      caPem: this.caPem,
      userName: `streamfleet-local-${this.backend.name}`,
      token: this.token,
    });
  }

  /** The kubeconfig file a pod of this ServiceAccount uses (undefined until the API runs). */
  serviceAccountKubeconfig(namespace: string, serviceAccount: string): string | undefined {
    if (!this.server) return undefined;
    return this.credentials.serviceAccountKubeconfig(
      { clusterName: this.backend.name, server: this.endpoint, caPem: this.caPem },
      namespace,
      serviceAccount,
    );
  }

  /** Every authorization decision so far, per user, verb, resource and namespace. */
  usage(): ApiUsage[] {
    return [...this.usageByKey.values()].map((u) => ({ ...u }));
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private record(user: UserInfo, request: ResourceRequest, allowed: boolean): void {
    const key = JSON.stringify([
      user.username,
      request.verb,
      request.apiGroup,
      request.resource,
      request.namespace,
    ]);
    const entry = this.usageByKey.get(key) ?? {
      user: user.username,
      verb: request.verb,
      apiGroup: request.apiGroup,
      resource: request.subresource ? `${request.resource}/${request.subresource}` : request.resource,
      namespace: request.namespace,
      allowed: 0,
      denied: 0,
    };
    if (allowed) entry.allowed++;
    else entry.denied++;
    this.usageByKey.set(key, entry);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const header = req.headers.authorization;
      const caller = this.credentials.userOf(header?.startsWith('Bearer ') ? header.slice(7) : undefined);
      if (!caller) return this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      const user = impersonated(caller, req);
      if (!user) {
        const as = String(req.headers['impersonate-user']);
        return this.send(
          res,
          403,
          status(
            403,
            'Forbidden',
            `users "${as}" is forbidden: User "${caller.username}" cannot impersonate resource "users" in API group "" at the cluster scope`,
          ),
        );
      }
      const url = new URL(req.url ?? '/', 'https://local');
      if (url.pathname === ACCESS_REVIEWS && req.method === 'POST') return this.accessReview(req, res, user);
      const discovery = await this.discovery(url.pathname);
      if (discovery !== undefined) {
        if (req.method !== 'GET')
          return this.send(
            res,
            405,
            methodNotAllowed('the server does not allow this method on the requested resource'),
          );
        return this.send(
          res,
          discovery === null ? 404 : 200,
          discovery ?? status(404, 'NotFound', 'the server could not find the requested resource'),
        );
      }
      const path = parsePath(url.pathname);
      if (!path || path.plural === undefined) {
        return this.send(
          res,
          404,
          status(404, 'NotFound', 'the server could not find the requested resource'),
        );
      }
      const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
      const request: ResourceRequest = {
        verb: verbOf(req.method ?? 'GET', path.name !== undefined, watch),
        apiGroup: path.apiGroup,
        resource: path.plural,
        ...(path.subresource ? { subresource: path.subresource } : {}),
        ...(path.namespace !== undefined ? { namespace: path.namespace } : {}),
        ...(path.name !== undefined ? { name: path.name } : {}),
      };
      const { bindings, roles } = this.backend.rbac();
      const allowed = authorize(user, request, bindings, roles);
      this.record(user, request, allowed);
      if (!allowed) return this.send(res, 403, forbiddenStatus(user, request));

      const resource = RESOURCES[path.plural];
      const served =
        resource !== undefined &&
        resource.groupVersion === path.groupVersion &&
        path.subresource === undefined &&
        (await this.backend.servesApi(path.groupVersion));
      if (!resource || !served) {
        return this.send(
          res,
          404,
          status(404, 'NotFound', 'the server could not find the requested resource'),
        );
      }
      if (!READ_VERBS.includes(request.verb)) return this.write(req, res, url, path, resource, request.verb);
      if (request.verb === 'watch') return this.watch(res, url, path, resource);
      let body =
        request.verb === 'get' ? await this.read(path, resource) : await this.list(path, resource, url);
      if (body !== undefined && /\bas=Table\b/.test(String(req.headers.accept ?? ''))) {
        const items =
          request.verb === 'get'
            ? [body]
            : ((body as { items: unknown[] }).items as Parameters<typeof asTable>[1]);
        body = asTable(
          resource.kind,
          items as Parameters<typeof asTable>[1],
          String(this.backend.podFeed.resourceVersion()),
        );
      }
      if (body === undefined) return this.send(res, 404, objectNotFound(path, path.name));
      return this.send(res, 200, body);
    } catch (error) {
      return this.send(
        res,
        500,
        status(500, 'InternalError', error instanceof Error ? error.message : String(error)),
      );
    }
  }

  /** Discovery documents; undefined when the path is not a discovery path, null when it is one not served. */
  private async discovery(pathname: string): Promise<unknown> {
    const path = pathname.replace(/\/+$/, '') || '/';
    if (path === '/version') {
      return {
        major: '1',
        minor: '30',
        gitVersion: 'v1.30.0-streamfleet-local',
        platform: `${process.platform}/${process.arch}`,
      };
    }
    const versions = await this.servedGroupVersions();
    if (path === '/api') {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(this.endpoint).host }],
      };
    }
    if (path === '/apis') {
      const groups = versions.filter((gv) => gv.includes('/'));
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((groupVersion) => {
          const [name = '', version = ''] = groupVersion.split('/');
          const entry = { groupVersion, version };
          return { name, versions: [entry], preferredVersion: entry };
        }),
      };
    }
    const apiGroup = /^\/apis\/([^/]+)$/.exec(path);
    if (apiGroup) {
      const groupVersion = versions.find((gv) => gv.startsWith(`${apiGroup[1]}/`));
      if (!groupVersion) return null;
      const entry = { groupVersion, version: groupVersion.split('/')[1] };
      return {
        kind: 'APIGroup',
        apiVersion: 'v1',
        name: apiGroup[1],
        versions: [entry],
        preferredVersion: entry,
      };
    }
    const resourceList = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))$/.exec(path);
    if (resourceList) {
      const groupVersion = (resourceList[1] ?? resourceList[2]) as string;
      if (!versions.includes(groupVersion)) return null;
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion,
        resources: Object.entries(RESOURCES)
          .filter(([, r]) => r.groupVersion === groupVersion)
          .map(([name, r]) => ({
            name,
            singularName: r.kind.toLowerCase(),
            namespaced: r.namespaced,
            kind: r.kind,
            verbs: READ_VERBS,
            ...(r.shortNames ? { shortNames: r.shortNames } : {}),
          })),
      };
    }
    if (path === '/openapi/v3') return openApiRoot(versions);
    if (path.startsWith('/openapi/v3/')) {
      return (
        openApiDocument(
          path.slice('/openapi/v3/'.length),
          this.resources().filter((r) => versions.includes(r.groupVersion)),
        ) ?? null
      );
    }
    if (path.startsWith('/openapi/')) return null;
    return undefined;
  }

  private resources(): OpenApiResource[] {
    return Object.entries(RESOURCES).map(([plural, r]) => ({
      plural,
      groupVersion: r.groupVersion,
      kind: r.kind,
      namespaced: r.namespaced,
    }));
  }

  /** POST selfsubjectaccessreviews (`kubectl auth can-i`): what RBAC decides for the caller. */
  private async accessReview(req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
    const review = parse(await bodyOf(req)) as {
      spec?: {
        resourceAttributes?: {
          verb?: string;
          group?: string;
          resource?: string;
          subresource?: string;
          namespace?: string;
          name?: string;
        };
      };
    };
    const attributes = review?.spec?.resourceAttributes ?? {};
    const { bindings, roles } = this.backend.rbac();
    const allowed = authorize(
      user,
      {
        verb: attributes.verb ?? '',
        apiGroup: attributes.group ?? '',
        resource: attributes.resource ?? '',
        ...(attributes.subresource ? { subresource: attributes.subresource } : {}),
        ...(attributes.namespace ? { namespace: attributes.namespace } : {}),
        ...(attributes.name ? { name: attributes.name } : {}),
      },
      bindings,
      roles,
    );
    return this.send(res, 201, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: review?.spec ?? {},
      status: { allowed, ...(allowed ? {} : { reason: 'no RBAC rule allows it' }) },
    });
  }

  private async servedGroupVersions(): Promise<string[]> {
    const all = [...new Set(Object.values(RESOURCES).map((r) => r.groupVersion))];
    const served: string[] = [];
    for (const gv of all) if (await this.backend.servesApi(gv)) served.push(gv);
    return served;
  }

  private async read(path: ParsedPath, resource: Resource): Promise<unknown> {
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

  private async list(path: ParsedPath, resource: Resource, url: URL): Promise<unknown> {
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
  private watch(res: ServerResponse, url: URL, path: ParsedPath, resource: Resource): void {
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
  private async write(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: ParsedPath,
    resource: Resource,
    verb: string,
  ): Promise<void> {
    if (url.searchParams.get('dryRun') !== 'All' || !['create', 'update', 'patch'].includes(verb)) {
      return this.send(
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
      return this.send(res, 400, status(400, 'BadRequest', `the body is not JSON or YAML: ${String(error)}`));
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
    if (problem) return this.send(res, 400, status(400, 'BadRequest', problem));
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
      return this.send(res, 409, status(409, 'AlreadyExists', message));
    }
    if ((verb === 'update' || (verb === 'patch' && !apply)) && !existing) {
      return this.send(res, 404, objectNotFound(path, name));
    }
    if (verb === 'patch') {
      const merged = merge(existing ?? { apiVersion: resource.groupVersion, kind: resource.kind }, body);
      return this.send(res, existing ? 200 : 201, stamp(merged as ManifestObject));
    }
    return this.send(res, verb === 'create' ? 201 : 200, stamp(body));
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

/**
 * The user a request acts as: the caller, or whom it impersonates (`Impersonate-User`, `Impersonate-Group`:
 * kubectl --as / --as-group), which only the cluster's admins may; undefined when the caller may not.
 */
function impersonated(caller: UserInfo, req: IncomingMessage): UserInfo | undefined {
  const as = req.headers['impersonate-user'];
  if (as === undefined) return caller;
  if (!caller.groups.includes(MASTERS_GROUP)) return undefined;
  const username = String(as);
  const groups = [req.headers['impersonate-group'] ?? []].flat().map(String);
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (account && groups.length === 0) return serviceAccountUser(account[1] as string, account[2] as string);
  return { username, groups: [...groups, 'system:authenticated'] };
}

/** Starts the API of a local cluster (the cluster starts its own; this is for a second one, e.g. in tests). */
export async function startLocalKubernetesApi(backend: LocalApiBackend): Promise<LocalKubernetesApi> {
  const api = new LocalKubernetesApi(backend);
  await api.start();
  return api;
}
