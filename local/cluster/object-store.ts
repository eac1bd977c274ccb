/**
 * The local cluster's objects, as an API server stores them for Streamfleet: each object is what exists apart
 * from our applies (seeded objects, annotations a restart adds) with our field manager's last server-side apply
 * merged on top, plus a status. Pure in-memory state: no controller runs here.
 */
import type { ManifestObject, ObjectRef } from '../../core/kubernetes/cluster.js';
import { refOf } from '../../core/kubernetes/cluster.js';
import { KubernetesApiError } from '../../core/vocabulary/errors.js';

interface StoredObject {
  /** What exists apart from our applies (seeded objects, or empty for objects we created). */
  base: ManifestObject | undefined;
  /** Our last server-side apply (field manager streamfleet). */
  applied: ManifestObject | undefined;
  status: Record<string, unknown>;
  /** When it was first stored (the API shows it as metadata.creationTimestamp). */
  createdAt: string;
}

export function keyOf(ref: ObjectRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Our applied fields on top of the base: what server-side apply leaves when one manager owns them. */
export function merge(base: unknown, applied: unknown): unknown {
  if (isObject(base) && isObject(applied)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(applied)) out[k] = merge(base[k], v);
    return out;
  }
  return applied === undefined ? base : applied;
}

/** The API server's 404 for an object (or a kind it does not serve). */
export function notFound(ref: ObjectRef): KubernetesApiError {
  return new KubernetesApiError('PATCH', keyOf(ref), 404, {
    kind: 'Status',
    status: 'Failure',
    reason: 'NotFound',
    message: 'the server could not find the requested resource',
    code: 404,
  });
}

export class ObjectStore {
  private readonly objects = new Map<string, StoredObject>();

  /** An object that exists apart from our applies (installed by someone else). */
  seed(manifest: ManifestObject): void {
    this.objects.set(keyOf(refOf(manifest)), {
      base: manifest,
      applied: undefined,
      status: {},
      createdAt: new Date().toISOString(),
    });
  }

  has(ref: ObjectRef): boolean {
    return this.objects.has(keyOf(ref));
  }

  /** The object as the API server answers it: base and our apply merged, with its status when it has one. */
  read(ref: ObjectRef): ManifestObject | undefined {
    const stored = this.objects.get(keyOf(ref));
    if (!stored) return undefined;
    const merged = merge(stored.base ?? {}, stored.applied ?? {}) as ManifestObject;
    return Object.keys(stored.status).length > 0
      ? { ...merged, status: structuredClone(stored.status) }
      : merged;
  }

  /** Server-side apply by our field manager: replaces our last apply; returns the object as stored. */
  apply(manifest: ManifestObject): ManifestObject {
    const ref = refOf(manifest);
    const key = keyOf(ref);
    const stored = this.objects.get(key) ?? {
      base: undefined,
      applied: undefined,
      status: {},
      createdAt: new Date().toISOString(),
    };
    stored.applied = structuredClone(manifest);
    this.objects.set(key, stored);
    return this.read(ref) as ManifestObject;
  }

  /** When the object was first stored; undefined when there is none. */
  createdAt(ref: ObjectRef): string | undefined {
    return this.objects.get(keyOf(ref))?.createdAt;
  }

  /** The configuration our field manager last applied, as it was sent. */
  applied(ref: ObjectRef): ManifestObject | undefined {
    const applied = this.objects.get(keyOf(ref))?.applied;
    return applied === undefined ? undefined : structuredClone(applied);
  }

  /** Merges `fields` into what exists apart from our applies (a controller's or kubectl's own change). */
  patchBase(ref: ObjectRef, fields: Record<string, unknown>): boolean {
    const stored = this.objects.get(keyOf(ref));
    if (!stored) return false;
    stored.base = merge(stored.base ?? {}, fields) as ManifestObject;
    return true;
  }

  delete(ref: ObjectRef): boolean {
    return this.objects.delete(keyOf(ref));
  }

  /** Every object of a kind (in `namespace` when given), as `read` answers it, sorted by namespace and name. */
  list(apiVersion: string, kind: string, namespace?: string): ManifestObject[] {
    const prefix = `${apiVersion}/${kind}/${namespace === undefined ? '' : `${namespace}/`}`;
    return this.keys()
      .filter((key) => key.startsWith(prefix) && key.slice(`${apiVersion}/${kind}/`.length).includes('/'))
      .map((key) => {
        const [ns = '', name = ''] = key.slice(`${apiVersion}/${kind}/`.length).split('/');
        return this.read({ apiVersion, kind, name, ...(ns === '' ? {} : { namespace: ns }) });
      })
      .filter((object): object is ManifestObject => object !== undefined);
  }

  /** Every object's key, sorted. */
  keys(): string[] {
    return [...this.objects.keys()].sort();
  }
}
