/**
 * FAKE Kubernetes API server for unit tests: node:http on 127.0.0.1, in memory, speaking the wire format the
 * real one speaks for what Streamfleet sends — discovery (`GET /api/v1`, `GET /apis/GROUP/VERSION`:
 * `APIResourceList`), server-side apply (`PATCH` with `application/apply-patch+yaml`, `fieldManager`
 * required, conflicts only without `force`), strategic-merge patches, `GET` with `Status` 404s, `DELETE`,
 * lists by label and field selector, paged with `limit` and `continue` (an opaque token in the list's
 * `metadata.continue`, `410 Expired` for a token it did not issue), and watches (`?watch=true`: chunked JSON
 * lines `{"type":"ADDED|MODIFIED|DELETED|ERROR","object":…}` from `resourceVersion` on, closed after
 * `timeoutSeconds`). Every write bumps a global `metadata.resourceVersion`; a Deployment's spec change bumps
 * `metadata.generation`, and a stand-in Deployment controller rolls it out (`status` with
 * `observedGeneration` and ready replicas) at once, or only when `completeRollout` is called
 * (`rollouts = 'manual'`). Bearer tokens are checked. It is no Kubernetes: no defaulting, no validation
 * beyond what the tests need.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'yaml';
import { failureStatus } from '../../../core/kubernetes/cluster.js';

type Json = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  authorization: string | undefined;
  body: unknown;
}

interface StoredObject {
  object: Json;
  /** Per field manager, the last configuration it applied. */
  applied: Map<string, Json>;
  /** What other writers (seeds, strategic-merge patches) put there. */
  base: Json;
  /** The status subresource (a controller's), kept across applies. */
  status?: Json;
}

interface WatchEvent {
  resourceVersion: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  path: string;
  object: Json;
}

interface Watcher {
  collection: string;
  name: string | undefined;
  res: ServerResponse;
}

const GROUPS: Record<string, string[]> = {
  'api/v1': ['namespaces', 'serviceaccounts', 'pods'],
  'apis/apps/v1': ['deployments'],
  'apis/autoscaling/v2': ['horizontalpodautoscalers'],
  'apis/policy/v1': ['poddisruptionbudgets'],
  'apis/rbac.authorization.k8s.io/v1': ['roles', 'rolebindings'],
  'apis/keda.sh/v1alpha1': ['scaledobjects', 'triggerauthentications'],
};

const KINDS: Record<string, string> = {
  namespaces: 'Namespace',
  serviceaccounts: 'ServiceAccount',
  pods: 'Pod',
  deployments: 'Deployment',
  horizontalpodautoscalers: 'HorizontalPodAutoscaler',
  poddisruptionbudgets: 'PodDisruptionBudget',
  roles: 'Role',
  rolebindings: 'RoleBinding',
  scaledobjects: 'ScaledObject',
  triggerauthentications: 'TriggerAuthentication',
};

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function merge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Json = { ...base };
    for (const [k, v] of Object.entries(patch)) out[k] = v === null ? undefined : merge(base[k], v);
    return out;
  }
  return patch === undefined ? base : patch;
}

function status(code: number, reason: string, message: string, details?: Json): Json {
  return failureStatus(code, reason, message, details);
}

export class FakeKubernetesApi {
  readonly requests: RecordedRequest[] = [];
  private readonly objects = new Map<string, StoredObject>();
  private server: Server | undefined;
  private uid = 0;
  private resourceVersion = 100;
  private readonly events: WatchEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly continueTokens = new Map<string, number>();
  /** Groups the fake serves; drop 'apis/keda.sh/v1alpha1' for a cluster without KEDA. */
  readonly groups = new Set(Object.keys(GROUPS));
  /** `instant`: a Deployment is rolled out as soon as it is written; `manual`: when `completeRollout` says so. */
  rollouts: 'instant' | 'manual' = 'instant';
  /** Answer every request with this Status instead (e.g. 429, 503), until cleared. */
  failWith: { code: number; reason: string; message: string } | undefined;

  constructor(private readonly acceptToken: (token: string) => boolean = () => true) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const watcher of this.watchers) watcher.res.end();
    this.watchers.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Puts an object there as another writer (Helm, the cluster) would. */
  seed(path: string, object: Json): void {
    const existed = this.objects.has(path);
    const entry: StoredObject = { object: {}, applied: new Map(), base: structuredClone(object) };
    this.objects.set(path, entry);
    this.store(path, entry, existed ? 'MODIFIED' : 'ADDED');
  }

  object(path: string): Json | undefined {
    return this.objects.get(path)?.object;
  }

  /** Open watch connections. */
  get openWatches(): number {
    return this.watchers.size;
  }

  /** The stand-in Deployment controller's work in `manual` mode: every replica updated, ready and available. */
  completeRollout(path: string): void {
    const entry = this.objects.get(path);
    if (!entry) throw new Error(`no object at ${path}`);
    const metadata = entry.object.metadata as Json;
    const replicas = ((entry.object.spec as Json | undefined)?.replicas as number | undefined) ?? 1;
    entry.status = {
      observedGeneration: metadata.generation,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
    };
    this.store(path, entry, 'MODIFIED');
  }

  /** Rebuilds the stored object (base, then each manager's applied configuration, then status) and tells watchers. */
  private store(path: string, entry: StoredObject, type: 'ADDED' | 'MODIFIED'): void {
    let object = entry.base as unknown;
    for (const config of entry.applied.values()) object = merge(object, config);
    const previous = entry.object.metadata as Json | undefined;
    const isDeployment = path.startsWith('/apis/apps/v1/') && path.includes('/deployments/');
    const specChanged = JSON.stringify((object as Json).spec) !== JSON.stringify(entry.object.spec);
    const generation = ((previous?.generation as number | undefined) ?? 0) + (specChanged ? 1 : 0);
    const metadata = {
      ...((object as Json).metadata as Json),
      uid: previous?.uid ?? `uid-${++this.uid}`,
      resourceVersion: String(++this.resourceVersion),
      ...(isDeployment ? { generation } : {}),
    };
    entry.object = { ...(object as Json), metadata };
    if (isDeployment && specChanged && this.rollouts === 'instant' && entry.base.status === undefined) {
      const replicas = ((entry.object.spec as Json | undefined)?.replicas as number | undefined) ?? 1;
      entry.status = {
        observedGeneration: generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
      };
    }
    if (entry.status) entry.object.status = entry.status;
    this.objects.set(path, entry);
    this.publish({ resourceVersion: this.resourceVersion, type, path, object: entry.object });
  }

  private publish(event: WatchEvent): void {
    this.events.push(event);
    for (const watcher of this.watchers) this.deliver(watcher, event);
  }

  private deliver(watcher: Watcher, event: WatchEvent): void {
    const collection = event.path.slice(0, event.path.lastIndexOf('/'));
    const name = event.path.slice(event.path.lastIndexOf('/') + 1);
    if (collection !== watcher.collection || (watcher.name !== undefined && watcher.name !== name)) return;
    watcher.res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  /** `GET …?watch=true`: past events after resourceVersion (or ADDED for what exists), then live ones. */
  private watch(req: IncomingMessage, res: ServerResponse, collection: string, url: URL): void {
    const field = url.searchParams.get('fieldSelector') ?? '';
    const name = field.startsWith('metadata.name=') ? field.slice('metadata.name='.length) : undefined;
    const watcher: Watcher = { collection, name, res };
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const from = url.searchParams.get('resourceVersion');
    if (from) {
      for (const event of this.events.filter((e) => e.resourceVersion > Number(from)))
        this.deliver(watcher, event);
    } else {
      for (const [path, entry] of this.objects) {
        this.deliver(watcher, { resourceVersion: 0, type: 'ADDED', path, object: entry.object });
      }
    }
    this.watchers.add(watcher);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    const close = () => {
      clearTimeout(timer);
      this.watchers.delete(watcher);
    };
    req.on('close', close);
    res.on('close', close);
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const text = Buffer.concat(chunks).toString('utf8');
    const contentType = req.headers['content-type'];
    let body: unknown;
    if (text) body = contentType === 'application/apply-patch+yaml' ? parse(text) : JSON.parse(text);
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      authorization: req.headers.authorization,
      body,
    });
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !this.acceptToken(auth.slice('Bearer '.length))) {
      return this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    if (this.failWith) {
      const { code, reason, message } = this.failWith;
      return this.send(res, code, status(code, reason, message));
    }
    const path = url.pathname.replace(/\/+$/, '');
    const group = Object.keys(GROUPS).find((g) => path === `/${g}` || path.startsWith(`/${g}/`));
    if (!group || !this.groups.has(group)) {
      return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if (path === `/${group}`) {
      return this.send(res, 200, {
        kind: 'APIResourceList',
        groupVersion: group.replace(/^apis?\//, ''),
        resources: (GROUPS[group] ?? []).map((name) => ({
          name,
          kind: KINDS[name],
          namespaced: name !== 'namespaces',
        })),
      });
    }
    const rest = path.slice(group.length + 2).split('/');
    const namespaced = rest[0] === 'namespaces' && rest.length >= 3;
    const plural = namespaced ? rest[2] : rest[0];
    const name = namespaced ? rest[3] : rest[1];
    if (!plural || !(GROUPS[group] ?? []).includes(plural)) {
      return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const notFound = () =>
      this.send(
        res,
        404,
        status(
          404,
          'NotFound',
          `${plural}${group.startsWith('apis/') ? `.${group.split('/')[1]}` : ''} "${name}" not found`,
          {
            name,
            kind: plural,
          },
        ),
      );
    const stored = this.objects.get(path);

    if (req.method === 'GET' && name === undefined && url.searchParams.get('watch') === 'true') {
      return this.watch(req, res, path, url);
    }
    if (req.method === 'GET' && name === undefined) {
      const selector = url.searchParams.get('labelSelector');
      const [key, value] = selector ? selector.split('=') : [];
      const field = url.searchParams.get('fieldSelector') ?? '';
      const byName = field.startsWith('metadata.name=') ? field.slice('metadata.name='.length) : undefined;
      const all = [...this.objects.entries()]
        .filter(([p]) => p.startsWith(`${path}/`) && !p.slice(path.length + 1).includes('/'))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([, s]) => s.object)
        .filter((o) => !key || (o.metadata as Json | undefined)?.labels?.[key as never] === value)
        .filter((o) => byName === undefined || (o.metadata as Json | undefined)?.name === byName);
      const token = url.searchParams.get('continue');
      const offset = token ? this.continueTokens.get(token) : 0;
      if (offset === undefined) {
        return this.send(
          res,
          410,
          status(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result.',
          ),
        );
      }
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
      const next = offset + items.length;
      let nextToken: string | undefined;
      if (limit > 0 && next < all.length) {
        nextToken = Buffer.from(`${path}:${next}:${this.resourceVersion}`).toString('base64');
        this.continueTokens.set(nextToken, next);
      }
      return this.send(res, 200, {
        kind: `${KINDS[plural]}List`,
        apiVersion: group.replace(/^apis?\//, ''),
        metadata: {
          resourceVersion: String(this.resourceVersion),
          ...(nextToken ? { continue: nextToken, remainingItemCount: all.length - next } : {}),
        },
        items,
      });
    }
    if (req.method === 'GET') return stored ? this.send(res, 200, stored.object) : notFound();
    if (req.method === 'DELETE') {
      if (!stored) return notFound();
      this.objects.delete(path);
      this.publish({ resourceVersion: ++this.resourceVersion, type: 'DELETED', path, object: stored.object });
      return this.send(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Success',
        details: { name, kind: plural },
      });
    }
    if (req.method === 'PATCH' && contentType === 'application/apply-patch+yaml') {
      const manager = url.searchParams.get('fieldManager');
      if (!manager) {
        return this.send(
          res,
          400,
          status(
            400,
            'BadRequest',
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
          ),
        );
      }
      if (!isObject(body) || (body.metadata as Json | undefined)?.name !== name) {
        return this.send(
          res,
          400,
          status(400, 'BadRequest', 'the name of the object does not match the name on the URL'),
        );
      }
      const entry = stored ?? { object: {}, applied: new Map<string, Json>(), base: {} };
      if (stored && url.searchParams.get('force') !== 'true') {
        for (const [other] of entry.applied) {
          if (other !== manager)
            return this.send(
              res,
              409,
              status(409, 'Conflict', `Apply failed with 1 conflict: conflict with "${other}"`),
            );
        }
      }
      entry.applied.set(manager, body);
      this.store(path, entry, stored ? 'MODIFIED' : 'ADDED');
      return this.send(res, stored ? 200 : 201, entry.object);
    }
    if (req.method === 'PATCH' && contentType === 'application/strategic-merge-patch+json') {
      if (!stored) return notFound();
      const { apiVersion: _v, kind: _k, ...patch } = body as Json;
      stored.base = merge(stored.base, patch) as Json;
      this.store(path, stored, 'MODIFIED');
      return this.send(res, 200, stored.object);
    }
    return this.send(
      res,
      415,
      status(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      ),
    );
  }
}
