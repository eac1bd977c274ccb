/**
 * Amazon EKS: the cluster's endpoint, CA and OIDC issuer from DescribeCluster, and a bearer token made the
 * way `aws eks get-token` makes it — a presigned STS GetCallerIdentity URL that carries the cluster name in
 * the signed header `x-k8s-aws-id`, valid for 60 s, base64url-encoded without padding after `k8s-aws-v1.`.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { DescribeClusterCommand, type EKSClient, type Cluster as EksCluster } from '@aws-sdk/client-eks';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { asTransientWhenRetriable } from '../tables/tables.js';
import { partitionForRegion } from '../vocabulary/arns.js';
import { errorName, PreconditionError, TransientError } from '../vocabulary/errors.js';
import { bearerTokenKubeConfig } from './kubeconfig.js';
import { KubernetesCluster } from './kubernetes.js';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
/** The header aws-iam-authenticator reads the cluster name from. */
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** `aws eks get-token` presigns for 60 s; the authenticator accepts a token for up to 15 minutes after. */
export const TOKEN_EXPIRY_SECONDS = 60;

export interface EksClusterDescription {
  name: string;
  endpoint: string;
  /** Base64 PEM. */
  caData: string;
  oidcIssuerUrl: string;
  version: string | undefined;
  status: string;
}

/** DescribeCluster, with errors that say what to do. */
export async function describeEksCluster(
  eks: EKSClient,
  clusterName: string,
  region: string,
): Promise<EksClusterDescription> {
  let c: EksCluster | undefined;
  try {
    c = (await eks.send(new DescribeClusterCommand({ name: clusterName }))).cluster;
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') {
      throw new PreconditionError(
        `There is no EKS cluster named "${clusterName}" in ${region}.`,
        `check fleet.clusterName (aws eks list-clusters --region ${region}) and start the execution again.`,
      );
    }
    throw asTransientWhenRetriable(error);
  }
  const status = c?.status ?? 'UNKNOWN';
  if (status === 'CREATING' || status === 'UPDATING') {
    throw new TransientError(`EKS cluster ${clusterName} is ${status}; waiting for ACTIVE.`);
  }
  if (status !== 'ACTIVE' || !c?.endpoint || !c.certificateAuthority?.data) {
    throw new PreconditionError(
      `EKS cluster ${clusterName} is ${status} and has ${c?.endpoint ? 'an' : 'no'} API endpoint.`,
      'use an ACTIVE cluster (aws eks describe-cluster --name CLUSTER shows its status).',
    );
  }
  const issuer = c.identity?.oidc?.issuer;
  if (!issuer) {
    throw new PreconditionError(
      `EKS cluster ${clusterName} reports no OIDC issuer, which IRSA needs.`,
      'use a cluster created with Kubernetes 1.13 or later (every current EKS cluster has one).',
    );
  }
  return {
    name: clusterName,
    endpoint: c.endpoint,
    caData: c.certificateAuthority.data,
    oidcIssuerUrl: issuer,
    version: c.version,
    status,
  };
}

/** The regional STS host the token is presigned for (what aws-iam-authenticator accepts). */
export function stsHostname(region: string): string {
  return partitionForRegion(region) === 'aws-cn'
    ? `sts.${region}.amazonaws.com.cn`
    : `sts.${region}.amazonaws.com`;
}

export interface EksTokenInput {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The signing time; default now. */
  signingDate?: Date;
}

/** The bearer token `aws eks get-token --cluster-name NAME` prints. */
export async function eksToken(input: EksTokenInput): Promise<string> {
  const hostname = stsHostname(input.region);
  const signer = new SignatureV4({
    credentials: input.credentials,
    region: input.region,
    service: 'sts',
    sha256: Sha256,
    uriEscapePath: true,
  });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: hostname, [CLUSTER_ID_HEADER]: input.clusterName },
  });
  const signed = await signer.presign(request, {
    expiresIn: TOKEN_EXPIRY_SECONDS,
    ...(input.signingDate ? { signingDate: input.signingDate } : {}),
  });
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(signed.query ?? {})) {
    if (typeof value === 'string') query.append(key, value);
    else if (Array.isArray(value)) for (const v of value) query.append(key, v);
  }
  const url = `https://${hostname}/?${query.toString()}`;
  return EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

/** The `Cluster` port for an EKS cluster: DescribeCluster, then the Kubernetes API with a fresh token per minute. */
export async function connectEksCluster(input: {
  eks: EKSClient;
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentityProvider;
}): Promise<KubernetesCluster> {
  const description = await describeEksCluster(input.eks, input.clusterName, input.region);
  let cached: { token: string; until: number } | undefined;
  const token = async () => {
    const now = Date.now();
    if (cached && cached.until > now) return cached.token;
    const value = await eksToken({
      clusterName: input.clusterName,
      region: input.region,
      credentials: input.credentials,
    });
    cached = { token: value, until: now + 45_000 };
    return value;
  };
  return new KubernetesCluster(
    {
      name: description.name,
      kind: 'eks',
      oidcIssuerUrl: description.oidcIssuerUrl,
      ...(description.version ? { version: description.version } : {}),
    },
    bearerTokenKubeConfig({
      clusterName: description.name,
      server: description.endpoint,
      caData: description.caData,
      token,
    }),
  );
}
