/** The pieces of the Kubernetes API adapter around its objects: options, refs, statuses, conditions, REST paths. */
import type { KubernetesStatus } from '../vocabulary/errors.js';
import { type ApiException, HttpMethod, KubernetesObjectApi } from './client.js';
import type { ObjectRef } from './cluster.js';

export interface KubernetesClusterOptions {
  /** Per-request timeout. Default 15 s. */
  timeoutMs?: number;
  /** Items per page of a list. Default 250. */
  pageSize?: number;
}

/** A plain JSON copy of what the client returns (its typed models carry Dates and class instances). */
export function plain<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
export function describeRef(ref: {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name?: string;
}): string {
  return `${ref.apiVersion} ${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name ?? ''}`.trim();
}
export function statusOf(error: ApiException<unknown>): KubernetesStatus | undefined {
  const body = error.body;
  if (body && typeof body === 'object') return body as KubernetesStatus;
  if (typeof body !== 'string' || body.length === 0) return undefined;
  try {
    return JSON.parse(body) as KubernetesStatus;
  } catch {
    return { message: body.slice(0, 500) };
  }
}

/** The client's object API, with discovery (`servesApi`) and REST paths (for watches) made reachable. */
export class ObjectApi extends KubernetesObjectApi {
  /** GET /api/v1 or /apis/GROUP/VERSION: the APIResourceList, or a 404 ApiException when not served. */
  async discover(apiVersion: string): Promise<void> {
    const context = this.configuration.baseServer.makeRequestContext(
      this.apiVersionPath(apiVersion),
      HttpMethod.GET,
    );
    context.setHeaderParam('Accept', 'application/json');
    await this.requestPromise(context, 'V1APIResourceList');
  }

  /** The collection path of a kind in a namespace, e.g. /apis/apps/v1/namespaces/NS/deployments. */
  collectionPath(apiVersion: string, kind: string, namespace: string | undefined): Promise<string> {
    return this.specUriPath({ apiVersion, kind, metadata: namespace ? { namespace } : {} }, 'list');
  }
}

/** The client's object header; a cluster-scoped kind ignores the (empty) namespace. */
export function specOf(ref: ObjectRef): Parameters<KubernetesObjectApi['read']>[0] {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, namespace: ref.namespace ?? '' },
  };
}
export function conditionTrue(
  conditions: unknown,
  type: string,
): { value: boolean; message?: string } | undefined {
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
