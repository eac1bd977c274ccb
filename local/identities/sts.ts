/**
 * The local stand-in for STS: credentials that name a role session. On AWS a worker pod gets credentials for
 * its IRSA role, a Lambda function for its execution role, the KEDA operator for its own role (and the roles
 * it assumes); here each gets an access key id of its own, registered with the strict layer as a session of
 * that role, with the role's identity policies. The layer's `iam` rule then judges every request it signs.
 *
 * Identity, not authentication: the secret is never checked (DynamoDB Local accepts any signature). In front
 * of a bare DynamoDB Local (no strict layer) there is nothing to register with: `UncheckedSts` hands out the
 * dummy credentials the local mode always used, and nothing is checked.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { assumedRoleArn, type NamedPolicy } from '../../core/iam/iam-evaluation.js';
import {
  deleteIamRole,
  fetchAwsRules,
  registerIamCredentials,
  registerIamRole,
} from '../aws-rules/control.js';

export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`; empty for unchecked credentials. */
  readonly principalArn: string;
}

/** A role as the local runtime deploys it: `id` is unique to the registrant (several may share a layer). */
export interface LocalRole {
  readonly id: string;
  readonly arn: string;
  readonly policies: readonly NamedPolicy[];
}

export interface LocalSts {
  /** True when credentials are registered with a strict layer, whose `iam` rule can judge them. */
  readonly checked: boolean;
  /** Registers (or replaces) a role and its policies. */
  putRole(role: LocalRole): Promise<void>;
  /** The role is gone: its sessions are denied everything from now on, as on AWS. */
  deleteRole(id: string): Promise<void>;
  /** Fresh credentials for a session of a role put before. */
  credentialsFor(role: LocalRole, sessionName: string): Promise<SessionCredentials>;
}

/** The credentials the local mode uses where nothing checks them. */
export const UNCHECKED_CREDENTIALS: SessionCredentials = Object.freeze({
  accessKeyId: 'local',
  secretAccessKey: 'local',
  principalArn: '',
});

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `ASIA` + 16 characters: the shape of an access key id STS issues for a role session. */
export function sessionAccessKeyId(): string {
  const bytes = randomBytes(16);
  let id = 'ASIA';
  for (const byte of bytes) id += BASE32[byte % 32];
  return id;
}

/** A session name STS accepts (2-64 of letters, digits and `=,.@_-`), from any text. */
export function sessionNameOf(text: string): string {
  const cleaned = text.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
  return cleaned.length >= 2 ? cleaned : `${cleaned}--`.slice(0, 2);
}

/** Registers roles and sessions with the strict layer at `endpoint` over its control API. */
export class LayerSts implements LocalSts {
  readonly checked = true;

  constructor(readonly endpoint: string) {}

  async putRole(role: LocalRole): Promise<void> {
    await registerIamRole(this.endpoint, role.id, { arn: role.arn, policies: role.policies });
  }

  async deleteRole(id: string): Promise<void> {
    try {
      await deleteIamRole(this.endpoint, id);
    } catch {
      // Never registered, or already gone: the outcome is the same.
    }
  }

  async credentialsFor(role: LocalRole, sessionName: string): Promise<SessionCredentials> {
    const accessKeyId = sessionAccessKeyId();
    const session = sessionNameOf(sessionName);
    await registerIamCredentials(this.endpoint, accessKeyId, { roleId: role.id, sessionName: session });
    return {
      accessKeyId,
      secretAccessKey: randomBytes(20).toString('base64'),
      principalArn: assumedRoleArn(role.arn, session),
    };
  }
}

/** No strict layer in front: the dummy credentials, unchecked. */
export class UncheckedSts implements LocalSts {
  readonly checked = false;
  async putRole(): Promise<void> {}
  async deleteRole(): Promise<void> {}
  async credentialsFor(): Promise<SessionCredentials> {
    return UNCHECKED_CREDENTIALS;
  }
}

const byEndpoint = new Map<string, Promise<LocalSts>>();

/**
 * The STS for clients of `endpoint`: a `LayerSts` when a strict layer answers its control API there, else an
 * `UncheckedSts`. Asked once per endpoint and process: a process that closes its layer and starts another on
 * the same port would keep roles and sessions registered with the first (their calls would pass unchecked),
 * which no runtime here does — each runs one layer for its life.
 */
export function localStsAt(endpoint: string | undefined): Promise<LocalSts> {
  if (endpoint === undefined) return Promise.resolve(new UncheckedSts());
  let sts = byEndpoint.get(endpoint);
  if (!sts) {
    sts = fetchAwsRules(endpoint).then(
      (): LocalSts => new LayerSts(endpoint),
      (): LocalSts => new UncheckedSts(),
    );
    byEndpoint.set(endpoint, sts);
  }
  return sts;
}

/** A prefix that keeps one registrant's role ids apart from every other's on a shared layer. */
export function registrationRealm(): string {
  return randomUUID().slice(0, 12);
}
