/**
 * FAKE Kubernetes API server for unit tests: node:http on 127.0.0.1, in memory, speaking the wire format the
 * real one speaks for what Streamfleet sends — discovery (`GET /apis/GROUP/VERSION`), server-side apply
 * (`PATCH` with `application/apply-patch+yaml`, `fieldManager` required, conflicts only without `force`),
 * strategic-merge patches, `GET` with `Status` 404s, `DELETE`, and pod lists by label selector. Bearer
 * tokens are checked. It is no Kubernetes: no defaulting, no validation beyond what the tests need.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'yaml';

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
}

const GROUPS: Record<string, string[]> = {
  'api/v1': ['namespaces', 'serviceaccounts', 'pods'],
  'apis/apps/v1': ['deployments'],
  'apis/autoscaling/v2': ['horizontalpodautoscalers'],
  'apis/policy/v1': ['poddisruptionbudgets'],
  'apis/keda.sh/v1alpha1': ['scaledobjects', 'triggerauthentications'],
};

const KINDS: Record<string, string> = {
  namespaces: 'Namespace',
  serviceaccounts: 'ServiceAccount',
  pods: 'Pod',
  deployments: 'Deployment',
  horizontalpodautoscalers: 'HorizontalPodAutoscaler',
  poddisruptionbudgets: 'PodDisruptionBudget',
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
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

export class FakeKubernetesApi {
  readonly requests: RecordedRequest[] = [];
  private readonly objects = new Map<string, StoredObject>();
  private server: Server | undefined;
  private uid = 0;
  /** Groups the fake serves; drop 'apis/keda.sh/v1alpha1' for a cluster without KEDA. */
  readonly groups = new Set(Object.keys(GROUPS));

  constructor(private readonly acceptToken: (token: string) => boolean = () => true) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Puts an object there as another writer (Helm, the cluster) would. */
  seed(path: string, object: Json): void {
    this.objects.set(path, {
      object: structuredClone(object),
      applied: new Map(),
      base: structuredClone(object),
    });
  }

  object(path: string): Json | undefined {
    return this.objects.get(path)?.object;
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

    if (req.method === 'GET' && name === undefined) {
      const selector = url.searchParams.get('labelSelector');
      const [key, value] = selector ? selector.split('=') : [];
      const items = [...this.objects.entries()]
        .filter(([p]) => p.startsWith(`${path}/`))
        .map(([, s]) => s.object)
        .filter((o) => !key || (o.metadata as Json | undefined)?.labels?.[key as never] === value);
      return this.send(res, 200, { kind: `${KINDS[plural]}List`, apiVersion: 'v1', items });
    }
    if (req.method === 'GET') return stored ? this.send(res, 200, stored.object) : notFound();
    if (req.method === 'DELETE') {
      if (!stored) return notFound();
      this.objects.delete(path);
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
      let object = entry.base as unknown;
      for (const config of entry.applied.values()) object = merge(object, config);
      const metadata = {
        ...((object as Json).metadata as Json),
        uid: (entry.object.metadata as Json | undefined)?.uid ?? `uid-${++this.uid}`,
      };
      entry.object = { ...(object as Json), metadata };
      this.objects.set(path, entry);
      return this.send(res, stored ? 200 : 201, entry.object);
    }
    if (req.method === 'PATCH' && contentType === 'application/strategic-merge-patch+json') {
      if (!stored) return notFound();
      stored.base = merge(stored.base, body) as Json;
      stored.object = merge(stored.object, body) as Json;
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
