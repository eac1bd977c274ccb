/** Kubernetes RBAC as the local API decides it (core/kubernetes/rbac.ts), and the label selectors it filters by. Pure. */
import { describe, expect, it } from 'vitest';
import { CONSUMER_POD_RULES } from '../../core/kubernetes/manifests.js';
import {
  authorize,
  forbiddenStatus,
  MASTERS_GROUP,
  type PolicyRule,
  type RoleBindingLike,
  serviceAccountUser,
} from '../../core/kubernetes/rbac.js';
import { parseLabelSelector } from '../../local/cluster/label-selector.js';

const ADMIN_GROUP_USER = { username: 'admin', groups: [MASTERS_GROUP] };
const consumer = serviceAccountUser('streamfleet', 'users-replicator');
const roles = {
  role: (namespace: string, name: string): PolicyRule[] | undefined =>
    namespace === 'streamfleet' && name === 'users-replicator' ? CONSUMER_POD_RULES : undefined,
  clusterRole: () => undefined,
};
const bindings: RoleBindingLike[] = [
  {
    namespace: 'streamfleet',
    roleRef: { kind: 'Role', name: 'users-replicator' },
    subjects: [{ kind: 'ServiceAccount', name: 'users-replicator', namespace: 'streamfleet' }],
  },
];
const pods = (verb: string, namespace?: string, name?: string) => ({
  verb,
  apiGroup: '',
  resource: 'pods',
  ...(namespace ? { namespace } : {}),
  ...(name ? { name } : {}),
});

describe('RBAC', () => {
  it("grants the consumer's service account list and watch of pods in its own namespace, nothing else", () => {
    expect(authorize(consumer, pods('list', 'streamfleet'), bindings, roles)).toBe(true);
    expect(authorize(consumer, pods('watch', 'streamfleet'), bindings, roles)).toBe(true);
    expect(authorize(consumer, pods('get', 'streamfleet', 'p'), bindings, roles)).toBe(false);
    expect(authorize(consumer, pods('list', 'other'), bindings, roles)).toBe(false);
    expect(authorize(consumer, pods('list'), bindings, roles)).toBe(false);
    expect(
      authorize(consumer, { ...pods('list', 'streamfleet'), resource: 'secrets' }, bindings, roles),
    ).toBe(false);
    expect(
      authorize(consumer, { ...pods('get', 'streamfleet', 'p'), subresource: 'log' }, bindings, roles),
    ).toBe(false);
    const other = serviceAccountUser('streamfleet', 'someone-else');
    expect(authorize(other, pods('list', 'streamfleet'), bindings, roles)).toBe(false);
    expect(authorize(ADMIN_GROUP_USER, pods('delete', 'anywhere', 'p'), [], roles)).toBe(true);
  });

  it('honours wildcards, resource names and ClusterRoles bound in a namespace', () => {
    const viewer: RoleBindingLike = {
      namespace: 'streamfleet',
      roleRef: { kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'Group', name: 'system:serviceaccounts:streamfleet' }],
    };
    const clusterRoles = {
      ...roles,
      clusterRole: (name: string) =>
        name === 'view'
          ? [{ apiGroups: ['*'], resources: ['*'], verbs: ['get'], resourceNames: ['x'] }]
          : undefined,
    };
    expect(authorize(consumer, { ...pods('get', 'streamfleet', 'x') }, [viewer], clusterRoles)).toBe(true);
    expect(authorize(consumer, { ...pods('get', 'streamfleet', 'y') }, [viewer], clusterRoles)).toBe(false);
    expect(authorize(consumer, { ...pods('get', 'other', 'x') }, [viewer], clusterRoles)).toBe(false);
  });

  it("refuses with the API server's Forbidden Status, naming verb, resource, namespace and user", () => {
    expect(forbiddenStatus(consumer, pods('get', 'streamfleet', 'p-1'))).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'pods "p-1" is forbidden: User "system:serviceaccount:streamfleet:users-replicator" cannot get resource "pods" in API group "" in the namespace "streamfleet"',
      reason: 'Forbidden',
      details: { name: 'p-1', kind: 'pods' },
      code: 403,
    });
    expect(
      forbiddenStatus(consumer, { verb: 'list', apiGroup: 'apps', resource: 'deployments' }).message,
    ).toBe(
      'deployments.apps is forbidden: User "system:serviceaccount:streamfleet:users-replicator" cannot list resource "deployments" in API group "apps" at the cluster scope',
    );
  });
});

describe('label selectors', () => {
  it('match as the API server matches them', () => {
    const labels = { app: 'users', tier: 'consumer' };
    expect(parseLabelSelector('app=users,tier==consumer')(labels)).toBe(true);
    expect(parseLabelSelector('app!=users')(labels)).toBe(false);
    expect(parseLabelSelector('app in (orders, users),!missing')(labels)).toBe(true);
    expect(parseLabelSelector('tier notin (consumer)')(labels)).toBe(false);
    expect(parseLabelSelector('missing')(labels)).toBe(false);
    expect(parseLabelSelector('')(labels)).toBe(true);
    expect(() => parseLabelSelector('a b c')).toThrow(/unable to parse/);
  });
});
