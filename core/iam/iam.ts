/**
 * The IAM side of IRSA behind one port: the cluster's OIDC provider and the roles with their trust and
 * inline policies. `AwsIam` calls IAM (and STS for the account); `LocalIam` keeps the same records in memory
 * for the local mode, where nothing reaches AWS but the local KEDA still checks its role's policy.
 * Roles are only changed or deleted when they carry the tag `managed-by=streamfleet`, so a name clash with
 * someone else's role fails loudly instead of rewriting it.
 */
import {
  AddClientIDToOpenIDConnectProviderCommand,
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetOpenIDConnectProviderCommand,
  GetRoleCommand,
  type IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { asTransientWhenRetriable } from '../tables/tables.js';
import { oidcProviderArn } from '../vocabulary/arns.js';
import { errorName, PreconditionError, TransientError } from '../vocabulary/errors.js';
import { stableText } from '../vocabulary/stable-text.js';
import { IRSA_AUDIENCE, type PolicyDocument } from './iam-policies.js';

export const MANAGED_BY_TAG = { key: 'managed-by', value: 'streamfleet' } as const;

export interface RoleSpec {
  roleName: string;
  description: string;
  trustPolicy: PolicyDocument;
  /** The inline policy's name. */
  policyName: string;
  policy: PolicyDocument;
  tags?: Record<string, string>;
}

export interface EnsuredRole {
  arn: string;
  created: boolean;
  /** The trust policy was different and has been replaced. */
  trustUpdated: boolean;
}

export interface StoredRole {
  arn: string;
  trustPolicy: PolicyDocument;
  policies: Record<string, PolicyDocument>;
  tags: Record<string, string>;
}

export interface IamPort {
  accountId(): Promise<string>;
  /** The IAM OIDC provider for the issuer, with `sts.amazonaws.com` among its client ids. */
  ensureOidcProvider(issuerUrl: string): Promise<{ arn: string; created: boolean }>;
  ensureRole(spec: RoleSpec): Promise<EnsuredRole>;
  /** Deletes a Streamfleet-managed role and its policies; false when it does not exist. */
  deleteRole(roleName: string): Promise<boolean>;
  /** Deletes one inline policy of a Streamfleet-managed role; false when the role or the policy does not exist. */
  deleteRolePolicy(roleName: string, policyName: string): Promise<boolean>;
  getRole(roleName: string): Promise<StoredRole | undefined>;
}

function roleArnOf(accountId: string, roleName: string, partition = 'aws'): string {
  return `arn:${partition}:iam::${accountId}:role/${roleName}`;
}

/**
 * Retriable AWS errors, and one IAM-specific: a trust policy naming a role created moments ago (the scaler
 * role trusts the KEDA operator role wire-irsa has just made) is refused as "Invalid principal in policy"
 * until IAM has propagated the new role, which takes seconds. WireIrsa's Retry on TransientError waits that out.
 */
export function asTransientForIam(error: unknown): unknown {
  if (
    errorName(error) === 'MalformedPolicyDocumentException' &&
    /invalid principal/i.test((error as Error).message ?? '')
  ) {
    return new TransientError(
      `${(error as Error).message} (a role the trust policy names was created moments ago and IAM has not propagated it yet)`,
      { cause: error },
    );
  }
  return asTransientWhenRetriable(error);
}

function notManaged(roleName: string): PreconditionError {
  return new PreconditionError(
    `The IAM role ${roleName} exists but is not managed by Streamfleet (no tag ${MANAGED_BY_TAG.key}=${MANAGED_BY_TAG.value}).`,
    `choose another name in fleet.roles, or tag the role ${MANAGED_BY_TAG.key}=${MANAGED_BY_TAG.value} if Streamfleet may rewrite its policies.`,
  );
}

/** Structural equality of two JSON values (key order ignored). */
function sameJson(a: unknown, b: unknown): boolean {
  return stableText(a) === stableText(b);
}

export class AwsIam implements IamPort {
  private account: string | undefined;

  constructor(
    private readonly iam: IAMClient,
    private readonly sts: STSClient,
  ) {}

  async accountId(): Promise<string> {
    if (this.account === undefined) {
      try {
        const identity = await this.sts.send(new GetCallerIdentityCommand({}));
        this.account = identity.Account ?? '';
      } catch (error) {
        throw asTransientWhenRetriable(error);
      }
    }
    return this.account;
  }

  async ensureOidcProvider(issuerUrl: string): Promise<{ arn: string; created: boolean }> {
    const arn = oidcProviderArn({ issuerUrl, accountId: await this.accountId() });
    try {
      const provider = await this.iam.send(
        new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn }),
      );
      if (!(provider.ClientIDList ?? []).includes(IRSA_AUDIENCE)) {
        await this.iam.send(
          new AddClientIDToOpenIDConnectProviderCommand({
            OpenIDConnectProviderArn: arn,
            ClientID: IRSA_AUDIENCE,
          }),
        );
      }
      return { arn, created: false };
    } catch (error) {
      if (errorName(error) !== 'NoSuchEntityException') throw asTransientWhenRetriable(error);
    }
    try {
      // No thumbprint: IAM secures the connection to EKS issuers with its own trusted CAs.
      const created = await this.iam.send(
        new CreateOpenIDConnectProviderCommand({
          Url: issuerUrl,
          ClientIDList: [IRSA_AUDIENCE],
          Tags: [{ Key: MANAGED_BY_TAG.key, Value: MANAGED_BY_TAG.value }],
        }),
      );
      return { arn: created.OpenIDConnectProviderArn ?? arn, created: true };
    } catch (error) {
      if (errorName(error) === 'EntityAlreadyExistsException') return { arn, created: false };
      throw asTransientWhenRetriable(error);
    }
  }

  async getRole(roleName: string): Promise<StoredRole | undefined> {
    try {
      const { Role } = await this.iam.send(new GetRoleCommand({ RoleName: roleName }));
      const tags = Object.fromEntries((Role?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
      const trust = Role?.AssumeRolePolicyDocument
        ? (JSON.parse(decodeURIComponent(Role.AssumeRolePolicyDocument)) as PolicyDocument)
        : { Version: '2012-10-17' as const, Statement: [] };
      return { arn: Role?.Arn ?? '', trustPolicy: trust, policies: {}, tags };
    } catch (error) {
      if (errorName(error) === 'NoSuchEntityException') return undefined;
      throw asTransientWhenRetriable(error);
    }
  }

  async ensureRole(spec: RoleSpec): Promise<EnsuredRole> {
    const tags = { ...spec.tags, [MANAGED_BY_TAG.key]: MANAGED_BY_TAG.value };
    let existing = await this.getRole(spec.roleName);
    let created = false;
    let trustUpdated = false;
    if (existing === undefined) {
      try {
        const result = await this.iam.send(
          new CreateRoleCommand({
            RoleName: spec.roleName,
            Description: spec.description,
            AssumeRolePolicyDocument: JSON.stringify(spec.trustPolicy),
            Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          }),
        );
        created = true;
        existing = { arn: result.Role?.Arn ?? '', trustPolicy: spec.trustPolicy, policies: {}, tags };
      } catch (error) {
        if (errorName(error) !== 'EntityAlreadyExistsException') throw asTransientForIam(error);
        existing = await this.getRole(spec.roleName);
        if (existing === undefined) throw error;
      }
    }
    if (!created) {
      if (existing.tags[MANAGED_BY_TAG.key] !== MANAGED_BY_TAG.value) throw notManaged(spec.roleName);
      if (!sameJson(existing.trustPolicy, spec.trustPolicy)) {
        await this.call(() =>
          this.iam.send(
            new UpdateAssumeRolePolicyCommand({
              RoleName: spec.roleName,
              PolicyDocument: JSON.stringify(spec.trustPolicy),
            }),
          ),
        );
        trustUpdated = true;
      }
    }
    await this.call(() =>
      this.iam.send(
        new PutRolePolicyCommand({
          RoleName: spec.roleName,
          PolicyName: spec.policyName,
          PolicyDocument: JSON.stringify(spec.policy),
        }),
      ),
    );
    return { arn: existing.arn, created, trustUpdated };
  }

  async deleteRole(roleName: string): Promise<boolean> {
    const existing = await this.getRole(roleName);
    if (existing === undefined) return false;
    if (existing.tags[MANAGED_BY_TAG.key] !== MANAGED_BY_TAG.value) throw notManaged(roleName);
    const inline = await this.call(() => this.iam.send(new ListRolePoliciesCommand({ RoleName: roleName })));
    for (const name of inline.PolicyNames ?? []) {
      await this.call(() =>
        this.iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: name })),
      );
    }
    const attached = await this.call(() =>
      this.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName })),
    );
    for (const policy of attached.AttachedPolicies ?? []) {
      if (policy.PolicyArn) {
        await this.call(() =>
          this.iam.send(new DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: policy.PolicyArn })),
        );
      }
    }
    try {
      await this.iam.send(new DeleteRoleCommand({ RoleName: roleName }));
    } catch (error) {
      if (errorName(error) === 'NoSuchEntityException') return false;
      throw asTransientWhenRetriable(error);
    }
    return true;
  }

  async deleteRolePolicy(roleName: string, policyName: string): Promise<boolean> {
    const existing = await this.getRole(roleName);
    if (existing === undefined) return false;
    if (existing.tags[MANAGED_BY_TAG.key] !== MANAGED_BY_TAG.value) throw notManaged(roleName);
    try {
      await this.iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }));
    } catch (error) {
      if (errorName(error) === 'NoSuchEntityException') return false;
      throw asTransientWhenRetriable(error);
    }
    return true;
  }

  /** One call with the retriable errors mapped to TransientError. */
  private async call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw asTransientForIam(error);
    }
  }
}

/** A role created, changed (`role`) or deleted (`undefined`) in the local IAM. */
export type LocalIamListener = (roleName: string, role: StoredRole | undefined) => void;

/**
 * The local mode's IAM: the same records in memory, account 000000000000. No AWS call. Whoever hands out
 * credentials for these roles locally (local/identities) follows their changes with `onChange`.
 */
export class LocalIam implements IamPort {
  static readonly ACCOUNT_ID = '000000000000';
  readonly providers = new Set<string>();
  readonly roles = new Map<string, StoredRole>();
  private readonly listeners = new Set<LocalIamListener>();

  /** Calls `listener` after every change of a role; returns the unsubscribe function. */
  onChange(listener: LocalIamListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(roleName: string): void {
    const role = this.roles.get(roleName);
    for (const listener of this.listeners) listener(roleName, role ? structuredClone(role) : undefined);
  }

  async accountId(): Promise<string> {
    return LocalIam.ACCOUNT_ID;
  }

  async ensureOidcProvider(issuerUrl: string): Promise<{ arn: string; created: boolean }> {
    const arn = oidcProviderArn({ issuerUrl, accountId: LocalIam.ACCOUNT_ID });
    const created = !this.providers.has(arn);
    this.providers.add(arn);
    return { arn, created };
  }

  async ensureRole(spec: RoleSpec): Promise<EnsuredRole> {
    const existing = this.roles.get(spec.roleName);
    if (existing && existing.tags[MANAGED_BY_TAG.key] !== MANAGED_BY_TAG.value)
      throw notManaged(spec.roleName);
    const arn = roleArnOf(LocalIam.ACCOUNT_ID, spec.roleName);
    const trustUpdated = existing !== undefined && !sameJson(existing.trustPolicy, spec.trustPolicy);
    this.roles.set(spec.roleName, {
      arn,
      trustPolicy: spec.trustPolicy,
      policies: { ...existing?.policies, [spec.policyName]: spec.policy },
      tags: { ...(existing?.tags ?? spec.tags), [MANAGED_BY_TAG.key]: MANAGED_BY_TAG.value },
    });
    this.changed(spec.roleName);
    return { arn, created: existing === undefined, trustUpdated };
  }

  async deleteRole(roleName: string): Promise<boolean> {
    const existing = this.roles.get(roleName);
    if (!existing) return false;
    if (existing.tags[MANAGED_BY_TAG.key] !== MANAGED_BY_TAG.value) throw notManaged(roleName);
    this.roles.delete(roleName);
    this.changed(roleName);
    return true;
  }

  async deleteRolePolicy(roleName: string, policyName: string): Promise<boolean> {
    const existing = this.roles.get(roleName);
    if (!existing || !(policyName in existing.policies)) return false;
    if (existing.tags[MANAGED_BY_TAG.key] !== MANAGED_BY_TAG.value) throw notManaged(roleName);
    const { [policyName]: _removed, ...rest } = existing.policies;
    this.roles.set(roleName, { ...existing, policies: rest });
    this.changed(roleName);
    return true;
  }

  async getRole(roleName: string): Promise<StoredRole | undefined> {
    const role = this.roles.get(roleName);
    return role ? structuredClone(role) : undefined;
  }

  /** The role behind an ARN, for the local KEDA's credential check. */
  roleByArn(arn: string): StoredRole | undefined {
    return [...this.roles.values()].find((role) => role.arn === arn);
  }
}
