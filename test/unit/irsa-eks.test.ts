/**
 * IAM and EKS calls against the real SDK clients with aws-sdk-client-mock; the Kubernetes side against the
 * FAKE API server. Covers the EKS token, DescribeCluster's errors, the OIDC provider and roles, and the whole
 * IRSA wiring with the KEDA operator's annotation and restart.
 */

import { Sha256 } from '@aws-crypto/sha256-js';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import {
  AddClientIDToOpenIDConnectProviderCommand,
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetOpenIDConnectProviderCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseFleet } from '../../core/fleet/fleet.js';
import { AwsIam, MANAGED_BY_TAG } from '../../core/iam/iam.js';
import { evaluatePolicies, trustAllows } from '../../core/iam/iam-evaluation.js';
import { irsaTrustPolicy } from '../../core/iam/iam-policies.js';
import { removeIrsa, wireIrsa } from '../../core/irsa.js';
import {
  connectEksCluster,
  describeEksCluster,
  EKS_TOKEN_PREFIX,
  eksToken,
} from '../../core/kubernetes/eks.js';
import { PreconditionError, TransientError } from '../../core/vocabulary/errors.js';
import { FakeKubernetesApi } from './fakes/fake-kubernetes-api.js';

const ACCOUNT = '123456789012';
const ISSUER = 'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
const PROVIDER_ARN = `arn:aws:iam::${ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE`;
const STREAM_ARN = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/users/stream/2024-05-01T12:00:00.000`;
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session+token/=',
};

const awsError = (name: string, status = 400) =>
  Object.assign(new Error(`${name} from the mock`), { name, $metadata: { httpStatusCode: status } });

// One mock per client class for the whole file (aws-sdk-client-mock stubs the class's send).
const eksMock = mockClient(EKSClient);
const iamMock = mockClient(IAMClient);
const stsMock = mockClient(STSClient);

beforeEach(() => {
  eksMock.reset();
  iamMock.reset();
  stsMock.reset();
});

const fleetInput = {
  name: 'users-replicator',
  clusterName: 'demo',
  sourceTableName: 'users',
  replicaTableName: 'users_replica',
};
const fleet = parseFleet(fleetInput);

describe('EKS token', () => {
  it('is k8s-aws-v1. + base64url (no padding) of a presigned GetCallerIdentity URL for the cluster', async () => {
    const token = await eksToken({
      clusterName: 'demo',
      region: 'us-east-1',
      credentials: CREDENTIALS,
      signingDate: new Date('2026-01-02T03:04:05Z'),
    });
    expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
    const encoded = token.slice(EKS_TOKEN_PREFIX.length);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    const url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
    expect(url.origin).toBe('https://sts.us-east-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('GetCallerIdentity');
    expect(q.get('Version')).toBe('2011-06-15');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20260102/us-east-1/sts/aws4_request');
    expect(q.get('X-Amz-Date')).toBe('20260102T030405Z');
    expect(q.get('X-Amz-Expires')).toBe('60');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(q.get('X-Amz-Security-Token')).toBe('session+token/=');

    // The signature is the one SigV4 computes for that request (what STS checks).
    const signer = new SignatureV4({
      credentials: CREDENTIALS,
      region: 'us-east-1',
      service: 'sts',
      sha256: Sha256,
    });
    const expected = await signer.presign(
      new HttpRequest({
        method: 'GET',
        protocol: 'https:',
        hostname: 'sts.us-east-1.amazonaws.com',
        path: '/',
        query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
        headers: { host: 'sts.us-east-1.amazonaws.com', 'x-k8s-aws-id': 'demo' },
      }),
      { expiresIn: 60, signingDate: new Date('2026-01-02T03:04:05Z') },
    );
    expect(q.get('X-Amz-Signature')).toBe(expected.query?.['X-Amz-Signature']);
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('uses the China partition STS host for cn regions', async () => {
    const token = await eksToken({ clusterName: 'demo', region: 'cn-north-1', credentials: CREDENTIALS });
    const url = new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString());
    expect(url.host).toBe('sts.cn-north-1.amazonaws.com.cn');
  });
});

describe('DescribeCluster', () => {
  const eks = eksMock;
  const client = () => new EKSClient({ region: 'us-east-1', credentials: CREDENTIALS });

  it('returns endpoint, CA and OIDC issuer of an ACTIVE cluster', async () => {
    eks.on(DescribeClusterCommand, { name: 'demo' }).resolves({
      cluster: {
        name: 'demo',
        status: 'ACTIVE',
        version: '1.31',
        endpoint: 'https://ABC.gr7.us-east-1.eks.amazonaws.com',
        certificateAuthority: { data: 'Q0EK' },
        identity: { oidc: { issuer: ISSUER } },
      },
    });
    expect(await describeEksCluster(client(), 'demo', 'us-east-1')).toEqual({
      name: 'demo',
      endpoint: 'https://ABC.gr7.us-east-1.eks.amazonaws.com',
      caData: 'Q0EK',
      oidcIssuerUrl: ISSUER,
      version: '1.31',
      status: 'ACTIVE',
    });
  });

  it('a wrong cluster name says how to list the clusters; a cluster still being created is transient', async () => {
    eks.on(DescribeClusterCommand).rejects(awsError('ResourceNotFoundException', 404));
    const error = await describeEksCluster(client(), 'nope', 'us-east-1').catch((e) => e);
    expect(error).toBeInstanceOf(PreconditionError);
    expect((error as Error).message).toContain('There is no EKS cluster named "nope" in us-east-1');
    expect((error as Error).message).toContain('aws eks list-clusters --region us-east-1');

    eks.on(DescribeClusterCommand).resolves({ cluster: { status: 'CREATING' } });
    await expect(describeEksCluster(client(), 'demo', 'us-east-1')).rejects.toBeInstanceOf(TransientError);

    eks.on(DescribeClusterCommand).rejects(awsError('ThrottlingException'));
    await expect(describeEksCluster(client(), 'demo', 'us-east-1')).rejects.toBeInstanceOf(TransientError);
  });
});

describe('AwsIam', () => {
  let iam: AwsIam;

  beforeEach(() => {
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT });
    iam = new AwsIam(
      new IAMClient({ region: 'us-east-1', credentials: CREDENTIALS }),
      new STSClient({ region: 'us-east-1', credentials: CREDENTIALS }),
    );
  });

  it('creates the OIDC provider for the issuer with sts.amazonaws.com, or reuses and completes it', async () => {
    iamMock.on(GetOpenIDConnectProviderCommand).rejects(awsError('NoSuchEntityException', 404));
    iamMock.on(CreateOpenIDConnectProviderCommand).resolves({ OpenIDConnectProviderArn: PROVIDER_ARN });
    expect(await iam.ensureOidcProvider(ISSUER)).toEqual({ arn: PROVIDER_ARN, created: true });
    expect(iamMock.commandCalls(CreateOpenIDConnectProviderCommand)[0]?.args[0].input).toEqual({
      Url: ISSUER,
      ClientIDList: ['sts.amazonaws.com'],
      Tags: [{ Key: MANAGED_BY_TAG.key, Value: MANAGED_BY_TAG.value }],
    });

    iamMock.reset();
    iamMock
      .on(GetOpenIDConnectProviderCommand, { OpenIDConnectProviderArn: PROVIDER_ARN })
      .resolves({ ClientIDList: ['other'] });
    expect(await iam.ensureOidcProvider(ISSUER)).toEqual({ arn: PROVIDER_ARN, created: false });
    expect(iamMock.commandCalls(AddClientIDToOpenIDConnectProviderCommand)[0]?.args[0].input).toEqual({
      OpenIDConnectProviderArn: PROVIDER_ARN,
      ClientID: 'sts.amazonaws.com',
    });
    expect(iamMock.commandCalls(CreateOpenIDConnectProviderCommand)).toHaveLength(0);
  });

  const trust = irsaTrustPolicy({
    issuerUrl: ISSUER,
    accountId: ACCOUNT,
    namespace: 'streamfleet',
    serviceAccountName: 'users-replicator',
  });
  const policy = {
    Version: '2012-10-17' as const,
    Statement: [
      { Sid: 'A', Effect: 'Allow' as const, Action: ['dynamodb:GetRecords'], Resource: [STREAM_ARN] },
    ],
  };
  const spec = {
    roleName: 'users-replicator-consumer',
    description: 'd',
    trustPolicy: trust,
    policyName: 'streamfleet-consumer',
    policy,
  };

  it('creates a missing role with its trust policy and tags, then puts the inline policy', async () => {
    iamMock.on(GetRoleCommand).rejects(awsError('NoSuchEntityException', 404));
    iamMock
      .on(CreateRoleCommand)
      .resolves({ Role: { Arn: `arn:aws:iam::${ACCOUNT}:role/users-replicator-consumer` } as never });
    iamMock.on(PutRolePolicyCommand).resolves({});
    const result = await iam.ensureRole(spec);
    expect(result).toEqual({
      arn: `arn:aws:iam::${ACCOUNT}:role/users-replicator-consumer`,
      created: true,
      trustUpdated: false,
    });
    const create = iamMock.commandCalls(CreateRoleCommand)[0]?.args[0].input;
    expect(JSON.parse(create?.AssumeRolePolicyDocument ?? '')).toEqual(trust);
    expect(create?.Tags).toContainEqual({ Key: 'managed-by', Value: 'streamfleet' });
    expect(
      JSON.parse(iamMock.commandCalls(PutRolePolicyCommand)[0]?.args[0].input.PolicyDocument ?? ''),
    ).toEqual(policy);
  });

  it('updates a managed role only where it differs, and refuses a role it does not manage', async () => {
    const existing = (document: unknown, tags = [{ Key: 'managed-by', Value: 'streamfleet' }]) => ({
      Role: {
        Arn: `arn:aws:iam::${ACCOUNT}:role/users-replicator-consumer`,
        AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(document)),
        Tags: tags,
      } as never,
    });
    iamMock.on(GetRoleCommand).resolves(existing(trust));
    iamMock.on(PutRolePolicyCommand).resolves({});
    expect(await iam.ensureRole(spec)).toMatchObject({ created: false, trustUpdated: false });
    expect(iamMock.commandCalls(UpdateAssumeRolePolicyCommand)).toHaveLength(0);

    iamMock.on(GetRoleCommand).resolves(existing({ Version: '2012-10-17', Statement: [] }));
    expect(await iam.ensureRole(spec)).toMatchObject({ created: false, trustUpdated: true });
    expect(
      JSON.parse(iamMock.commandCalls(UpdateAssumeRolePolicyCommand)[0]?.args[0].input.PolicyDocument ?? ''),
    ).toEqual(trust);

    iamMock.on(GetRoleCommand).resolves(existing(trust, []));
    const error = await iam.ensureRole(spec).catch((e) => e);
    expect(error).toBeInstanceOf(PreconditionError);
    expect((error as Error).message).toContain('not managed by Streamfleet');
  });

  it('deletes a managed role with its inline policies; a missing one is no error', async () => {
    iamMock
      .on(GetRoleCommand)
      .resolves({ Role: { Arn: 'x', Tags: [{ Key: 'managed-by', Value: 'streamfleet' }] } as never });
    iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: ['streamfleet-consumer'] });
    iamMock.on(ListAttachedRolePoliciesCommand).resolves({ AttachedPolicies: [] });
    iamMock.on(DeleteRolePolicyCommand).resolves({});
    iamMock.on(DeleteRoleCommand).resolves({});
    expect(await iam.deleteRole('users-replicator-consumer')).toBe(true);
    expect(iamMock.commandCalls(DeleteRolePolicyCommand)[0]?.args[0].input).toEqual({
      RoleName: 'users-replicator-consumer',
      PolicyName: 'streamfleet-consumer',
    });
    iamMock.on(GetRoleCommand).rejects(awsError('NoSuchEntityException', 404));
    expect(await iam.deleteRole('users-replicator-consumer')).toBe(false);
  });

  it('turns IAM throttling into TransientError', async () => {
    iamMock.on(GetRoleCommand).rejects(awsError('Throttling'));
    await expect(iam.ensureRole(spec)).rejects.toBeInstanceOf(TransientError);
  });

  it('retries a trust policy naming a role IAM has not propagated yet, and nothing else malformed', async () => {
    iamMock.on(GetRoleCommand).rejects(awsError('NoSuchEntityException', 404));
    const malformed = (message: string) =>
      Object.assign(awsError('MalformedPolicyDocumentException', 400), { message });
    iamMock
      .on(CreateRoleCommand)
      .rejects(malformed('Invalid principal in policy: "AWS":"arn:aws:iam::1:role/x"'));
    await expect(iam.ensureRole(spec)).rejects.toBeInstanceOf(TransientError);
    iamMock.on(CreateRoleCommand).rejects(malformed('Syntax errors in policy.'));
    await expect(iam.ensureRole(spec)).rejects.not.toBeInstanceOf(TransientError);
  });
});

describe('wireIrsa: IAM (mocked SDK) + Kubernetes (fake API server)', () => {
  let api: FakeKubernetesApi;
  let server: string;

  beforeEach(async () => {
    api = new FakeKubernetesApi((token) => token.startsWith(EKS_TOKEN_PREFIX));
    server = await api.start();
    api.seed('/api/v1/namespaces/keda/serviceaccounts/keda-operator', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'keda-operator',
        namespace: 'keda',
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
      },
    });
    api.seed('/apis/apps/v1/namespaces/keda/deployments/keda-operator', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'keda-operator', namespace: 'keda' },
      spec: { template: { metadata: {} } },
    });
    stsMock.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT });
    eksMock.on(DescribeClusterCommand, { name: 'demo' }).resolves({
      cluster: {
        status: 'ACTIVE',
        endpoint: server,
        certificateAuthority: { data: Buffer.from('not used over http').toString('base64') },
        identity: { oidc: { issuer: ISSUER } },
      },
    });
    iamMock.on(GetOpenIDConnectProviderCommand).rejects(awsError('NoSuchEntityException', 404));
    iamMock.on(CreateOpenIDConnectProviderCommand).resolves({ OpenIDConnectProviderArn: PROVIDER_ARN });
    iamMock.on(GetRoleCommand).rejects(awsError('NoSuchEntityException', 404));
    iamMock.on(CreateRoleCommand).callsFake((input: { RoleName: string }) => ({
      Role: { Arn: `arn:aws:iam::${ACCOUNT}:role/${input.RoleName}` },
    }));
    iamMock.on(PutRolePolicyCommand).resolves({});
  });

  afterEach(async () => {
    await api.stop();
  });

  it('creates provider and roles, annotates both ServiceAccounts, restarts KEDA once, and undoes only its own fleet', async () => {
    const cluster = await connectEksCluster({
      eks: new EKSClient({ region: 'us-east-1', credentials: CREDENTIALS }),
      clusterName: 'demo',
      region: 'us-east-1',
      credentials: async () => CREDENTIALS,
    });
    const iam = new AwsIam(
      new IAMClient({ region: 'us-east-1', credentials: CREDENTIALS }),
      new STSClient({ region: 'us-east-1', credentials: CREDENTIALS }),
    );
    const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
    const result = await wireIrsa({ iam, cluster }, { fleet, streamArn: STREAM_ARN });
    expect(result).toEqual({
      oidcProviderArn: PROVIDER_ARN,
      oidcProviderCreated: true,
      consumerRoleArn: role('users-replicator-consumer'),
      scalerRoleArn: role('users-replicator-keda-scaler'),
      kedaOperatorRoleArn: role('keda-operator-demo'),
      createdRoles: [
        role('users-replicator-consumer'),
        role('keda-operator-demo'),
        role('users-replicator-keda-scaler'),
      ],
      kedaOperatorRestarted: true,
      // The restart is followed to the end (the fake's stand-in controller rolls it out at once).
      kedaOperatorRollout: expect.objectContaining({ complete: true, availableReplicas: 1 }),
    });
    // Every Kubernetes call carried an EKS token.
    expect(api.requests.every((r) => r.authorization?.startsWith(`Bearer ${EKS_TOKEN_PREFIX}`))).toBe(true);

    const trustOf = (roleName: string) =>
      JSON.parse(
        iamMock.commandCalls(CreateRoleCommand).find((c) => c.args[0].input.RoleName === roleName)?.args[0]
          .input.AssumeRolePolicyDocument ?? '',
      );
    const policyOf = (roleName: string) =>
      iamMock
        .commandCalls(PutRolePolicyCommand)
        .filter((c) => c.args[0].input.RoleName === roleName)
        .map((c) => ({
          name: c.args[0].input.PolicyName ?? '',
          document: JSON.parse(c.args[0].input.PolicyDocument ?? ''),
        }));
    expect(trustOf('keda-operator-demo').Statement[0].Condition.StringEquals).toEqual({
      'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud': 'sts.amazonaws.com',
      'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub':
        'system:serviceaccount:keda:keda-operator',
    });
    // The operator may assume this fleet's scaler role, which trusts the operator's role only.
    const operator = policyOf('keda-operator-demo');
    expect(operator.map((p) => p.name)).toEqual(['streamfleet-assume-users-replicator-keda-scaler']);
    const assume = { action: 'sts:AssumeRole', resource: result.scalerRoleArn };
    expect((await evaluatePolicies(operator, assume)).decision).toBe('allow');
    expect(
      (await evaluatePolicies(operator, { ...assume, resource: role('other-keda-scaler') })).decision,
    ).toBe('implicit-deny');
    expect(trustAllows(trustOf('users-replicator-keda-scaler'), result.kedaOperatorRoleArn)).toBe(true);
    expect(trustAllows(trustOf('users-replicator-keda-scaler'), result.consumerRoleArn)).toBe(false);
    const scaler = policyOf('users-replicator-keda-scaler');
    expect(
      (await evaluatePolicies(scaler, { action: 'dynamodb:DescribeStream', resource: STREAM_ARN })).decision,
    ).toBe('allow');
    expect(
      (await evaluatePolicies(scaler, { action: 'dynamodb:GetRecords', resource: STREAM_ARN })).decision,
    ).toBe('implicit-deny');

    const kedaAccount = api.object('/api/v1/namespaces/keda/serviceaccounts/keda-operator') as {
      metadata: { annotations: Record<string, string>; labels: Record<string, string> };
    };
    expect(kedaAccount.metadata.annotations['eks.amazonaws.com/role-arn']).toBe(result.kedaOperatorRoleArn);
    expect(kedaAccount.metadata.labels['app.kubernetes.io/managed-by']).toBe('Helm');
    const consumerAccount = api.object('/api/v1/namespaces/streamfleet/serviceaccounts/users-replicator') as {
      metadata: { annotations: Record<string, string> };
    };
    expect(consumerAccount.metadata.annotations['eks.amazonaws.com/role-arn']).toBe(result.consumerRoleArn);
    const restarts = api.requests.filter((r) => r.contentType === 'application/strategic-merge-patch+json');
    expect(restarts.map((r) => r.path)).toEqual(['/apis/apps/v1/namespaces/keda/deployments/keda-operator']);

    // Run again: the roles exist now, the annotation is unchanged, so KEDA is not restarted again.
    iamMock.on(GetOpenIDConnectProviderCommand).resolves({ ClientIDList: ['sts.amazonaws.com'] });
    iamMock.on(GetRoleCommand).callsFake((input: { RoleName: string }) => {
      const created = iamMock
        .commandCalls(CreateRoleCommand)
        .find((c) => c.args[0].input.RoleName === input.RoleName)?.args[0].input;
      if (!created) return Promise.reject(awsError('NoSuchEntityException', 404));
      return {
        Role: {
          Arn: role(input.RoleName),
          AssumeRolePolicyDocument: encodeURIComponent(created?.AssumeRolePolicyDocument ?? ''),
          Tags: created?.Tags,
        },
      };
    });
    const again = await wireIrsa({ iam, cluster }, { fleet, streamArn: STREAM_ARN });
    expect(again).toMatchObject({
      oidcProviderCreated: false,
      createdRoles: [],
      kedaOperatorRestarted: false,
    });
    expect(iamMock.commandCalls(UpdateAssumeRolePolicyCommand)).toHaveLength(0);

    // A second fleet on the cluster adds its own inline policy to the operator role and restarts nothing.
    const orders = parseFleet({
      ...fleetInput,
      name: 'orders-replicator',
      sourceTableName: 'orders',
      replicaTableName: 'orders_replica',
    });
    const second = await wireIrsa({ iam, cluster }, { fleet: orders, streamArn: STREAM_ARN });
    expect(second.kedaOperatorRoleArn).toBe(result.kedaOperatorRoleArn);
    expect(second.kedaOperatorRestarted).toBe(false);
    expect(policyOf('keda-operator-demo').map((p) => p.name)).toContain(
      'streamfleet-assume-orders-replicator-keda-scaler',
    );

    // Undo one fleet: its roles and its inline policy on the operator role go; the operator role and KEDA's
    // annotation stay for the other fleet.
    iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: ['p'] });
    iamMock.on(ListAttachedRolePoliciesCommand).resolves({ AttachedPolicies: [] });
    iamMock.on(DeleteRolePolicyCommand).resolves({});
    iamMock.on(DeleteRoleCommand).resolves({});
    expect(await removeIrsa({ iam, cluster }, fleet)).toEqual({
      deletedRoles: ['users-replicator-consumer', 'users-replicator-keda-scaler'],
      detachedOperatorPolicy: true,
    });
    expect(iamMock.commandCalls(DeleteRoleCommand).map((c) => c.args[0].input.RoleName)).not.toContain(
      'keda-operator-demo',
    );
    expect(
      iamMock
        .commandCalls(DeleteRolePolicyCommand)
        .filter((c) => c.args[0].input.RoleName === 'keda-operator-demo')
        .map((c) => c.args[0].input.PolicyName),
    ).toEqual(['streamfleet-assume-users-replicator-keda-scaler']);
    const after = api.object('/api/v1/namespaces/keda/serviceaccounts/keda-operator') as {
      metadata: { annotations?: Record<string, string>; labels: Record<string, string> };
    };
    expect(after.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(result.kedaOperatorRoleArn);
    expect(after.metadata.labels['app.kubernetes.io/managed-by']).toBe('Helm');
  });

  it('says KEDA is missing when its operator ServiceAccount is not there', async () => {
    const bare = new FakeKubernetesApi();
    const bareServer = await bare.start();
    eksMock.on(DescribeClusterCommand, { name: 'bare' }).resolves({
      cluster: {
        status: 'ACTIVE',
        endpoint: bareServer,
        certificateAuthority: { data: 'Q0EK' },
        identity: { oidc: { issuer: ISSUER } },
      },
    });
    const cluster = await connectEksCluster({
      eks: new EKSClient({ region: 'us-east-1', credentials: CREDENTIALS }),
      clusterName: 'bare',
      region: 'us-east-1',
      credentials: async () => CREDENTIALS,
    });
    const iam = new AwsIam(
      new IAMClient({ region: 'us-east-1', credentials: CREDENTIALS }),
      new STSClient({ region: 'us-east-1', credentials: CREDENTIALS }),
    );
    const error = await wireIrsa({ iam, cluster }, { fleet, streamArn: STREAM_ARN }).catch((e) => e);
    await bare.stop();
    expect(error).toBeInstanceOf(PreconditionError);
    expect((error as Error).message).toContain('KEDA is not installed on cluster bare');
    expect(iamMock.commandCalls(CreateRoleCommand)).toHaveLength(0);
  });
});
