/**
 * Who a control-plane handler is when the local runtime invokes it: a session of the execution role its
 * function has in the stack the CDK app deploys for the invocation's fleet (control-plane-roles.ts), named
 * like Lambda names it (`streamfleet-<function>`). Each role is registered with the strict layer once per
 * process; each (role, function) gets one session.
 *
 * An input whose `fleet` is not a valid fleet belongs to no stack: the handler runs as a role with no
 * policies. Handlers parse their input before any AWS call, so such a run is refused nothing unless a handler
 * calls AWS before checking its input — which is exactly what should fail.
 */
import { createHash } from 'node:crypto';
import type { ControlPlaneFunction } from '../../core/workflows.js';
import { type ControlPlaneRoles, controlPlaneRoles } from './control-plane-roles.js';
import { type LocalRole, type LocalSts, registrationRealm, type SessionCredentials } from './sts.js';

/** The role of a function whose input names no valid fleet. */
export const NO_FLEET_ROLE_ARN = 'arn:aws:iam::000000000000:role/streamfleet-no-fleet';

export class HandlerIdentities {
  private readonly realm = registrationRealm();
  private readonly roles = new Map<string, Promise<LocalRole>>();
  private readonly sessions = new Map<string, Promise<SessionCredentials>>();

  constructor(readonly sts: LocalSts) {}

  /** Credentials for one invocation of `fn` with `event`. */
  async credentialsFor(fn: ControlPlaneFunction, event: unknown): Promise<SessionCredentials> {
    const fleetInput = (event as { fleet?: unknown } | null)?.fleet;
    let deployed: ControlPlaneRoles | undefined;
    try {
      deployed =
        fleetInput !== null && typeof fleetInput === 'object'
          ? await controlPlaneRoles(fleetInput as Record<string, unknown>)
          : undefined;
    } catch {
      deployed = undefined; // not a fleet: no stack, no grants
    }
    const role = deployed?.[fn];
    const fleetKey = createHash('sha256')
      .update(JSON.stringify(fleetInput ?? null))
      .digest('hex')
      .slice(0, 12);
    const local: LocalRole = role
      ? { id: `${this.realm}:${fleetKey}:${role.logicalId}`, arn: role.arn, policies: role.policies }
      : { id: `${this.realm}:no-fleet`, arn: NO_FLEET_ROLE_ARN, policies: [] };
    const sessionKey = `${local.id}|${fn}`;
    let session = this.sessions.get(sessionKey);
    if (!session) {
      session = this.register(local).then(() => this.sts.credentialsFor(local, `streamfleet-${fn}`));
      this.sessions.set(sessionKey, session);
      session.catch(() => this.sessions.delete(sessionKey));
    }
    return session;
  }

  private register(role: LocalRole): Promise<LocalRole> {
    let done = this.roles.get(role.id);
    if (!done) {
      done = this.sts.putRole(role).then(() => role);
      this.roles.set(role.id, done);
      done.catch(() => this.roles.delete(role.id));
    }
    return done;
  }
}

const byEndpoint = new Map<string, HandlerIdentities>();

/** One `HandlerIdentities` per STS endpoint and process. */
export function handlerIdentitiesFor(sts: LocalSts & { endpoint?: string }): HandlerIdentities {
  const key = sts.endpoint ?? '(unchecked)';
  let identities = byEndpoint.get(key);
  if (!identities || identities.sts !== sts) {
    identities = new HandlerIdentities(sts);
    byEndpoint.set(key, identities);
  }
  return identities;
}
