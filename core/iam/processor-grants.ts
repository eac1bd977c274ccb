/**
 * A fleet that runs its own record processor (`fleet.processor`): which module the worker loads, and the IAM
 * statements its own resources need (a view table, a queue). The statements join the consumer's IRSA policy,
 * so they are held to the same rule as the rest of it: named actions on exact ARNs of the fleet's own account
 * and region — no `*` in an action or a resource, no Deny (a missing grant is the least privilege), no
 * NotAction/NotResource/Condition (the consumer's policy uses none, and the strict layer's proof would not
 * check them). Pure.
 */
import { parseStreamArn } from '../vocabulary/arns.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import { describeValue } from '../vocabulary/validation.js';
import type { PolicyStatement } from './iam-policies.js';

export interface FleetProcessor {
  /** PROCESSOR_MODULE in the worker's container: a path in the image, or a package installed there. */
  module: string;
  /** Allow statements for the processor's own resources, added to the consumer's policy. */
  grants: PolicyStatement[];
}

const ACTION = /^[a-z0-9-]+:[A-Za-z0-9]+$/;
const SID = /^[A-Za-z0-9]{1,100}$/;
const ARN = /^arn:(aws|aws-cn|aws-us-gov):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|):(.+)$/;

/** Where the fleet lives: every processor ARN must be in this account and region (or regionless, like IAM). */
export interface GrantScope {
  accountId: string;
  region: string;
}

function requireStrings(field: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string')) {
    throw new InvalidInputError(field, `expected a non-empty list of strings, got ${describeValue(value)}`);
  }
  return value as string[];
}

/** Checks one statement of `fleet.processor.grants` and returns it as the policy will hold it. */
export function requireGrant(field: string, value: unknown, scope: GrantScope | undefined): PolicyStatement {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError(field, `expected a policy statement object, got ${describeValue(value)}`);
  const statement = value as Record<string, unknown>;
  const allowed = ['Sid', 'Effect', 'Action', 'Resource'];
  for (const key of Object.keys(statement)) {
    if (!allowed.includes(key)) {
      throw new InvalidInputError(
        `${field}.${key}`,
        `is not allowed in a processor grant: give Sid, Effect "Allow", Action and Resource only (exact actions on exact ARNs)`,
      );
    }
  }
  if (statement.Effect !== 'Allow')
    throw new InvalidInputError(
      `${field}.Effect`,
      `expected "Allow", got ${describeValue(statement.Effect)}`,
    );
  const sid = statement.Sid;
  if (typeof sid !== 'string' || !SID.test(sid))
    throw new InvalidInputError(
      `${field}.Sid`,
      `expected 1-100 letters and digits, got ${describeValue(sid)}`,
    );
  const actions = requireStrings(`${field}.Action`, statement.Action);
  for (const [i, action] of actions.entries()) {
    if (!ACTION.test(action)) {
      throw new InvalidInputError(
        `${field}.Action[${i}]`,
        `expected one named action such as dynamodb:PutItem (no wildcards), got ${describeValue(action)}`,
      );
    }
  }
  const resources = requireStrings(`${field}.Resource`, statement.Resource);
  for (const [i, resource] of resources.entries()) {
    const m = ARN.exec(resource);
    if (!m || resource.includes('*')) {
      throw new InvalidInputError(
        `${field}.Resource[${i}]`,
        `expected the exact ARN of a resource the processor uses (no wildcards), got ${describeValue(resource)}`,
      );
    }
    const [, , , region, account] = m;
    if (
      scope &&
      ((region !== '' && region !== scope.region) || (account !== '' && account !== scope.accountId))
    ) {
      throw new InvalidInputError(
        `${field}.Resource[${i}]`,
        `must be in the fleet's account ${scope.accountId} and region ${scope.region}, got ${resource}`,
      );
    }
  }
  return { Sid: sid, Effect: 'Allow', Action: actions, Resource: resources };
}

/** Parses `fleet.processor`; the grants' ARNs are scoped once the stream (so the account and region) is known. */
export function parseFleetProcessor(field: string, value: unknown): FleetProcessor {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidInputError(
      field,
      `expected an object such as { "module": "/app/processor/index.js" }, got ${describeValue(value)}`,
    );
  const input = value as Record<string, unknown>;
  const module = input.module;
  if (typeof module !== 'string' || module.trim() === '')
    throw new InvalidInputError(
      `${field}.module`,
      `expected the PROCESSOR_MODULE path or package, got ${describeValue(module)}`,
    );
  const grantsInput = input.grants ?? [];
  if (!Array.isArray(grantsInput))
    throw new InvalidInputError(
      `${field}.grants`,
      `expected a list of policy statements, got ${describeValue(grantsInput)}`,
    );
  const grants = grantsInput.map((g, i) => requireGrant(`${field}.grants[${i}]`, g, undefined));
  const sids = new Set<string>();
  for (const [i, grant] of grants.entries()) {
    if (sids.has(grant.Sid))
      throw new InvalidInputError(`${field}.grants[${i}].Sid`, `"${grant.Sid}" is used twice`);
    sids.add(grant.Sid);
  }
  return { module: module.trim(), grants };
}

/** The fleet's account and region, from its stream's ARN. */
export function streamScope(streamArn: string): GrantScope {
  const { accountId, region } = parseStreamArn(streamArn);
  return { accountId, region };
}

/** The grants, checked against the fleet's account and region, with Sids that cannot clash with ours. */
export function scopedProcessorGrants(processor: FleetProcessor, scope: GrantScope): PolicyStatement[] {
  return processor.grants.map((grant, i) => ({
    ...requireGrant(`fleet.processor.grants[${i}]`, grant, scope),
    Sid: `Processor${grant.Sid}`,
  }));
}
