/**
 * The Kubernetes adapter of the Cluster port — @kubernetes/client-node underneath — against a FAKE API server
 * on loopback that follows the wire format: discovery, server-side apply, Status errors, strategic-merge
 * restarts, paged lists (limit/continue) and watches.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { parseFleet } from '../../core/fleet/fleet.js';
import {
  deployConsumer,
  installScaler,
  removeConsumer,
  removeScaler,
} from '../../core/fleet/fleet-deploy.js';
import { KEDA_API_VERSION } from '../../core/kubernetes/cluster.js';
import { bearerTokenKubeConfig, userKubeConfig } from '../../core/kubernetes/kubeconfig.js';
import { KubernetesCluster } from '../../core/kubernetes/kubernetes.js';
import { KubernetesApiError, PreconditionError, TransientError } from '../../core/vocabulary/errors.js';
import { FakeKubernetesApi } from './fakes/fake-kubernetes-api.js';

const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-05-01T12:00:00.000';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/users-replicator-consumer';
const SCALER_ROLE_ARN = 'arn:aws:iam::123456789012:role/users-replicator-keda-scaler';
const TOKEN = 'k8s-aws-v1.test-token';

const INFO = { name: 'demo', kind: 'eks', oidcIssuerUrl: 'https://oidc.eks.us-east-1.amazonaws.com/id/ABC' };

function connect(server: string, token: string, options: { timeoutMs?: number; pageSize?: number } = {}) {
  return new KubernetesCluster(
    INFO,
    bearerTokenKubeConfig({ clusterName: 'demo', server, token: async () => token }),
    options,
  );
}

const fleet = parseFleet({
  name: 'users-replicator',
  clusterName: 'demo',
  sourceTableName: 'users',
  replicaTableName: 'users_replica',
  image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/streamfleet:1.0.0',
});

describe('KubernetesCluster against a fake API server', () => {
  let api: FakeKubernetesApi;
  let cluster: KubernetesCluster;
  let server: string;

  beforeEach(async () => {
    api = new FakeKubernetesApi((token) => token === TOKEN);
    server = await api.start();
    cluster = connect(server, TOKEN);
  });

  afterEach(async () => {
    await api.stop();
  });

  it('deploys with server-side apply: PATCH, apply-patch+yaml, fieldManager streamfleet, force', async () => {
    const result = await deployConsumer(cluster, {
      fleet,
      streamArn: STREAM_ARN,
      consumerRoleArn: ROLE_ARN,
      region: 'us-east-1',
    });
    expect(result.applied).toEqual([
      '/Namespace/streamfleet',
      'streamfleet/ServiceAccount/users-replicator',
      'streamfleet/Role/users-replicator',
      'streamfleet/RoleBinding/users-replicator',
      'streamfleet/Deployment/users-replicator',
      'streamfleet/PodDisruptionBudget/users-replicator',
    ]);
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.path)).toEqual([
      '/api/v1/namespaces/streamfleet',
      '/api/v1/namespaces/streamfleet/serviceaccounts/users-replicator',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/streamfleet/roles/users-replicator',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/streamfleet/rolebindings/users-replicator',
      '/apis/apps/v1/namespaces/streamfleet/deployments/users-replicator',
      '/apis/policy/v1/namespaces/streamfleet/poddisruptionbudgets/users-replicator',
    ]);
    for (const patch of patches) {
      expect(patch.contentType).toBe('application/apply-patch+yaml');
      expect(patch.query).toEqual({ fieldManager: 'streamfleet', force: 'true' });
      expect(patch.authorization).toBe(`Bearer ${TOKEN}`);
    }
    // The body the server receives is the manifest itself: the client's typed models drop nothing.
    const sent = patches.map((r) => r.body);
    const { yaml } = result;
    expect(sent).toEqual((await import('yaml')).parseAllDocuments(yaml).map((d) => d.toJSON()));
    // The rollout was followed until the (stand-in) Deployment controller reported every replica available.
    expect(result.rollout).toMatchObject({ complete: true, desiredReplicas: 1, availableReplicas: 1 });
    const deployment = api.object('/apis/apps/v1/namespaces/streamfleet/deployments/users-replicator');
    expect(JSON.stringify(deployment)).toContain(STREAM_ARN);
    expect(result.yaml).toContain('kind: Deployment');
    // Applying again changes nothing and succeeds (idempotent).
    await deployConsumer(cluster, {
      fleet,
      streamArn: STREAM_ARN,
      consumerRoleArn: ROLE_ARN,
      region: 'us-east-1',
    });
  });

  it('reads a missing object as undefined from the 404 Status, and deletes idempotently', async () => {
    const ref = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: 'streamfleet',
      name: 'users-replicator',
    };
    expect(await cluster.get(ref)).toBeUndefined();
    expect(await cluster.delete(ref)).toBe(false);
    await deployConsumer(cluster, {
      fleet,
      streamArn: STREAM_ARN,
      consumerRoleArn: ROLE_ARN,
      region: 'us-east-1',
    });
    expect((await cluster.get(ref))?.kind).toBe('Deployment');
    expect(await removeConsumer(cluster, fleet)).toEqual({
      deleted: [
        'streamfleet/Deployment/users-replicator',
        'streamfleet/PodDisruptionBudget/users-replicator',
        'streamfleet/RoleBinding/users-replicator',
        'streamfleet/Role/users-replicator',
        'streamfleet/ServiceAccount/users-replicator',
      ],
    });
    expect(await cluster.get(ref)).toBeUndefined();
  });

  it('installs the scaler when keda.sh/v1alpha1 is served, and refuses with the install command when not', async () => {
    expect(await cluster.servesApi(KEDA_API_VERSION)).toBe(true);
    const result = await installScaler(cluster, {
      fleet,
      streamArn: STREAM_ARN,
      scalerRoleArn: SCALER_ROLE_ARN,
      region: 'us-east-1',
    });
    expect(result.applied).toEqual([
      'streamfleet/TriggerAuthentication/users-replicator-aws',
      'streamfleet/ScaledObject/users-replicator',
    ]);
    const so = api.object('/apis/keda.sh/v1alpha1/namespaces/streamfleet/scaledobjects/users-replicator') as {
      spec: { triggers: { type: string }[] };
    };
    expect(so.spec.triggers[0]?.type).toBe('aws-dynamodb-streams');
    expect(await removeScaler(cluster, fleet)).toEqual({
      deleted: [
        'streamfleet/ScaledObject/users-replicator',
        'streamfleet/TriggerAuthentication/users-replicator-aws',
      ],
    });

    api.groups.delete('apis/keda.sh/v1alpha1');
    const error = await installScaler(cluster, {
      fleet,
      streamArn: STREAM_ARN,
      scalerRoleArn: SCALER_ROLE_ARN,
      region: 'us-east-1',
    }).catch((e) => e);
    expect(error).toBeInstanceOf(PreconditionError);
    expect((error as Error).message).toContain('KEDA is not installed on cluster demo');
    expect((error as Error).message).toContain('helm install keda kedacore/keda');
    // Even a direct apply of a KEDA object turns the 404 into the same advice.
    const [, scaledObject] = (await import('../../core/fleet/fleet-deploy.js')).scalerManifests({
      fleet,
      streamArn: STREAM_ARN,
      scalerRoleArn: SCALER_ROLE_ARN,
      region: 'us-east-1',
    });
    await expect(cluster.apply(scaledObject as never)).rejects.toBeInstanceOf(PreconditionError);
  });

  it('restarts a Deployment with a strategic-merge patch of the pod template annotation', async () => {
    api.seed('/apis/apps/v1/namespaces/keda/deployments/keda-operator', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'keda-operator', namespace: 'keda' },
      spec: { template: { metadata: { labels: { app: 'keda-operator' } } } },
    });
    await cluster.restartDeployment('keda', 'keda-operator');
    const patch = api.requests.find((r) => r.method === 'PATCH');
    expect(patch?.contentType).toBe('application/strategic-merge-patch+json');
    const object = api.object('/apis/apps/v1/namespaces/keda/deployments/keda-operator') as {
      spec: { template: { metadata: { labels: unknown; annotations: Record<string, string> } } };
    };
    expect(object.spec.template.metadata.labels).toEqual({ app: 'keda-operator' });
    expect(
      Date.parse(object.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'] ?? ''),
    ).not.toBeNaN();
    await expect(cluster.restartDeployment('keda', 'absent')).rejects.toBeInstanceOf(KubernetesApiError);
  });

  it('reads the scale: spec.replicas, ready replicas, ScaledObject conditions, HPA and pods', async () => {
    api.seed('/apis/apps/v1/namespaces/streamfleet/deployments/users-replicator', {
      metadata: { name: 'users-replicator' },
      spec: { replicas: 3 },
      status: { readyReplicas: 2 },
    });
    api.seed('/apis/keda.sh/v1alpha1/namespaces/streamfleet/scaledobjects/users-replicator', {
      metadata: { name: 'users-replicator' },
      spec: { maxReplicaCount: 4 },
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'Active', status: 'True' },
        ],
      },
    });
    api.seed(
      '/apis/autoscaling/v2/namespaces/streamfleet/horizontalpodautoscalers/keda-hpa-users-replicator',
      {
        metadata: { name: 'keda-hpa-users-replicator' },
        status: { desiredReplicas: 3 },
      },
    );
    const pod = (name: string, ready: boolean, extra: Record<string, unknown> = {}) => ({
      metadata: { name, labels: { 'app.kubernetes.io/instance': 'users-replicator' }, ...extra },
      status: {
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
        containerStatuses: [{ restartCount: ready ? 0 : 4 }],
      },
    });
    api.seed('/api/v1/namespaces/streamfleet/pods/a', pod('users-replicator-a', true));
    api.seed('/api/v1/namespaces/streamfleet/pods/b', pod('users-replicator-b', false));
    api.seed(
      '/api/v1/namespaces/streamfleet/pods/c',
      pod('users-replicator-c', true, { deletionTimestamp: '2026-01-01T00:00:00Z' }),
    );
    api.seed('/api/v1/namespaces/streamfleet/pods/other', {
      metadata: { name: 'other', labels: { 'app.kubernetes.io/instance': 'other' } },
    });
    const status = await cluster.scaleStatus({
      namespace: 'streamfleet',
      deploymentName: 'users-replicator',
      scaledObjectName: 'users-replicator',
    });
    expect(status).toEqual({
      deployment: { desiredReplicas: 3, readyReplicas: 2 },
      scaledObject: { ready: true, active: true, hpaDesiredReplicas: 3, maxReplicaCount: 4 },
      pods: [
        { name: 'users-replicator-a', ready: true, restarts: 0 },
        { name: 'users-replicator-b', ready: false, restarts: 4 },
      ],
    });
    const list = api.requests.find((r) => r.path === '/api/v1/namespaces/streamfleet/pods');
    expect(list?.query.labelSelector).toBe('app.kubernetes.io/instance=users-replicator');
  });

  it('maps 401 to what to do about cluster access, 429/5xx and unreachable servers to TransientError', async () => {
    const denied = connect(server, 'wrong');
    const error = await denied.get({ apiVersion: 'v1', kind: 'Namespace', name: 'x' }).catch((e) => e);
    expect(error).toBeInstanceOf(PreconditionError);
    expect((error as Error).message).toContain('aws eks create-access-entry --cluster-name demo');

    const closed = connect('http://127.0.0.1:9', TOKEN, { timeoutMs: 2_000 });
    await expect(closed.get({ apiVersion: 'v1', kind: 'Namespace', name: 'x' })).rejects.toBeInstanceOf(
      TransientError,
    );

    for (const [code, reason] of [
      [429, 'TooManyRequests'],
      [503, 'ServiceUnavailable'],
    ] as const) {
      api.failWith = { code, reason, message: `${reason} from the fake` };
      const failure = await connect(server, TOKEN)
        .get({ apiVersion: 'v1', kind: 'Namespace', name: 'x' })
        .catch((e) => e);
      expect(failure).toBeInstanceOf(TransientError);
      expect((failure as Error).message).toContain(`${reason} from the fake`);
    }
    api.failWith = undefined;
  });

  it('turns any other Status into a KubernetesApiError with its code and reason', async () => {
    api.failWith = {
      code: 422,
      reason: 'Invalid',
      message: 'Deployment.apps "x" is invalid: spec.selector: Required value',
    };
    const error = await cluster
      .apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } })
      .catch((e) => e);
    api.failWith = undefined;
    expect(error).toBeInstanceOf(KubernetesApiError);
    expect(error).toMatchObject({ status: 422, reason: 'Invalid' });
    expect((error as Error).message).toContain('spec.selector: Required value');
  });

  it('lists page by page with limit and continue until the server sends no token', async () => {
    const paged = connect(server, TOKEN, { pageSize: 2 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      api.seed(`/api/v1/namespaces/streamfleet/pods/users-replicator-${name}`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `users-replicator-${name}`,
          labels: { 'app.kubernetes.io/instance': 'users-replicator' },
        },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    const pods = await paged.list({
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'streamfleet',
      labelSelector: 'app.kubernetes.io/instance=users-replicator',
    });
    expect(pods.map((p) => p.metadata.name)).toEqual(
      ['a', 'b', 'c', 'd', 'e'].map((n) => `users-replicator-${n}`),
    );
    const lists = api.requests.filter((r) => r.path === '/api/v1/namespaces/streamfleet/pods');
    expect(lists.map((r) => r.query.limit)).toEqual(['2', '2', '2']);
    expect(lists[0]?.query.continue).toBeUndefined();
    expect(lists[1]?.query.continue).toBeTruthy();
    expect(lists[2]?.query.continue).toBeTruthy();
    // scaleStatus reads the pods through the same paging.
    const status = await paged.scaleStatus({
      namespace: 'streamfleet',
      deploymentName: 'users-replicator',
      scaledObjectName: 'users-replicator',
    });
    expect(status.pods).toHaveLength(5);
  });

  it('waits for a rollout on a watch, not by polling, and returns where it stands at the deadline', async () => {
    api.rollouts = 'manual';
    const path = '/apis/apps/v1/namespaces/streamfleet/deployments/users-replicator';
    const applied = deployConsumer(
      cluster,
      { fleet, streamArn: STREAM_ARN, consumerRoleArn: ROLE_ARN, region: 'us-east-1' },
      { rolloutWaitMs: 30_000 },
    );
    // The controller finishes once the adapter is watching.
    await vi.waitFor(() => expect(api.openWatches).toBe(1), { timeout: 10_000 });
    api.completeRollout(path);
    const result = await applied;
    expect(result.rollout).toMatchObject({ complete: true, updatedReplicas: 1, availableReplicas: 1 });
    const watches = api.requests.filter((r) => r.query.watch === 'true');
    expect(watches).toHaveLength(1);
    expect(watches[0]).toMatchObject({
      path: '/apis/apps/v1/namespaces/streamfleet/deployments',
      query: { fieldSelector: 'metadata.name=users-replicator', allowWatchBookmarks: 'true' },
      authorization: `Bearer ${TOKEN}`,
    });
    expect(watches[0]?.query.resourceVersion).toBeTruthy();
    // One read before the watch, one after it ended: no polling loop.
    expect(api.requests.filter((r) => r.method === 'GET' && r.path === path)).toHaveLength(1);

    // A rollout that does not finish in time is reported as it stands, not thrown.
    await cluster.restartDeployment('streamfleet', 'users-replicator');
    const late = await cluster.waitForRollout({
      namespace: 'streamfleet',
      name: 'users-replicator',
      timeoutMs: 1_500,
    });
    expect(late).toMatchObject({ complete: false, stalled: false });
    expect(late?.message).toContain('waiting for the Deployment controller');
    expect(
      await cluster.waitForRollout({ namespace: 'streamfleet', name: 'absent', timeoutMs: 1_000 }),
    ).toBeUndefined();
  });

  it('reads with the user’s kubeconfig (KUBECONFIG, current context or --context), as the CLI does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'streamfleet-kubeconfig-'));
    const file = join(dir, 'config');
    const user = (name: string, token: string) => ({ name, user: { token } });
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [user('good', TOKEN), user('bad', 'wrong')],
        contexts: [
          { name: 'denied', context: { cluster: 'fake', user: 'bad' } },
          { name: 'ops', context: { cluster: 'fake', user: 'good' } },
        ],
        'current-context': 'denied',
      }),
    );
    const ref = { apiVersion: 'v1', kind: 'Namespace', name: 'streamfleet' };
    await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'streamfleet' } });
    const current = userKubeConfig({ env: { KUBECONFIG: file } });
    expect(current).toMatchObject({ clusterName: 'fake', context: 'denied' });
    await expect(new KubernetesCluster(INFO, current.kubeConfig).get(ref)).rejects.toBeInstanceOf(
      PreconditionError,
    );
    const ops = userKubeConfig({ env: { KUBECONFIG: file }, context: 'ops' });
    expect((await new KubernetesCluster(INFO, ops.kubeConfig).get(ref))?.metadata.name).toBe('streamfleet');

    expect(() => userKubeConfig({ env: { KUBECONFIG: file }, context: 'prod' })).toThrow(/no context "prod"/);
    expect(() => userKubeConfig({ env: { KUBECONFIG: join(dir, 'absent') } })).toThrow(PreconditionError);
    expect(() => userKubeConfig({ env: { HOME: dir } })).toThrow(/aws eks update-kubeconfig/);
  });
});
