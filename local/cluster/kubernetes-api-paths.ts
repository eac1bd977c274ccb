/**
 * What the local Kubernetes API serves: its resources; what a request names (resource, verb, the user it acts
 * as); the API server's error bodies and JSON answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { failureStatus, KEDA_API_VERSION } from '../../core/kubernetes/cluster.js';
import { MASTERS_GROUP, serviceAccountUser, type UserInfo } from '../../core/kubernetes/rbac.js';

export interface Resource {
  groupVersion: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Served as an empty list (kubectl describe asks; nothing here makes them). */
  alwaysEmpty?: boolean;
}
const RBAC = 'rbac.authorization.k8s.io/v1';
export const RESOURCES: Record<string, Resource> = {
  namespaces: { groupVersion: 'v1', kind: 'Namespace', namespaced: false, shortNames: ['ns'] },
  serviceaccounts: { groupVersion: 'v1', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] },
  pods: { groupVersion: 'v1', kind: 'Pod', namespaced: true, shortNames: ['po'] },
  events: { groupVersion: 'v1', kind: 'Event', namespaced: true, shortNames: ['ev'], alwaysEmpty: true },
  deployments: { groupVersion: 'apps/v1', kind: 'Deployment', namespaced: true, shortNames: ['deploy'] },
  replicasets: {
    groupVersion: 'apps/v1',
    kind: 'ReplicaSet',
    namespaced: true,
    shortNames: ['rs'],
    alwaysEmpty: true,
  },
  horizontalpodautoscalers: {
    groupVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    namespaced: true,
    shortNames: ['hpa'],
  },
  poddisruptionbudgets: {
    groupVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    namespaced: true,
    shortNames: ['pdb'],
  },
  roles: { groupVersion: RBAC, kind: 'Role', namespaced: true },
  rolebindings: { groupVersion: RBAC, kind: 'RoleBinding', namespaced: true },
  clusterroles: { groupVersion: RBAC, kind: 'ClusterRole', namespaced: false },
  clusterrolebindings: { groupVersion: RBAC, kind: 'ClusterRoleBinding', namespaced: false },
  scaledobjects: {
    groupVersion: KEDA_API_VERSION,
    kind: 'ScaledObject',
    namespaced: true,
    shortNames: ['so'],
  },
  triggerauthentications: {
    groupVersion: KEDA_API_VERSION,
    kind: 'TriggerAuthentication',
    namespaced: true,
    shortNames: ['ta'],
  },
};
export const READ_VERBS = ['get', 'list', 'watch'];
export const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
export const HPA_PREFIX = 'keda-hpa-';
export const status = failureStatus;

/** `pods`, `deployments.apps`: how the API server names a resource in its messages. */
export function qualified(path: { plural?: string; apiGroup: string }): string {
  return `${path.plural}${path.apiGroup ? `.${path.apiGroup}` : ''}`;
}

/** The API server's 404 for a named object. */
export function objectNotFound(path: { plural?: string; apiGroup: string }, name: string | undefined) {
  return status(404, 'NotFound', `${qualified(path)} "${name}" not found`, {
    name,
    ...(path.apiGroup ? { group: path.apiGroup } : {}),
    kind: path.plural,
  });
}

/** A request's body, whole. */
export async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The 405 for a write this API does not make. */
export function methodNotAllowed(message: string) {
  return status(405, 'MethodNotAllowed', message);
}
export function condition(type: string, value: boolean, message?: string) {
  return { type, status: value ? 'True' : 'False', ...(message ? { message } : {}) };
}

/** A resource request as the URL says it (before the method picks the verb). */
export interface ParsedPath {
  groupVersion: string;
  apiGroup: string;
  plural: string | undefined;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}
export function parsePath(pathname: string): ParsedPath | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p.length > 0)
    .map(decodeURIComponent);
  const core = parts[0] === 'api';
  if (!core && parts[0] !== 'apis') return undefined;
  const groupVersion = core ? parts[1] : parts[1] && parts[2] ? `${parts[1]}/${parts[2]}` : undefined;
  if (!groupVersion) return undefined;
  const rest = parts.slice(core ? 2 : 3);
  const apiGroup = core ? '' : (parts[1] as string);
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    return {
      groupVersion,
      apiGroup,
      namespace: rest[1],
      plural: rest[2],
      name: rest[3],
      subresource: rest[4],
    };
  }
  return {
    groupVersion,
    apiGroup,
    namespace: undefined,
    plural: rest[0],
    name: rest[1],
    subresource: rest[2],
  };
}
export function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return named ? 'get' : watch ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

/** Sends `body` as the API server's JSON answer. */
export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The user a request acts as: the caller, or whom it impersonates (`Impersonate-User`, `Impersonate-Group`:
 * kubectl --as / --as-group), which only the cluster's admins may; undefined when the caller may not.
 */
export function impersonated(caller: UserInfo, req: IncomingMessage): UserInfo | undefined {
  const as = req.headers['impersonate-user'];
  if (as === undefined) return caller;
  if (!caller.groups.includes(MASTERS_GROUP)) return undefined;
  const username = String(as);
  const groups = [req.headers['impersonate-group'] ?? []].flat().map(String);
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (account && groups.length === 0) return serviceAccountUser(account[1] as string, account[2] as string);
  return { username, groups: [...groups, 'system:authenticated'] };
}
