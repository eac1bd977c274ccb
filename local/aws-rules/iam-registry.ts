/**
 * Who is who, for the IAM rule: the roles the local runtime deploys (each with its identity policies) and the
 * credentials it hands out for sessions of them (an access key id per role session, as STS would). Pure
 * state, no I/O; registered over the control API by whoever plays STS locally (local/identities).
 *
 * A role is registered under an id of the registrant's choosing, so two test files that deploy a role of the
 * same name with different policies (different tables) on one shared layer never see each other's. Credentials
 * whose role was deleted stay known and are denied everything, as a deleted role's sessions are on AWS.
 * Credentials never registered are not this rule's business: their requests pass unchecked.
 */
import { assumedRoleArn, type IamPolicy, type NamedPolicy } from '../../core/iam/iam-evaluation.js';

export interface RegisteredRole {
  /** `arn:aws:iam::ACCOUNT:role/NAME`. */
  readonly arn: string;
  readonly policies: readonly NamedPolicy[];
}

export interface RegisteredCredentials {
  readonly roleId: string;
  /** The role session's name: a pod's name, a function's name. */
  readonly sessionName: string;
}

/** The caller behind an access key id. */
export interface Principal {
  /** `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, as AWS names the caller in a refusal. */
  readonly arn: string;
  readonly roleArn: string;
  /** Empty when the role has been deleted. */
  readonly policies: readonly NamedPolicy[];
}

export class IamRegistrationError extends Error {
  override readonly name = 'IamRegistrationError';
}

const ROLE_ARN = /^arn:[a-z-]+:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** AWS session names: 2-64 of letters, digits and `=,.@_-`. */
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const ID = /^[\w.:@=+-]{1,200}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a role registration's body: `{arn, policies: [{name, document: {Statement: [...]}}]}`. */
export function parseRegisteredRole(value: unknown): RegisteredRole {
  if (!isObject(value)) throw new IamRegistrationError('A role is {"arn": ..., "policies": [...]}.');
  const { arn, policies } = value;
  if (typeof arn !== 'string' || !ROLE_ARN.test(arn)) {
    throw new IamRegistrationError(
      `"arn" must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got ${JSON.stringify(arn)}.`,
    );
  }
  if (!Array.isArray(policies))
    throw new IamRegistrationError('"policies" must be a list of {name, document}.');
  const parsed = policies.map((policy, index): NamedPolicy => {
    if (!isObject(policy) || typeof policy.name !== 'string' || !isObject(policy.document)) {
      throw new IamRegistrationError(`policies[${index}] must be {"name": "...", "document": {...}}.`);
    }
    const statement = policy.document.Statement;
    if (!Array.isArray(statement) && !isObject(statement)) {
      throw new IamRegistrationError(`policies[${index}].document must have a Statement.`);
    }
    return { name: policy.name, document: policy.document as unknown as IamPolicy };
  });
  return { arn, policies: parsed };
}

export function parseRegisteredCredentials(value: unknown): RegisteredCredentials {
  if (!isObject(value) || typeof value.roleId !== 'string' || typeof value.sessionName !== 'string') {
    throw new IamRegistrationError('Credentials are {"roleId": "...", "sessionName": "..."}.');
  }
  if (!SESSION_NAME.test(value.sessionName)) {
    throw new IamRegistrationError(
      `"sessionName" must be 2-64 of letters, digits and =,.@_- (as STS requires), got ${JSON.stringify(value.sessionName)}.`,
    );
  }
  return { roleId: value.roleId, sessionName: value.sessionName };
}

export function requireRegistrationId(kind: string, id: string): string {
  if (!ID.test(id)) throw new IamRegistrationError(`A ${kind} id is 1-200 of letters, digits and ._:@=+-.`);
  return id;
}

export class IamRegistry {
  private readonly roleById = new Map<string, RegisteredRole>();
  /** The role ARN a role id had, kept after deletion so its sessions are still named in refusals. */
  private readonly roleArnById = new Map<string, string>();
  private readonly credentials = new Map<string, RegisteredCredentials>();

  putRole(id: string, role: RegisteredRole): void {
    this.roleById.set(requireRegistrationId('role', id), role);
    this.roleArnById.set(id, role.arn);
  }

  /** False when there was no such role. */
  deleteRole(id: string): boolean {
    return this.roleById.delete(id);
  }

  putCredentials(accessKeyId: string, credentials: RegisteredCredentials): void {
    requireRegistrationId('access key', accessKeyId);
    if (!this.roleArnById.has(credentials.roleId)) {
      throw new IamRegistrationError(
        `No role ${credentials.roleId} is registered: register the role before its credentials.`,
      );
    }
    this.credentials.set(accessKeyId, credentials);
  }

  deleteCredentials(accessKeyId: string): boolean {
    return this.credentials.delete(accessKeyId);
  }

  isRegistered(accessKeyId: string | undefined): boolean {
    return accessKeyId !== undefined && this.credentials.has(accessKeyId);
  }

  /** The principal behind registered credentials; undefined for credentials never registered. */
  identify(accessKeyId: string | undefined): Principal | undefined {
    const credentials = accessKeyId === undefined ? undefined : this.credentials.get(accessKeyId);
    if (!credentials) return undefined;
    const roleArn = this.roleArnById.get(credentials.roleId) ?? '';
    const role = this.roleById.get(credentials.roleId);
    return {
      arn: assumedRoleArn(roleArn, credentials.sessionName),
      roleArn,
      policies: role?.policies ?? [],
    };
  }

  /** Every role registered now, by id. */
  roles(): Record<string, RegisteredRole> {
    return Object.fromEntries(this.roleById);
  }
}
