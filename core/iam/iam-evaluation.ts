/**
 * IAM policy evaluation for identity-based policies, by @cloud-copilot/iam-simulate: the IAM User Guide's
 * "Policy evaluation logic" for one account (an explicit Deny in any statement that applies wins; otherwise
 * an Allow that applies allows; otherwise the request is implicitly denied), with every condition operator
 * (`StringEquals`, `ForAllValues:…`, `…IfExists`, `Null`, dates, numbers, ARNs, IPs), policy variables,
 * `Action`/`NotAction`, `Resource`/`NotResource`, and the Service Authorization Reference's resource types
 * (an action on a resource that is not one of its types, or an action AWS does not have, is never allowed).
 * Only local/ and tests import this module (the library is a devDependency; no bundle carries it:
 * test/infra/bundles.test.ts).
 *
 * Decided here, around the library:
 * - **Condition keys the request does not carry fail closed**: an Allow whose Condition names a key absent
 *   from `Authorization.context` never allows, a Deny whose Condition names one denies as if it had no
 *   Condition. A key the caller cannot know is not taken as a key AWS would leave out.
 * - **A request for `*`** (an action AWS authorises on no resource) is allowed only through a `Resource`
 *   that matches `*` itself; the library would read it as "any resource" for actions with optional types.
 * - **Decisions are cached** per policies array (by identity: a changed policy comes as a new array, as the
 *   strict layer's registry and the local IAM make them) and per action, resource and context: the library
 *   takes about 1 ms a call, where the strict layer judges every request of every worker.
 * - Trust policies ({@link trustAllows}), AWS's wording of a refusal and assumed-role ARNs are small local code.
 *
 * Not modelled: resource-based policies (table policies), permissions boundaries, session policies and SCPs:
 * only the role's own identity policies count.
 */
import { runSimulation, type SimulationIdentityPolicy } from '@cloud-copilot/iam-simulate';
import { InvalidInputError } from '../vocabulary/errors.js';

/** A statement as IAM accepts it. The project's own `PolicyStatement` (core/iam/iam-policies.ts) is one. */
export interface IamStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Principal?: unknown;
  readonly Condition?: unknown;
}

export interface IamPolicy {
  readonly Version?: string;
  readonly Statement: IamStatement | readonly IamStatement[];
}

/** One identity policy of a principal, with the name it is attached under (for messages and reports). */
export interface NamedPolicy {
  readonly name: string;
  readonly document: IamPolicy;
}

/** A request's condition keys (`aws:RequestedRegion`), a multivalued one (`dynamodb:LeadingKeys`) as a list. */
export type RequestContext = Readonly<Record<string, string | readonly string[]>>;

/** What IAM authorises: one action on one resource ARN (`*` for actions without resource-level permissions). */
export interface Authorization {
  readonly action: string;
  readonly resource: string;
  /** The condition keys the request carries; a condition on any other key fails closed. */
  readonly context?: RequestContext;
}

export const Decision = {
  Allow: 'allow',
  ExplicitDeny: 'explicit-deny',
  ImplicitDeny: 'implicit-deny',
} as const;
export type Decision = (typeof Decision)[keyof typeof Decision];

/** Which statement decided: the policy's name and the statement's index (and Sid, when it has one). */
export interface StatementRef {
  readonly policy: string;
  readonly index: number;
  readonly sid?: string;
}

export type Evaluation =
  | { readonly decision: typeof Decision.Allow; readonly statement: StatementRef }
  | { readonly decision: typeof Decision.ExplicitDeny; readonly statement: StatementRef }
  /** `unknown`: the action, or the action on this resource, is not in the Service Authorization Reference. */
  | { readonly decision: typeof Decision.ImplicitDeny; readonly unknown?: string };

/** The one-or-many fields of a statement as a list. */
export function listOf(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

export function statementsOf(policy: IamPolicy): readonly IamStatement[] {
  return Array.isArray(policy.Statement)
    ? (policy.Statement as readonly IamStatement[])
    : [policy.Statement as IamStatement];
}

const patterns = new Map<string, RegExp>();

/** IAM's wildcard match: `*` any run of characters (`/` and `:` included), `?` any one character. */
export function wildcardMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) {
    return ignoreCase ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = patterns.get(key);
  if (!regex) {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    regex = new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
    patterns.set(key, regex);
  }
  return regex.test(value);
}

export function actionMatches(pattern: string, action: string): boolean {
  return wildcardMatch(pattern, action, true);
}

export function resourceMatches(pattern: string, resource: string): boolean {
  return wildcardMatch(pattern, resource, false);
}

/** The condition keys a statement's Condition names, lower-cased (IAM compares keys case-insensitively). */
function conditionKeys(statement: IamStatement): string[] {
  const condition = statement.Condition;
  if (typeof condition !== 'object' || condition === null) return [];
  return Object.values(condition as Record<string, unknown>).flatMap((keys) =>
    typeof keys === 'object' && keys !== null ? Object.keys(keys).map((k) => k.toLowerCase()) : [],
  );
}

/** A statement as the library is given it for `request`, or undefined when it cannot apply to it. */
function asJudged(
  statement: IamStatement,
  request: Authorization,
  carried: Set<string>,
): IamStatement | undefined {
  // A statement whose Action does not name the request's never applies: the library need not read it.
  if (
    statement.Action !== undefined &&
    !listOf(statement.Action).some((p) => actionMatches(p, request.action))
  ) {
    return undefined;
  }
  if (conditionKeys(statement).some((key) => !carried.has(key))) {
    const { Condition: _unjudgeable, ...unconditioned } = statement;
    return statement.Effect === 'Deny' ? unconditioned : undefined;
  }
  if (request.resource === '*' && statement.Effect === 'Allow' && statement.Resource !== undefined) {
    const star = listOf(statement.Resource).filter((pattern) => resourceMatches(pattern, '*'));
    return star.length === 0 ? undefined : { ...statement, Resource: star };
  }
  return statement;
}

/** The policies as the library is given them, named by position, and where each statement came from. */
function judged(
  policies: readonly NamedPolicy[],
  request: Authorization,
): { simulated: SimulationIdentityPolicy[]; places: StatementRef[][] } {
  const carried = new Set(Object.keys(request.context ?? {}).map((k) => k.toLowerCase()));
  const simulated: SimulationIdentityPolicy[] = [];
  const places = policies.map((policy, p) => {
    const kept: IamStatement[] = [];
    const refs: StatementRef[] = [];
    statementsOf(policy.document).forEach((statement, index) => {
      const judgedStatement = asJudged(statement, request, carried);
      if (!judgedStatement) return;
      kept.push(judgedStatement);
      refs.push({ policy: policy.name, index, ...(statement.Sid ? { sid: statement.Sid } : {}) });
    });
    if (kept.length > 0) simulated.push({ name: String(p), policy: { ...policy.document, Statement: kept } });
    return refs;
  });
  return { simulated, places };
}

/** The library's statement (policy named by position, index from 1) as the caller's. */
function placeOf(
  analysis: { readonly policyId: string; readonly statement: { index(): number } } | undefined,
  places: StatementRef[][],
): StatementRef {
  const ref = analysis && places[Number(analysis.policyId)]?.[analysis.statement.index() - 1];
  if (!ref) throw new Error('iam-simulate named a statement it was not given');
  return ref;
}

async function simulate(policies: readonly NamedPolicy[], request: Authorization): Promise<Evaluation> {
  const { simulated, places } = judged(policies, request);
  if (simulated.length === 0) return { decision: Decision.ImplicitDeny };
  // Every statement is judged as the principal's own account's: the identity policies decide alone.
  const [, partition = 'aws', , , resourceAccount = ''] = request.resource.split(':');
  const accountId = /^\d{12}$/.test(resourceAccount) ? resourceAccount : '000000000000';
  const response = await runSimulation(
    {
      request: {
        principal: `arn:${partition}:sts::${accountId}:assumed-role/evaluated/session`,
        action: request.action,
        resource: { resource: request.resource, accountId },
        contextVariables: { ...(request.context as Record<string, string | string[]>) },
      },
      identityPolicies: simulated,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    { simulationMode: 'Strict' },
  );
  if (response.resultType === 'error') {
    const invalid = Object.entries(response.errors.identityPolicyErrors ?? {});
    if (invalid.length === 0) return { decision: Decision.ImplicitDeny, unknown: response.errors.message };
    const [position, errors] = invalid[0] as [string, { message: string; path: string }[]];
    const name = policies[Number(position)]?.name ?? position;
    throw new InvalidInputError(
      `policy ${name}`,
      `IAM would refuse it: ${errors.map((e) => `${e.message} at ${e.path}`).join('; ')}. Fix the policy document.`,
    );
  }
  const results = response.resultType === 'single' ? [response.result] : response.results;
  const decisive = results.find((r) => r.analysis.result === response.overallResult)?.analysis
    .identityAnalysis;
  if (response.overallResult === 'ExplicitlyDenied') {
    return { decision: Decision.ExplicitDeny, statement: placeOf(decisive?.denyStatements[0], places) };
  }
  if (response.overallResult === 'Allowed') {
    return { decision: Decision.Allow, statement: placeOf(decisive?.allowStatements[0], places) };
  }
  return { decision: Decision.ImplicitDeny };
}

/** Decisions per policies array, then per request; a set of policies past the cap starts afresh. */
const decisions = new WeakMap<readonly NamedPolicy[], Map<string, Promise<Evaluation>>>();
const DECISIONS_PER_POLICIES = 10_000;

function requestKey(request: Authorization): string {
  const context = request.context ? JSON.stringify(Object.entries(request.context).sort()) : '';
  return `${request.action}\n${request.resource}\n${context}`;
}

/** The decision IAM makes for `request` from a principal's identity policies. */
export function evaluatePolicies(
  policies: readonly NamedPolicy[],
  request: Authorization,
): Promise<Evaluation> {
  let cache = decisions.get(policies);
  if (!cache || cache.size >= DECISIONS_PER_POLICIES) {
    cache = new Map();
    decisions.set(policies, cache);
  }
  const key = requestKey(request);
  let decision = cache.get(key);
  if (!decision) {
    const own = cache;
    decision = simulate(policies, request);
    decision.catch(() => own.delete(key));
    cache.set(key, decision);
  }
  return decision;
}

/** `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`, the caller IAM names for a role session. */
export function assumedRoleArn(roleArn: string, sessionName: string): string {
  const match = /^arn:([^:]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
  if (!match) throw new RangeError(`expected an IAM role ARN, got ${JSON.stringify(roleArn)}`);
  const [, partition, account, roleName] = match;
  return `arn:${partition}:sts::${account}:assumed-role/${roleName}/${sessionName}`;
}

/**
 * AWS's wording of a refusal, as DynamoDB sends it in `AccessDeniedException`:
 * "User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no identity-based policy
 * allows the ACTION action" (or "with an explicit deny in an identity-based policy").
 */
export function accessDeniedMessage(
  principalArn: string,
  request: Authorization,
  decision: Exclude<Decision, 'allow'>,
): string {
  const why =
    decision === Decision.ExplicitDeny
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${request.action} action`;
  return `User: ${principalArn} is not authorized to perform: ${request.action} on resource: ${request.resource} ${why}`;
}

/**
 * Whether a role's trust policy lets `principalArn` (a role ARN, or its assumed-role session ARN) call
 * `action` (sts:AssumeRole): an Allow whose `Principal.AWS` names it (or `*`, or the account root), and
 * no Deny that does. A statement with a Condition fails closed: such an Allow never allows, such a Deny denies.
 */
export function trustAllows(trust: IamPolicy, principalArn: string, action = 'sts:AssumeRole'): boolean {
  const account = /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(principalArn)?.[1];
  const names = (statement: IamStatement): boolean => {
    const principal = statement.Principal;
    if (principal === '*') return true;
    if (typeof principal !== 'object' || principal === null) return false;
    const aws = listOf((principal as { AWS?: string | readonly string[] }).AWS);
    return aws.some(
      (p) =>
        p === '*' ||
        p === principalArn ||
        (account !== undefined && (p === account || p === `arn:aws:iam::${account}:root`)),
    );
  };
  let allowed = false;
  for (const statement of statementsOf(trust)) {
    if (!listOf(statement.Action).some((p) => actionMatches(p, action)) || !names(statement)) continue;
    if (statement.Effect === 'Deny') return false;
    if (conditionKeys(statement).length === 0) allowed = true;
  }
  return allowed;
}
