/**
 * Where the Kubernetes adapter's credentials come from, as a `KubeConfig` of @kubernetes/client-node:
 * - in Lambda, `bearerTokenKubeConfig`: the cluster's endpoint and CA from DescribeCluster, and a bearer token
 *   asked for on every request (core/kubernetes/eks.ts presigns one per minute, as `aws eks get-token` does);
 * - in the CLI, `userKubeConfig`: the user's kubeconfig (`KUBECONFIG`, else ~/.kube/config), its current
 *   context or the one named, with whatever it authenticates with (`aws eks get-token` through `exec`, a
 *   token, a client certificate).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PreconditionError } from '../vocabulary/errors.js';
import { KubeConfig, type User } from './client.js';

export type { KubeConfig };

const TOKEN_USER = 'streamfleet-bearer-token';

export interface BearerTokenConnection {
  clusterName: string;
  /** `https://…` (EKS), or `http://127.0.0.1:PORT` for a loopback server (tests, local mode). */
  server: string;
  /** Base64 PEM of the cluster CA, as DescribeCluster's `certificateAuthority.data`. */
  caData?: string;
  /** A valid bearer token; called before every request and watch, so it may refresh itself. */
  token(): Promise<string>;
}

/** A KubeConfig with one cluster, one context and a user whose bearer token comes from `token()`. */
export function bearerTokenKubeConfig(connection: BearerTokenConnection): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: connection.clusterName,
        server: connection.server,
        ...(connection.caData ? { caData: connection.caData } : {}),
        // Plain HTTP has no certificate to verify; the client refuses http:// without this flag.
        skipTLSVerify: connection.server.startsWith('http:'),
      },
    ],
    users: [{ name: TOKEN_USER }],
    contexts: [{ name: connection.clusterName, cluster: connection.clusterName, user: TOKEN_USER }],
    currentContext: connection.clusterName,
  });
  kubeConfig.addAuthenticator({
    isAuthProvider: (user: User) => user.name === TOKEN_USER,
    applyAuthentication: async (_user, options) => {
      options.headers = { ...options.headers, Authorization: `Bearer ${await connection.token()}` };
    },
  });
  return kubeConfig;
}

/** The user's kubeconfig and the cluster its (current or named) context points at. */
export function userKubeConfig(
  options: { context?: string; env?: Record<string, string | undefined> } = {},
): { kubeConfig: KubeConfig; clusterName: string; context: string } {
  const env = options.env ?? process.env;
  const named = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f.length > 0);
  const missing = named.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new PreconditionError(
      `KUBECONFIG names ${missing.join(', ')}, which does not exist.`,
      'point KUBECONFIG at a kubeconfig file (aws eks update-kubeconfig --name CLUSTER writes ~/.kube/config), or unset it.',
    );
  }
  const files = named.length > 0 ? named : [join(env.HOME ?? homedir(), '.kube', 'config')];
  if (!existsSync(files[0] ?? '')) {
    throw new PreconditionError(
      `No kubeconfig: KUBECONFIG is not set and ${files[0]} does not exist.`,
      'run aws eks update-kubeconfig --name CLUSTER (for npm start: source the streamfleet.env file it writes), then try again.',
    );
  }
  const kubeConfig = new KubeConfig();
  try {
    const [first, ...rest] = files;
    kubeConfig.loadFromFile(first ?? '');
    for (const file of rest) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      kubeConfig.mergeConfig(more);
    }
  } catch (error) {
    throw new PreconditionError(
      `The kubeconfig could not be read: ${error instanceof Error ? error.message : String(error)}.`,
      'fix the file KUBECONFIG (or ~/.kube/config) names, e.g. write it anew with aws eks update-kubeconfig --name CLUSTER.',
      { cause: error },
    );
  }
  if (options.context !== undefined) {
    if (!kubeConfig.getContexts().some((c) => c.name === options.context)) {
      throw new PreconditionError(
        `The kubeconfig has no context "${options.context}" (it has: ${
          kubeConfig
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        }).`,
        'pass one of those with --context, or add it with aws eks update-kubeconfig --name CLUSTER.',
      );
    }
    kubeConfig.setCurrentContext(options.context);
  }
  const context = kubeConfig.getCurrentContext();
  const cluster = kubeConfig.getCurrentCluster();
  if (!context || !cluster) {
    throw new PreconditionError(
      'No Kubernetes cluster is configured: the kubeconfig has no current context.',
      'run aws eks update-kubeconfig --name CLUSTER (or kubectl config use-context NAME), or pass --context.',
    );
  }
  return { kubeConfig, clusterName: cluster.name, context };
}
