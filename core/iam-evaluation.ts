/**
 * IAM policy evaluation for identity-based policies, as the IAM User Guide's "Policy evaluation logic"
 * describes it for one account: an explicit Deny in any statement that applies wins; otherwise an Allow
 * that applies allows; otherwise the request is implicitly denied. Pure: no I/O, no clock.
 *
 * Evaluated: `Effect` Allow/Deny; `Action` and `NotAction` (case-insensitive, `*` and `?` wildcards);
 * `Resource` and `NotResource` (case-sensitive, `*` and `?` wildcards, which may cross `/` and `:`);
 * `Action`/`Resource` given as one string or a list (CDK writes both); any number of policies.
 *
 * Not evaluated, and how that fails: `Condition` blocks are not read, so a statement with one fails
 * closed — an Allow with a Condition never allows, a Deny with a Condition always denies (the project
 * only puts conditions on actions the local layer never sees: CloudWatch's namespace, IAM's request tags).
 * Policy variables (`${aws:username}`) are matched literally. Resource-based policies, permissions
 * boundaries, session policies and SCPs are not modelled: only the role's own identity policies count.
 *
 * Trust policies (who may assume a role) are evaluated by {@link trustAllows} for `Principal.AWS` only.
 */

/** A statement as IAM accepts it. The project's own `PolicyStatement` (core/iam-policies.ts) is one. */
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

/** What IAM authorises: one action on one resource ARN (`*` for actions without resource-level permissions). */
export interface Authorization {
  readonly action: string;
  readonly resource: string;
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
  | { readonly decision: typeof Decision.ImplicitDeny };

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

/** Whether a statement's Action/NotAction and Resource/NotResource cover the request (Condition aside). */
export function statementApplies(statement: IamStatement, request: Authorization): boolean {
  const action =
    statement.NotAction !== undefined
      ? !listOf(statement.NotAction).some((p) => actionMatches(p, request.action))
      : listOf(statement.Action).some((p) => actionMatches(p, request.action));
  if (!action) return false;
  return statement.NotResource !== undefined
    ? !listOf(statement.NotResource).some((p) => resourceMatches(p, request.resource))
    : listOf(statement.Resource).some((p) => resourceMatches(p, request.resource));
}

function hasCondition(statement: IamStatement): boolean {
  return (
    statement.Condition !== undefined &&
    statement.Condition !== null &&
    Object.keys(statement.Condition as object).length > 0
  );
}

/** The decision IAM makes for `request` from a principal's identity policies. */
export function evaluatePolicies(policies: readonly NamedPolicy[], request: Authorization): Evaluation {
  let allow: StatementRef | undefined;
  for (const policy of policies) {
    const statements = statementsOf(policy.document);
    for (let index = 0; index < statements.length; index++) {
      const statement = statements[index] as IamStatement;
      if (!statementApplies(statement, request)) continue;
      const ref: StatementRef = {
        policy: policy.name,
        index,
        ...(statement.Sid === undefined || statement.Sid === '' ? {} : { sid: statement.Sid }),
      };
      // A Condition is not evaluated: a Deny with one still denies, an Allow with one does not allow.
      if (statement.Effect === 'Deny') return { decision: Decision.ExplicitDeny, statement: ref };
      if (statement.Effect === 'Allow' && !hasCondition(statement)) allow ??= ref;
    }
  }
  return allow ? { decision: Decision.Allow, statement: allow } : { decision: Decision.ImplicitDeny };
}

/** Whether every authorization of a request is allowed (IAM checks batch and transaction items one by one). */
export function evaluateAll(
  policies: readonly NamedPolicy[],
  requests: readonly Authorization[],
): { readonly request: Authorization; readonly evaluation: Evaluation }[] {
  return requests.map((request) => ({ request, evaluation: evaluatePolicies(policies, request) }));
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
 * no Deny that does. Conditions fail closed as in {@link evaluatePolicies}.
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
    if (!hasCondition(statement)) allowed = true;
  }
  return allowed;
}
