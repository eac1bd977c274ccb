/**
 * Who the local KEDA is for a trigger, as KEDA's `podIdentity: aws` works it out: the operator's own IRSA
 * role (read when the operator starts, so a rollout restart is needed after annotating its ServiceAccount), or
 * the TriggerAuthentication's `roleArn`, assumed with it. STS is played here, not behind the strict layer: the
 * operator role's policies must allow sts:AssumeRole on that role, and that role's trust policy must name the
 * operator's role. The AssumeRole calls made are counted as the layer counts allowed calls.
 */
import type { LocalIam } from '../../core/iam/iam.js';
import {
  accessDeniedMessage,
  assumedRoleArn,
  Decision,
  evaluatePolicies,
  trustAllows,
} from '../../core/iam/iam-evaluation.js';
import { type LocalRoleSessions, namedPolicies } from '../identities/role-sessions.js';
import type { SessionCredentials } from '../identities/sts.js';
import { KEDA_OPERATOR } from './keda-install.js';

export interface KedaSession {
  credentials: SessionCredentials;
  principalArn: string;
  policies: ReturnType<typeof namedPolicies>;
}

/** Calls by caller role, action and target role, in the shape of the strict layer's `iam.allowed`. */
export type StsUsage = Record<string, Record<string, Record<string, number>>>;

export class KedaIdentity {
  /** The IRSA role the KEDA operator started with (the webhook injects it at pod start). */
  private operatorRole: string | undefined;
  private readonly assumed: StsUsage = {};

  constructor(
    private readonly iam: LocalIam,
    private readonly sessions: Promise<LocalRoleSessions>,
  ) {}

  /** The operator (re)started with the role its ServiceAccount names now. */
  operatorStarted(roleArn: string | undefined): void {
    this.operatorRole = roleArn;
  }

  get operatorRoleArn(): string | undefined {
    return this.operatorRole;
  }

  /** The session KEDA uses for a trigger authenticated with `auth`, or why it has none. */
  async sessionFor(
    auth: { podIdentity?: { roleArn?: string } } | undefined,
  ): Promise<KedaSession | { failure: string }> {
    const operatorArn = this.operatorRole;
    const operator = operatorArn ? this.iam.roleByArn(operatorArn) : undefined;
    if (!operatorArn || !operator) {
      return {
        failure: `the KEDA operator has no AWS credentials (role ${operatorArn ?? 'none'}): annotate its ServiceAccount with an IRSA role and restart it`,
      };
    }
    const sessions = await this.sessions;
    const caller = assumedRoleArn(operatorArn, KEDA_OPERATOR.deploymentName);
    const wanted = auth?.podIdentity?.roleArn;
    if (wanted === undefined || wanted === operatorArn) {
      return {
        credentials: await sessions.session(operatorArn, KEDA_OPERATOR.deploymentName),
        principalArn: caller,
        policies: namedPolicies(operator),
      };
    }
    const request = { action: 'sts:AssumeRole', resource: wanted };
    const allowed = await evaluatePolicies(namedPolicies(operator), request);
    if (allowed.decision !== Decision.Allow) {
      return { failure: `AccessDenied: ${accessDeniedMessage(caller, request, allowed.decision)}` };
    }
    const role = this.iam.roleByArn(wanted);
    if (!role || !trustAllows(role.trustPolicy, operatorArn)) {
      return {
        failure: `AccessDenied: User: ${caller} is not authorized to perform: sts:AssumeRole on resource: ${wanted}${
          role ? " (the role's trust policy does not name the operator's role)" : ' (no such role)'
        }`,
      };
    }
    const session = `keda-${wanted.split('/').pop() ?? 'scaler'}`;
    this.count(operatorArn, request.action, wanted);
    return {
      credentials: await sessions.session(wanted, session),
      principalArn: assumedRoleArn(wanted, session),
      policies: namedPolicies(role),
    };
  }

  private count(caller: string, action: string, target: string): void {
    const byAction = this.assumed[caller] ?? {};
    this.assumed[caller] = byAction;
    const byRole = byAction[action] ?? {};
    byAction[action] = byRole;
    byRole[target] = (byRole[target] ?? 0) + 1;
  }

  /** The AssumeRole calls made so far. */
  usage(): StsUsage {
    return structuredClone(this.assumed);
  }
}
