/**
 * Used against granted, per principal: every authorization a principal was allowed (and refused) through
 * the strict layer, next to every grant of its policies (each action × resource of an Allow statement).
 * Pure: the layer's counters and the principals' policies in, the report out.
 *
 * - used but not granted: what the layer refused (a refusal is a use the policy does not cover);
 * - granted but never used: a grant no allowed use matched — each either explained (a reason written down
 *   for it, e.g. a call made only on a path the run cannot reach) or not;
 * - not observable here: grants of services nothing local counts (only DynamoDB and DynamoDB Streams go
 *   through the layer; the local KEDA counts its sts:AssumeRole), each with the reason the local mode cannot
 *   see it.
 */
import {
  actionMatches,
  type IamStatement,
  listOf,
  type NamedPolicy,
  resourceMatches,
  statementsOf,
} from '../../core/iam/iam-evaluation.js';

export interface PrincipalGrants {
  /** What the principal is, for people: "consumer (IRSA, every worker pod)". */
  readonly label: string;
  readonly roleArn: string;
  readonly policies: readonly NamedPolicy[];
  /** Calls the principal makes only in some runs, with the written reason (from core/iam-needs.ts). */
  readonly unusedReasons?: readonly {
    readonly action: string;
    readonly resource: string;
    readonly reason: string;
  }[];
}

/** One action pattern on one resource pattern of an Allow statement. */
export interface Grant {
  readonly action: string;
  readonly resource: string;
  /** `policy name/Sid` (or the statement's index when it has no Sid). */
  readonly statement: string;
}

export interface Use {
  readonly action: string;
  readonly resource: string;
  readonly count: number;
}

export interface PrincipalUsage {
  readonly label: string;
  readonly roleArn: string;
  readonly used: readonly Use[];
  readonly usedNotGranted: readonly Use[];
  readonly granted: readonly Grant[];
  /** Observable grants no use matched, with the reason when one is written down. */
  readonly grantedNotUsed: readonly (Grant & { readonly reason?: string })[];
  readonly notObservable: readonly (Grant & { readonly reason: string })[];
}

/** Calls the strict layer's `iam` rule refused, as its counters keep them. */
export interface RefusedCalls {
  readonly total: number;
  readonly recent: readonly { readonly message: string }[];
}

export class IamRefusalError extends Error {
  override readonly name = 'IamRefusalError';
}

/**
 * Throws when IAM refused any call, with AWS's words for each (who, which action, on which resource), so a
 * failing run says which grant is missing from which policy.
 */
export function assertNoRefusals(refused: RefusedCalls): void {
  if (refused.total === 0) return;
  throw new IamRefusalError(
    `IAM refused ${refused.total} call(s); add the grant to the policy of the role named, or stop making the call:\n` +
      refused.recent.map((r) => `- ${r.message}`).join('\n'),
  );
}

/** Counts by role ARN → action → resource, as the layer keeps them (`iam.allowed`, `refused.iam.byPrincipal`). */
export type CountsByPrincipal = Readonly<
  Record<string, Readonly<Record<string, Readonly<Record<string, number>>>>>
>;

/** Why the local layer cannot see a service's calls. */
export const NOT_OBSERVABLE_LOCALLY: Readonly<Record<string, string>> = {
  iam: 'IAM is the in-memory LocalIam locally; on AWS, AwsIam makes these calls for wire-irsa and teardown',
  logs: 'Lambda writes the functions’ logs; the local runtime has no CloudWatch Logs',
  xray: 'Lambda sends the functions’ traces (active tracing); there is no local X-Ray',
  cloudwatch: 'CloudWatch is the in-memory metrics stand-in locally',
  sns: 'the alerts topic is an in-memory stand-in locally',
  kms: 'SNS uses the topic’s key when it publishes; there is no local KMS',
  eks: 'the local cluster is found by name, not through eks:DescribeCluster',
};

/**
 * Services whose calls are counted: DynamoDB and DynamoDB Streams by the strict layer, STS's AssumeRole by
 * the local KEDA, which plays STS for itself (LocalCluster.stsUsage(), merged in by the caller).
 */
const OBSERVABLE_SERVICES = new Set(['dynamodb', 'sts']);

function serviceOf(action: string): string {
  return action.split(':', 1)[0]?.toLowerCase() ?? '';
}

/** Every action × resource of the Allow statements (Not* elements and Deny statements grant nothing). */
export function grantsOf(policies: readonly NamedPolicy[]): Grant[] {
  const grants: Grant[] = [];
  for (const policy of policies) {
    statementsOf(policy.document).forEach((statement: IamStatement, index) => {
      if (
        statement.Effect !== 'Allow' ||
        statement.NotAction !== undefined ||
        statement.NotResource !== undefined
      )
        return;
      const name = `${policy.name}/${statement.Sid ?? `#${index}`}`;
      for (const action of listOf(statement.Action)) {
        for (const resource of listOf(statement.Resource)) grants.push({ action, resource, statement: name });
      }
    });
  }
  return grants;
}

function usesOf(counts: CountsByPrincipal, roleArn: string): Use[] {
  const uses: Use[] = [];
  for (const [action, byResource] of Object.entries(counts[roleArn] ?? {})) {
    for (const [resource, count] of Object.entries(byResource)) uses.push({ action, resource, count });
  }
  return uses.sort((a, b) => a.action.localeCompare(b.action) || a.resource.localeCompare(b.resource));
}

/** Adds counters of several runs or windows of the layer together. */
export function mergeCounts(...all: readonly CountsByPrincipal[]): CountsByPrincipal {
  const merged: Record<string, Record<string, Record<string, number>>> = {};
  for (const counts of all) {
    for (const [principal, byAction] of Object.entries(counts)) {
      const p = merged[principal] ?? {};
      merged[principal] = p;
      for (const [action, byResource] of Object.entries(byAction)) {
        const a = p[action] ?? {};
        p[action] = a;
        for (const [resource, count] of Object.entries(byResource)) a[resource] = (a[resource] ?? 0) + count;
      }
    }
  }
  return merged;
}

export function usageReport(input: {
  principals: readonly PrincipalGrants[];
  allowed: CountsByPrincipal;
  refused: CountsByPrincipal;
  /** The reason a grant may go unused in this run; by default the principal's `unusedReasons`. */
  explain?: (principal: PrincipalGrants, grant: Grant) => string | undefined;
}): PrincipalUsage[] {
  const explain = input.explain ?? writtenReason;
  return input.principals.map((principal) => {
    const used = usesOf(input.allowed, principal.roleArn);
    const granted = grantsOf(principal.policies);
    const observable = granted.filter((g) => OBSERVABLE_SERVICES.has(serviceOf(g.action)));
    const grantedNotUsed = observable
      .filter(
        (g) =>
          !used.some((u) => actionMatches(g.action, u.action) && resourceMatches(g.resource, u.resource)),
      )
      .map((g) => {
        const reason = explain(principal, g);
        return reason === undefined ? g : { ...g, reason };
      });
    const notObservable = granted
      .filter((g) => !OBSERVABLE_SERVICES.has(serviceOf(g.action)))
      .map((g) => ({
        ...g,
        reason:
          NOT_OBSERVABLE_LOCALLY[serviceOf(g.action)] ?? 'not a DynamoDB call: the layer does not see it',
      }));
    return {
      label: principal.label,
      roleArn: principal.roleArn,
      used,
      usedNotGranted: usesOf(input.refused, principal.roleArn),
      granted,
      grantedNotUsed,
      notObservable,
    };
  });
}

/** The principal's written reason for a grant: one whose action and resource the grant covers. */
export function writtenReason(principal: PrincipalGrants, grant: Grant): string | undefined {
  return principal.unusedReasons?.find(
    (r) => actionMatches(grant.action, r.action) && resourceMatches(grant.resource, r.resource),
  )?.reason;
}

/** The figures per principal: used but not granted, and granted but never used without a written reason. */
export function usageFigures(report: readonly PrincipalUsage[]): {
  label: string;
  used: number;
  usedNotGranted: number;
  grantedNotUsed: number;
  explained: number;
  notObservable: number;
}[] {
  return report.map((p) => ({
    label: p.label,
    used: p.used.length,
    usedNotGranted: p.usedNotGranted.length,
    grantedNotUsed: p.grantedNotUsed.filter((g) => g.reason === undefined).length,
    explained: p.grantedNotUsed.filter((g) => g.reason !== undefined).length,
    notObservable: p.notObservable.length,
  }));
}

/** The report as Markdown, one section per principal. */
export function renderUsageReport(report: readonly PrincipalUsage[]): string {
  const lines: string[] = [];
  const figures = usageFigures(report);
  lines.push(
    '| principal | used (action × resource) | used, not granted | granted, never used | … with a written reason | not observable locally |',
  );
  lines.push('|---|---|---|---|---|---|');
  for (const f of figures) {
    lines.push(
      `| ${f.label} | ${f.used} | ${f.usedNotGranted} | ${f.grantedNotUsed} | ${f.explained} | ${f.notObservable} |`,
    );
  }
  for (const p of report) {
    lines.push('', `### ${p.label}`, '', `\`${p.roleArn}\``, '');
    lines.push('| | action | resource | |', '|---|---|---|---|');
    for (const u of p.used) lines.push(`| used | ${u.action} | ${u.resource} | ${u.count} calls |`);
    for (const u of p.usedNotGranted)
      lines.push(`| **used, not granted** | ${u.action} | ${u.resource} | ${u.count} refused |`);
    for (const g of p.grantedNotUsed) {
      lines.push(
        `| ${g.reason ? 'granted, unused' : '**granted, never used**'} | ${g.action} | ${g.resource} | ${g.reason ?? g.statement} |`,
      );
    }
    for (const g of p.notObservable)
      lines.push(`| not observable | ${g.action} | ${g.resource} | ${g.reason} |`);
  }
  return `${lines.join('\n')}\n`;
}
