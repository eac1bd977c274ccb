/**
 * The local cluster's Kubernetes API, through @kubernetes/client-node and the kubeconfigs the cluster hands
 * out (HTTPS with its own CA, bearer tokens), with real workers deployed from the manifests the setup workflow
 * applies:
 * - the consumer's RBAC grant is proven from its calls, as IAM is: the workers' watches were all allowed, and
 *   they used exactly what the Role grants (nothing used that is not granted, nothing granted that is unused);
 *   a call the Role does not grant is refused with the API server's 403 Forbidden Status naming the verb, the
 *   resource, the namespace and the user;
 * - what kubectl needs of the wire format, with the operator's kubeconfig: discovery, server-side printing
 *   (Table), `kubectl auth can-i` (SelfSubjectAccessReview, impersonation) and dry-run writes (create, server-side
 *   apply), while a real write is refused. kubectl itself is not on a fresh CI machine; docs/local-mode.md has
 *   the same checks as kubectl commands.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { consumerManifests } from '../../core/fleet/fleet-deploy.js';
import type { ManifestObject } from '../../core/kubernetes/cluster.js';
import type { PolicyRule } from '../../core/kubernetes/rbac.js';
import type { ApiUsage } from '../../local/cluster/kubernetes-api.js';
import { createReplicationTables, localClient, uniqueName } from '../support/fleet.js';
import { PodFleet } from '../support/pod-fleet.js';

const endpoint = inject('ddbEndpoint');

/** GET a path with a kubeconfig's credentials: status and JSON body. */
async function call(
  kubeConfig: KubeConfig,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { request } = await import('node:https');
  const url = new URL(path, kubeConfig.getCurrentCluster()?.server);
  const options: import('node:https').RequestOptions = {
    method: init.method ?? 'GET',
    headers: { ...init.headers },
  };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(init.body === undefined ? undefined : JSON.stringify(init.body));
  });
}

function kubeConfigFrom(yaml: string): KubeConfig {
  const file = join(tmpdir(), `${uniqueName('kubeconfig')}.yaml`);
  writeFileSync(file, yaml, { mode: 0o600 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(file);
  return kubeConfig;
}

describe('the local Kubernetes API', () => {
  let pods: PodFleet;
  let admin: KubeConfig;
  let account: KubeConfig;
  let user: string;
  let namespace: string;
  let streamArn: string;
  let workerUsage: ApiUsage[];

  beforeAll(async () => {
    const client = localClient(endpoint);
    const tables = await createReplicationTables(client);
    streamArn = tables.streamArn;
    client.destroy();
    pods = await PodFleet.start({ endpoint, tables, replicas: 2 });
    namespace = pods.fleet.namespace;
    user = `system:serviceaccount:${namespace}:${pods.fleet.name}`;
    admin = kubeConfigFrom(pods.cluster.kubernetesApi.kubeconfig());
    const file = pods.cluster.kubernetesApi.serviceAccountKubeconfig(namespace, pods.fleet.name);
    account = new KubeConfig();
    account.loadFromFile(file as string);
    // Both workers watch their peers; what they asked of the API so far is theirs alone.
    for (const pod of pods.running()) await pods.waitForEvent(pod.name, 'peers.watch-started');
    workerUsage = pods.cluster.kubernetesApi
      .usage()
      .filter((u) => u.user === user && u.namespace === namespace);
  }, 120_000);

  afterAll(async () => {
    await pods?.stop();
  });

  it("refuses what the consumer's Role does not grant with the API server's Forbidden, naming verb and resource", async () => {
    const [pod] = pods.running();
    const get = await call(account, `/api/v1/namespaces/${namespace}/pods/${pod?.name}`);
    expect(get.status).toBe(403);
    expect(get.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
    expect(get.body.message).toBe(
      `pods "${pod?.name}" is forbidden: User "${user}" cannot get resource "pods" in API group "" in the namespace "${namespace}"`,
    );
    const elsewhere = await call(account, '/api/v1/pods');
    expect(elsewhere.body.message).toBe(
      `pods is forbidden: User "${user}" cannot list resource "pods" in API group "" at the cluster scope`,
    );
    const deployments = await call(account, `/apis/apps/v1/namespaces/${namespace}/deployments`);
    expect(deployments.body.message).toBe(
      `deployments.apps is forbidden: User "${user}" cannot list resource "deployments" in API group "apps" in the namespace "${namespace}"`,
    );
    // What it is granted passes, through the client the workers use.
    const list = await call(account, `/api/v1/namespaces/${namespace}/pods`);
    expect(list.status).toBe(200);
    // An unknown token is no one.
    const stranger = new KubeConfig();
    stranger.loadFromString(
      pods.cluster.kubernetesApi.kubeconfig().replace(pods.cluster.kubernetesApi.token, 'not-a-token'),
    );
    expect((await call(stranger, '/api')).status).toBe(401);
  });

  it("the workers' calls were all granted: used but not granted 0, granted but unused 0", async () => {
    const role = pods.cluster.list('rbac.authorization.k8s.io/v1', 'Role', namespace)[0] as
      | (ManifestObject & { rules: PolicyRule[] })
      | undefined;
    const granted = new Set(
      (role?.rules ?? []).flatMap((rule) =>
        rule.verbs.flatMap((verb) =>
          (rule.resources ?? []).flatMap((resource) =>
            (rule.apiGroups ?? []).map((group) => `${verb} ${group}/${resource}`),
          ),
        ),
      ),
    );
    // The Role is the one the manifests build, applied by the same code as the setup workflow.
    const built = consumerManifests({
      fleet: pods.fleet,
      streamArn,
      consumerRoleArn: 'arn:aws:iam::000000000000:role/x',
      region: 'us-east-1',
    }).find((m) => m.kind === 'Role');
    expect(role?.rules).toEqual((built as unknown as { rules: unknown }).rules);
    const used = new Set(
      workerUsage.filter((u) => u.allowed + u.denied > 0).map((u) => `${u.verb} ${u.apiGroup}/${u.resource}`),
    );
    const usedNotGranted = [...used].filter((u) => !granted.has(u));
    const grantedNotUsed = [...granted].filter((g) => !used.has(g));
    expect({ usedNotGranted, grantedNotUsed }).toEqual({ usedNotGranted: [], grantedNotUsed: [] });
    expect([...used].sort()).toEqual(['list /pods', 'watch /pods']);
    expect(workerUsage.reduce((n, u) => n + u.denied, 0)).toBe(0);
    // Each of the two workers listed and watched at least once.
    for (const verb of ['list', 'watch'])
      expect(workerUsage.find((u) => u.verb === verb)?.allowed).toBeGreaterThanOrEqual(2);
  });

  it('serves kubectl: discovery, tables, can-i, dry-run writes, and refuses real writes', async () => {
    const version = await call(admin, '/version');
    expect(version.body.gitVersion).toMatch(/^v1\.\d+/);
    const groups = await call(admin, '/apis');
    expect((groups.body.groups as { name: string }[]).map((g) => g.name)).toEqual(
      expect.arrayContaining(['apps', 'rbac.authorization.k8s.io', 'keda.sh']),
    );
    const table = await call(admin, `/api/v1/namespaces/${namespace}/pods`, {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
    });
    expect(table.body.kind).toBe('Table');
    expect((table.body.columnDefinitions as { name: string }[]).map((c) => c.name)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
    ]);
    expect((table.body.rows as { cells: unknown[] }[]).map((r) => r.cells[2])).toEqual([
      'Running',
      'Running',
    ]);

    // kubectl auth can-i list pods --as the consumer: yes; get pods: no.
    const review = (verb: string) =>
      call(admin, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'impersonate-user': user },
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { namespace, verb, resource: 'pods' } },
        },
      });
    expect(((await review('list')).body.status as { allowed: boolean }).allowed).toBe(true);
    expect(((await review('get')).body.status as { allowed: boolean }).allowed).toBe(false);

    // kubectl apply --dry-run=server, both ways, of what `streamfleet manifests` prints.
    const objects = KubernetesObjectApi.makeApiClient(admin);
    const [serviceAccount] = consumerManifests({
      fleet: pods.fleet,
      streamArn,
      consumerRoleArn: 'arn:aws:iam::000000000000:role/other',
      region: 'us-east-1',
    });
    const applied = await objects.patch(
      serviceAccount as ManifestObject,
      undefined,
      'All',
      'kubectl',
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(applied.metadata?.annotations?.['eks.amazonaws.com/role-arn']).toBe(
      'arn:aws:iam::000000000000:role/other',
    );
    const fresh = { ...serviceAccount, metadata: { ...serviceAccount?.metadata, name: 'dry-run-only' } };
    expect((await objects.create(fresh as ManifestObject, undefined, 'All')).metadata?.name).toBe(
      'dry-run-only',
    );
    // Nothing was changed.
    const stored = await pods.cluster.get({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      namespace,
      name: pods.fleet.name,
    });
    expect(stored?.metadata.annotations?.['eks.amazonaws.com/role-arn']).not.toBe(
      'arn:aws:iam::000000000000:role/other',
    );
    expect(
      await pods.cluster.get({ apiVersion: 'v1', kind: 'ServiceAccount', namespace, name: 'dry-run-only' }),
    ).toBeUndefined();
    const error = await objects.create(fresh as ManifestObject).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<unknown>).code).toBe(405);
  });
});
