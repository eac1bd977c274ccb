/**
 * Sessions of the roles in the local IAM (`LocalIam`, where wire-irsa puts the consumer, scaler and KEDA
 * operator roles with the policies core/iam/iam-policies.ts builds): what EKS's pod identity webhook and STS give
 * a pod whose ServiceAccount names an IRSA role, and what KEDA gets when it assumes a role. Each role is
 * registered with the strict layer once, re-registered whenever the local IAM changes it (a new policy applies
 * to running sessions, as on AWS) and withdrawn when it is deleted.
 *
 * A pod whose ServiceAccount names no role, or a role that does not exist, runs as the node: a session of a
 * role with no policies, so every AWS call it makes is refused — EKS Auto Mode nodes' own role grants pods no
 * DynamoDB access either.
 */

import type { LocalIam, StoredRole } from '../../core/iam/iam.js';
import type { IamPolicy, NamedPolicy } from '../../core/iam/iam-evaluation.js';
import { type LocalRole, type LocalSts, registrationRealm, type SessionCredentials } from './sts.js';

/** The role a pod runs as without IRSA. */
export const NODE_ROLE_ARN = 'arn:aws:iam::000000000000:role/streamfleet-local-node';

/** A stored role's inline policies, by name, as the evaluator takes them. */
export function namedPolicies(role: Pick<StoredRole, 'policies'>): NamedPolicy[] {
  return Object.entries(role.policies).map(([name, document]) => ({
    name,
    document: document as unknown as IamPolicy,
  }));
}

export class LocalRoleSessions {
  private readonly realm = registrationRealm();
  /** Role ids registered, by role name, with the registration in flight or done. */
  private readonly registered = new Map<string, Promise<LocalRole>>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly iam: LocalIam,
    readonly sts: LocalSts,
  ) {
    this.unsubscribe = iam.onChange((roleName, role) => {
      if (!this.registered.has(roleName)) return;
      const next = role ? this.register(roleName, role) : this.withdraw(roleName);
      // A failed re-registration leaves the old policies in force; the next change tries again.
      next.catch(() => {});
    });
  }

  /**
   * Credentials for a session of the role named by `roleArn` (a pod's IRSA role, a role KEDA assumed); the
   * node's role when there is no such role in the local IAM.
   */
  async session(roleArn: string | undefined, sessionName: string): Promise<SessionCredentials> {
    const role = roleArn === undefined ? undefined : this.iam.roleByArn(roleArn);
    const name = role ? roleArn?.split('/').pop() : undefined;
    const local =
      role && name ? await (this.registered.get(name) ?? this.register(name, role)) : await this.nodeRole();
    return this.sts.credentialsFor(local, sessionName);
  }

  /** Stops following the local IAM. Registrations stay with the layer (it is closed with the run). */
  close(): void {
    this.unsubscribe();
  }

  private register(roleName: string, role: StoredRole): Promise<LocalRole> {
    const local: LocalRole = {
      id: `${this.realm}:${roleName}`,
      arn: role.arn,
      policies: namedPolicies(role),
    };
    const done = this.sts.putRole(local).then(() => local);
    this.registered.set(roleName, done);
    return done;
  }

  private async withdraw(roleName: string): Promise<LocalRole> {
    const local = await this.registered.get(roleName);
    if (local) await this.sts.deleteRole(local.id);
    return local ?? { id: '', arn: '', policies: [] };
  }

  private nodeRole(): Promise<LocalRole> {
    const key = '(node)';
    let done = this.registered.get(key);
    if (!done) {
      const local: LocalRole = { id: `${this.realm}:node`, arn: NODE_ROLE_ARN, policies: [] };
      done = this.sts.putRole(local).then(() => local);
      this.registered.set(key, done);
    }
    return done;
  }
}
