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
 * It is no Kubernetes: no admission, defaulting or schema validation beyond kind, name and namespace. This file
 * authenticates, authorizes and routes; the object endpoints are kubernetes-api-objects.ts.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse } from 'yaml';
import {
  authorize,
  forbiddenStatus,
  type ResourceRequest,
  type UserInfo,
} from '../../core/kubernetes/rbac.js';
import { ApiCredentials, kubeconfigYaml } from './api-credentials.js';
import { type OpenApiResource, openApiDocument, openApiRoot } from './api-openapi.js';
import { asTable } from './api-tables.js';
import { KubernetesObjectRoutes, type LocalApiBackend } from './kubernetes-api-objects.js';
import {
  ACCESS_REVIEWS,
  bodyOf,
  impersonated,
  methodNotAllowed,
  objectNotFound,
  parsePath,
  READ_VERBS,
  RESOURCES,
  sendJson,
  status,
  verbOf,
} from './kubernetes-api-paths.js';
import { selfSignedCertificate } from './tls.js';

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
  private readonly objects: KubernetesObjectRoutes;
  endpoint = '';

  constructor(private readonly backend: LocalApiBackend) {
    this.objects = new KubernetesObjectRoutes(backend);
  }

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
    for (const watch of this.objects.watches) watch.end();
    this.objects.watches.clear();
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
      if (!caller) return sendJson(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      const user = impersonated(caller, req);
      if (!user) {
        const as = String(req.headers['impersonate-user']);
        return sendJson(
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
          return sendJson(
            res,
            405,
            methodNotAllowed('the server does not allow this method on the requested resource'),
          );
        return sendJson(
          res,
          discovery === null ? 404 : 200,
          discovery ?? status(404, 'NotFound', 'the server could not find the requested resource'),
        );
      }
      const path = parsePath(url.pathname);
      if (!path || path.plural === undefined) {
        return sendJson(
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
      if (!allowed) return sendJson(res, 403, forbiddenStatus(user, request));

      const resource = RESOURCES[path.plural];
      const served =
        resource !== undefined &&
        resource.groupVersion === path.groupVersion &&
        path.subresource === undefined &&
        (await this.backend.servesApi(path.groupVersion));
      if (!resource || !served) {
        return sendJson(
          res,
          404,
          status(404, 'NotFound', 'the server could not find the requested resource'),
        );
      }
      if (!READ_VERBS.includes(request.verb))
        return this.objects.write(req, res, url, path, resource, request.verb);
      if (request.verb === 'watch') return this.objects.watch(res, url, path, resource);
      let body =
        request.verb === 'get'
          ? await this.objects.read(path, resource)
          : await this.objects.list(path, resource, url);
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
      if (body === undefined) return sendJson(res, 404, objectNotFound(path, path.name));
      return sendJson(res, 200, body);
    } catch (error) {
      return sendJson(
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
    return sendJson(res, 201, {
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
}

/** Starts the API of a local cluster (the cluster starts its own; this is for a second one, e.g. in tests). */
export async function startLocalKubernetesApi(backend: LocalApiBackend): Promise<LocalKubernetesApi> {
  const api = new LocalKubernetesApi(backend);
  await api.start();
  return api;
}
