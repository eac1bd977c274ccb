/**
 * The same handlers and state machine in eks mode: the teardown workflow runs locally, its handlers reach an
 * EKS cluster through DescribeCluster (SDK mocked) and a presigned token, and talk to a FAKE Kubernetes API
 * server on loopback; IAM is the real SDK client, mocked. Nothing in the handlers knows the difference.
 */
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import {
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetControlPlane } from '../../core/ports.js';
import { runWorkflowLocally } from '../../local/workflows/index.js';
import { FakeKubernetesApi } from './fakes/fake-kubernetes-api.js';

const eksMock = mockClient(EKSClient);
const iamMock = mockClient(IAMClient);
const stsMock = mockClient(STSClient);
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

/** The real teardown workflow, run locally with the EKS adapters, for the fleet on `clusterName`. */
function teardownInEks(clusterName: string) {
  const fleet = {
    name: 'users-replicator',
    clusterName,
    sourceTableName: 'users',
    replicaTableName: 'users_replica',
  };
  return runWorkflowLocally(
    'teardown',
    { fleet },
    {
      controlPlane: {
        clusterMode: 'eks',
        region: 'us-east-1',
        endpoint: undefined,
        alertsTopicArn: undefined,
        metricsNamespace: 'Streamfleet',
      },
      retryMs: 10,
      logLevel: 'SILENT',
    },
  );
}

describe('teardown in eks mode', () => {
  let api: FakeKubernetesApi;

  beforeAll(async () => {
    // The token is presigned with the default credential chain: give it static keys.
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    api = new FakeKubernetesApi((token) => token.startsWith('k8s-aws-v1.'));
    const server = await api.start();
    const ns = '/apis/keda.sh/v1alpha1/namespaces/streamfleet';
    api.seed(`${ns}/scaledobjects/users-replicator`, { metadata: { name: 'users-replicator' } });
    api.seed(`${ns}/triggerauthentications/users-replicator-aws`, {
      metadata: { name: 'users-replicator-aws' },
    });
    api.seed('/apis/apps/v1/namespaces/streamfleet/deployments/users-replicator', {
      metadata: { name: 'users-replicator' },
    });
    api.seed('/api/v1/namespaces/streamfleet/serviceaccounts/users-replicator', {
      metadata: { name: 'users-replicator' },
    });
    const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/streamfleet';
    api.seed(`${rbac}/roles/users-replicator`, { metadata: { name: 'users-replicator' } });
    api.seed(`${rbac}/rolebindings/users-replicator`, { metadata: { name: 'users-replicator' } });
    api.seed('/api/v1/namespaces/keda/serviceaccounts/keda-operator', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'keda-operator', namespace: 'keda' },
    });
    eksMock.on(DescribeClusterCommand, { name: 'demo' }).resolves({
      cluster: {
        status: 'ACTIVE',
        endpoint: server,
        certificateAuthority: { data: 'Q0EK' },
        identity: { oidc: { issuer: 'https://oidc.eks.us-east-1.amazonaws.com/id/ABC' } },
      },
    });
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: '123456789012' });
    iamMock
      .on(GetRoleCommand)
      .resolves({ Role: { Arn: 'x', Tags: [{ Key: 'managed-by', Value: 'streamfleet' }] } as never });
    iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: ['inline'] });
    iamMock.on(ListAttachedRolePoliciesCommand).resolves({ AttachedPolicies: [] });
    iamMock.on(DeleteRolePolicyCommand).resolves({});
    iamMock.on(DeleteRoleCommand).resolves({});
  });

  afterAll(async () => {
    await api.stop();
    resetControlPlane();
    process.env.AWS_ACCESS_KEY_ID = saved.id;
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  });

  it('removes the scaler, the consumer and the roles through the Kubernetes adapter', async () => {
    const result = await teardownInEks('demo');
    expect(result.cause).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({
      fleet: 'users-replicator',
      removed: {
        scaler: {
          step: 'scaler',
          deleted: [
            'streamfleet/ScaledObject/users-replicator',
            'streamfleet/TriggerAuthentication/users-replicator-aws',
          ],
        },
        consumer: {
          step: 'consumer',
          deleted: [
            'streamfleet/Deployment/users-replicator',
            'streamfleet/RoleBinding/users-replicator',
            'streamfleet/Role/users-replicator',
            'streamfleet/ServiceAccount/users-replicator',
          ],
        },
        roles: {
          step: 'roles',
          deletedRoles: ['users-replicator-consumer', 'users-replicator-keda-scaler'],
          detachedOperatorPolicy: true,
        },
      },
    });
    expect(api.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([
      '/apis/keda.sh/v1alpha1/namespaces/streamfleet/scaledobjects/users-replicator',
      '/apis/keda.sh/v1alpha1/namespaces/streamfleet/triggerauthentications/users-replicator-aws',
      '/apis/apps/v1/namespaces/streamfleet/deployments/users-replicator',
      '/apis/policy/v1/namespaces/streamfleet/poddisruptionbudgets/users-replicator',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/streamfleet/rolebindings/users-replicator',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/streamfleet/roles/users-replicator',
      '/api/v1/namespaces/streamfleet/serviceaccounts/users-replicator',
    ]);
    expect(iamMock.commandCalls(DeleteRoleCommand).map((c) => c.args[0].input.RoleName)).toEqual([
      'users-replicator-consumer',
      'users-replicator-keda-scaler',
    ]);
    // The cluster's KEDA operator role stays for the other fleets; only this fleet's policy leaves it.
    expect(
      iamMock
        .commandCalls(DeleteRolePolicyCommand)
        .filter((c) => c.args[0].input.RoleName === 'keda-operator-demo')
        .map((c) => c.args[0].input.PolicyName),
    ).toEqual(['streamfleet-assume-users-replicator-keda-scaler']);
    // DescribeCluster once per cluster name and process: the Lambda container reuses the connection.
    expect(eksMock.commandCalls(DescribeClusterCommand)).toHaveLength(1);
  });

  it('a wrong EKS cluster fails the execution with what to do', async () => {
    eksMock.on(DescribeClusterCommand, { name: 'nope' }).rejects(
      Object.assign(new Error('No cluster found for name: nope.'), {
        name: 'ResourceNotFoundException',
        $metadata: { httpStatusCode: 404 },
      }),
    );
    const result = await teardownInEks('nope');
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PreconditionError');
    expect(result.cause).toBe(
      'Teardown stopped: teardown: There is no EKS cluster named "nope" in us-east-1. What to do: check fleet.clusterName (aws eks list-clusters --region us-east-1) and start the execution again. (Every step is idempotent: once the cause is fixed, start the execution again with the same input.)',
    );
  });
});
