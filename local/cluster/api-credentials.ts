/**
 * Who may call the local Kubernetes API, and how they prove it: bearer tokens, as a real API server's token
 * authenticators see them. The operator (the kubeconfig npm start writes) is `kubernetes-admin` in group
 * `system:masters`; a pod gets its ServiceAccount's token, which authenticates as
 * `system:serviceaccount:NS:NAME` and is allowed only what RBAC bindings grant that name. Each ServiceAccount's
 * token comes in a kubeconfig file of its own (where a kubelet would mount the token), handed to the pod as
 * KUBECONFIG. Tokens are random per cluster run, and the files are removed when the cluster stops.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { MASTERS_GROUP, serviceAccountUser, type UserInfo } from '../../core/kubernetes/rbac.js';

export const ADMIN_USER: UserInfo = {
  username: 'kubernetes-admin',
  groups: [MASTERS_GROUP, 'system:authenticated'],
};

/** A kubeconfig for `server`, trusting `caPem`, authenticating with `token`. */
export function kubeconfigYaml(input: {
  clusterName: string;
  server: string;
  caPem: string;
  userName: string;
  token: string;
  namespace?: string;
}): string {
  const context = `${input.userName}@${input.clusterName}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: input.clusterName,
        cluster: {
          server: input.server,
          'certificate-authority-data': Buffer.from(input.caPem).toString('base64'),
        },
      },
    ],
    users: [{ name: input.userName, user: { token: input.token } }],
    contexts: [
      {
        name: context,
        context: {
          cluster: input.clusterName,
          user: input.userName,
          ...(input.namespace ? { namespace: input.namespace } : {}),
        },
      },
    ],
    'current-context': context,
  });
}

export class ApiCredentials {
  readonly adminToken = randomBytes(16).toString('hex');
  private readonly users = new Map<string, UserInfo>([[this.adminToken, ADMIN_USER]]);
  private readonly accounts = new Map<string, string>();
  private dir: string | undefined;

  /** The user a bearer token authenticates as; undefined for a token this cluster never issued. */
  userOf(token: string | undefined): UserInfo | undefined {
    return token === undefined ? undefined : this.users.get(token);
  }

  /** The ServiceAccount's token (the same for every pod of it, for this run). */
  serviceAccountToken(namespace: string, name: string): string {
    const key = `${namespace}/${name}`;
    let token = this.accounts.get(key);
    if (!token) {
      token = randomBytes(16).toString('hex');
      this.accounts.set(key, token);
      this.users.set(token, serviceAccountUser(namespace, name));
    }
    return token;
  }

  /** A kubeconfig file with the ServiceAccount's token, for its pods (written once, mode 600). */
  serviceAccountKubeconfig(
    api: { clusterName: string; server: string; caPem: string },
    namespace: string,
    name: string,
  ): string {
    this.dir ??= mkdtempSync(join(tmpdir(), 'streamfleet-kube-'));
    const file = join(this.dir, `${namespace}.${name}.kubeconfig`);
    writeFileSync(
      file,
      kubeconfigYaml({
        ...api,
        userName: `system:serviceaccount:${namespace}:${name}`,
        token: this.serviceAccountToken(namespace, name),
        namespace,
      }),
      { mode: 0o600 },
    );
    return file;
  }

  dispose(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
