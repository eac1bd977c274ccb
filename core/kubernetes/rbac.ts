/**
 * Kubernetes RBAC as the API server's authorizer decides it, for the local Kubernetes API
 * (local/cluster/kubernetes-api.ts) and the tests that prove the consumer's grant from its calls. Pure.
 *
 * - A request is allowed when a RoleBinding in its namespace, or a ClusterRoleBinding, binds one of the
 *   user's identities (its name, or one of its groups; a ServiceAccount subject means the user
 *   `system:serviceaccount:NS:NAME`) to a Role (same namespace) or ClusterRole with a rule that matches the
 *   verb, the API group, the resource (`pods`, or `pods/log` for a subresource) and, when the rule lists
 *   them, the object's name. `*` matches anything. Group `system:masters` is allowed everything.
 * - Refusals carry the API server's own `Status`: 403 Forbidden, reason `Forbidden`, and the message
 *   `pods is forbidden: User "…" cannot list resource "pods" in API group "" in the namespace "ns"`
 *   (k8s.io/apiserver responsewriters.forbiddenMessage, apimachinery errors.NewForbidden).
 */

import { failureStatus } from './cluster.js';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface RbacSubject {
  kind: string;
  name: string;
  namespace?: string;
}

export interface RoleBindingLike {
  /** Undefined for a ClusterRoleBinding. */
  namespace?: string;
  roleRef: { kind: string; name: string };
  subjects?: RbacSubject[];
}

/** The roles a binding may name: a Role of a namespace, or a ClusterRole. */
export interface RoleSource {
  role(namespace: string, name: string): PolicyRule[] | undefined;
  clusterRole(name: string): PolicyRule[] | undefined;
}

export interface UserInfo {
  username: string;
  groups: string[];
}

/** What a request asks for, in the authorizer's terms. */
export interface ResourceRequest {
  verb: string;
  /** '' for the core group. */
  apiGroup: string;
  resource: string;
  subresource?: string;
  /** Undefined for cluster-scoped requests (and lists across namespaces). */
  namespace?: string;
  name?: string;
}

export const MASTERS_GROUP = 'system:masters';

/** The user a ServiceAccount's token authenticates as. */
export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

function matches(list: readonly string[] | undefined, value: string): boolean {
  return (list ?? []).some((entry) => entry === '*' || entry === value);
}

/** Whether one rule grants the request. */
export function ruleAllows(rule: PolicyRule, request: ResourceRequest): boolean {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  if (!matches(rule.verbs, request.verb)) return false;
  if (!matches(rule.apiGroups, request.apiGroup)) return false;
  if (!matches(rule.resources, resource)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) {
    return request.name !== undefined && rule.resourceNames.includes(request.name);
  }
  return true;
}

function subjectIs(subject: RbacSubject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  if (subject.kind === 'User') return subject.name === user.username;
  if (subject.kind === 'Group') return user.groups.includes(subject.name);
  if (subject.kind === 'ServiceAccount') {
    const namespace = subject.namespace ?? bindingNamespace;
    return user.username === `system:serviceaccount:${namespace}:${subject.name}`;
  }
  return false;
}

/** The rules bound to `user` that apply to a request in `namespace` (undefined: cluster scope). */
export function rulesFor(
  user: UserInfo,
  namespace: string | undefined,
  bindings: readonly RoleBindingLike[],
  roles: RoleSource,
): PolicyRule[] {
  const rules: PolicyRule[] = [];
  for (const binding of bindings) {
    if (binding.namespace !== undefined && binding.namespace !== namespace) continue;
    if (!(binding.subjects ?? []).some((subject) => subjectIs(subject, user, binding.namespace))) continue;
    const { kind, name } = binding.roleRef;
    const bound =
      kind === 'Role' && binding.namespace !== undefined
        ? roles.role(binding.namespace, name)
        : kind === 'ClusterRole'
          ? roles.clusterRole(name)
          : undefined;
    rules.push(...(bound ?? []));
  }
  return rules;
}

export function authorize(
  user: UserInfo,
  request: ResourceRequest,
  bindings: readonly RoleBindingLike[],
  roles: RoleSource,
): boolean {
  if (user.groups.includes(MASTERS_GROUP)) return true;
  return rulesFor(user, request.namespace, bindings, roles).some((rule) => ruleAllows(rule, request));
}

/** `pods`, or `deployments.apps`: how the API server names a resource in its errors. */
function qualifiedResource(request: ResourceRequest): string {
  return request.apiGroup === '' ? request.resource : `${request.resource}.${request.apiGroup}`;
}

/** The API server's 403 `Status` for a request RBAC refused. */
export function forbiddenStatus(user: UserInfo, request: ResourceRequest) {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  const scope =
    request.namespace !== undefined ? `in the namespace "${request.namespace}"` : 'at the cluster scope';
  const reason = `User "${user.username}" cannot ${request.verb} resource "${resource}" in API group "${request.apiGroup}" ${scope}`;
  const subject =
    request.name !== undefined
      ? `${qualifiedResource(request)} "${request.name}"`
      : qualifiedResource(request);
  return failureStatus(403, 'Forbidden', `${subject} is forbidden: ${reason}`, {
    ...(request.name !== undefined ? { name: request.name } : {}),
    ...(request.apiGroup !== '' ? { group: request.apiGroup } : {}),
    kind: request.resource,
  });
}
