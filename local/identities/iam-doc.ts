/**
 * docs/iam.md, generated: one table per principal of every grant its policy holds — action, resource (for
 * cdk.json's fleet in account 123456789012, us-east-1) and why, the why taken from what the code calls
 * (core/iam-needs.ts) or, for the functions' grants outside DynamoDB, from `OTHER_GRANTS` below. A grant
 * nobody wrote a reason for stops the generation, so the page cannot fall behind the policies.
 * test/infra/iam-doc.test.ts compares the page with this; `npm run iam-doc` writes it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FleetSpec, parseFleet } from '../../core/fleet.js';
import { actionMatches, type NamedPolicy, resourceMatches } from '../../core/iam-evaluation.js';
import {
  COMPARE_NEEDS,
  CONSUMER_NEEDS,
  CONTROL_PLANE_NEEDS,
  type FleetLocation,
  KEDA_OPERATOR_NEEDS,
  KEDA_SCALER_NEEDS,
  type Need,
  needResource,
} from '../../core/iam-needs.js';
import {
  consumerPolicy,
  kedaOperatorAssumePolicy,
  kedaOperatorPolicyName,
  kedaScalerPolicy,
  type PolicyDocument,
} from '../../core/iam-policies.js';
import { ScalingMode } from '../../core/keda.js';
import { ControlPlaneFunction } from '../../core/workflows.js';
import { controlPlaneRoles } from './control-plane-roles.js';
import { type Grant, grantsOf } from './usage-report.js';

const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const IAM_DOC_PATH = resolve(REPO_ROOT, 'docs/iam.md');

const WHERE = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' } as const;
const STREAM_LABEL = '2026-01-01T00:00:00.000';

/** Why the functions hold their grants outside DynamoDB: by statement Sid, else by service. */
const OTHER_GRANTS: Readonly<Record<string, string>> = {
  CreateIrsaRolesTagged:
    'wire-irsa creates the fleet’s roles and the cluster’s KEDA operator role, only with the tag managed-by=streamfleet (the condition)',
  ManageIrsaRoles:
    'wire-irsa brings the fleet’s two roles up to date; teardown deletes them with their policies',
  ShareKedaOperatorRole:
    'wire-irsa keeps the shared operator role’s trust up to date and puts this fleet’s assume policy on it; teardown deletes that policy, never the role',
  PublishFleetMetrics:
    'publish-metrics writes the fleet metrics; PutMetricData has no resource-level permissions, the namespace condition narrows it',
  PublishAlerts: 'handle-alarm publishes its diagnosis to the alerts topic',
  EncryptAlerts: 'SNS encrypts and decrypts the alerts topic’s messages with its customer managed key',
  DescribeCluster: 'the functions find the cluster’s endpoint and certificate to call the Kubernetes API',
  ClusterOidcProvider: 'wire-irsa registers the cluster’s OIDC issuer with IAM for IRSA',
  'logs:': 'Lambda writes each function’s logs into its own log group',
  'xray:': 'active tracing: Lambda sends each invocation’s trace (X-Ray has no resource-level permissions)',
};

export class IamDocError extends Error {
  override readonly name = 'IamDocError';
}

interface Section {
  readonly title: string;
  readonly who: string;
  readonly policies: readonly NamedPolicy[];
  readonly needs: readonly Need[];
  readonly where: FleetLocation;
  /** Rows shown with a condition: "only with …". */
  readonly onlyWith?: (need: Need) => string | undefined;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** The needs behind a grant, as "why — `code`" (with the condition, when the grant has one). */
function needsOf(section: Section, fleet: FleetSpec, grant: Grant): string | undefined {
  const needs = section.needs.filter(
    (need) =>
      actionMatches(grant.action, need.action) &&
      resourceMatches(grant.resource, needResource(need.on, fleet, section.where)),
  );
  if (needs.length === 0) return undefined;
  return needs
    .map((need) => {
      const only = section.onlyWith?.(need);
      return `${need.why}${only ? ` (${only})` : ''} — \`${need.code}\``;
    })
    .join('; ');
}

function otherReason(section: Section, grant: Grant): string {
  const sid = grant.statement.split('/').pop() ?? '';
  const service = `${grant.action.split(':', 1)[0]}:`;
  const other = OTHER_GRANTS[sid] ?? OTHER_GRANTS[service];
  if (other === undefined) {
    throw new IamDocError(
      `No reason is written for ${grant.action} on ${grant.resource} (${grant.statement}) in ${section.title}: add the call to core/iam-needs.ts, or the grant's reason to OTHER_GRANTS in local/identities/iam-doc.ts, or remove the grant.`,
    );
  }
  return other;
}

const code = (values: readonly string[]) => [...new Set(values)].map((v) => `\`${cell(v)}\``).join(' ');

/**
 * One row per grant a need explains (the code that calls it), one row per statement for the rest (their
 * actions and resources together, with the statement's reason).
 */
function sectionLines(section: Section, fleet: FleetSpec): string[] {
  const lines = [`### ${section.title}`, '', section.who, '', '| action | resource | why |', '|---|---|---|'];
  const others = new Map<string, Grant[]>();
  for (const grant of grantsOf(section.policies)) {
    const why = needsOf(section, fleet, grant);
    if (why !== undefined) {
      lines.push(`| ${code([grant.action])} | ${code([grant.resource])} | ${cell(why)} |`);
      continue;
    }
    const group = others.get(grant.statement) ?? [];
    group.push(grant);
    others.set(grant.statement, group);
  }
  for (const grants of others.values()) {
    const [first] = grants;
    if (!first) continue;
    lines.push(
      `| ${code(grants.map((g) => g.action))} | ${code(grants.map((g) => g.resource))} | ${cell(otherReason(section, first))} |`,
    );
  }
  return [...lines, ''];
}

const named = (name: string, document: PolicyDocument): NamedPolicy[] => [{ name, document }];

/** The page, from the policies the project deploys for cdk.json's fleet. */
export async function renderIamDoc(): Promise<string> {
  const cdkJson = JSON.parse(readFileSync(resolve(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: { fleet: Record<string, unknown> };
  };
  const deadLetterTable = 'users_dead_letters';
  const fleetInput = {
    clusterName: 'streamfleet',
    ...cdkJson.context.fleet,
    workerEnv: { POISON_RECORD_POLICY: 'dead-letter', DEAD_LETTER_TABLE_NAME: deadLetterTable },
  };
  const fleet = parseFleet(fleetInput);
  const tableArn = (name: string) => `arn:aws:dynamodb:${WHERE.region}:${WHERE.accountId}:table/${name}`;
  const streamArn = `${tableArn(fleet.sourceTableName)}/stream/${STREAM_LABEL}`;
  const roleArn = (name: string) => `arn:aws:iam::${WHERE.accountId}:role/${name}`;
  const roles = await controlPlaneRoles(fleetInput, WHERE);
  const deadLetterOnly = (need: Need) =>
    need.on === 'dead-letter table' ? 'only with POISON_RECORD_POLICY=dead-letter' : undefined;
  const sections: Section[] = [
    {
      title: `Consumer — role \`${fleet.roles.consumerRoleName}\` (IRSA)`,
      who: `Every worker pod, through its ServiceAccount \`${fleet.namespace}/${fleet.name}\`. Built by \`consumerPolicy\` in core/iam-policies.ts; wire-irsa puts it on the role. The dead-letter statement is there only when the fleet's \`workerEnv\` sets \`POISON_RECORD_POLICY=dead-letter\` (shown here with \`DEAD_LETTER_TABLE_NAME=${deadLetterTable}\`).`,
      policies: named(
        'streamfleet-consumer',
        consumerPolicy({
          streamArn,
          leaseTableName: fleet.applicationName,
          targetTableName: fleet.replicaTableName,
          deadLetterTableName: deadLetterTable,
        }),
      ),
      needs: CONSUMER_NEEDS,
      where: { ...WHERE, streamArn, deadLetterTableName: deadLetterTable },
      onlyWith: deadLetterOnly,
    },
    {
      title: `KEDA scaler — role \`${fleet.roles.scalerRoleName}\` (assumed by the KEDA operator)`,
      who: `KEDA, for this fleet's trigger only: the fleet's TriggerAuthentication names the role (\`podIdentity.roleArn\`), and its trust policy lets only the KEDA operator's role assume it. Built by \`kedaScalerPolicy\`. Classic mode (the \`aws-dynamodb-streams\` trigger); every stream of the source table, because KEDA resolves the table's LatestStreamArn itself.`,
      policies: named(
        'streamfleet-keda-scaler',
        kedaScalerPolicy({ streamArn, scalingMode: ScalingMode.Classic, anyStreamOfTable: true }),
      ),
      needs: KEDA_SCALER_NEEDS[ScalingMode.Classic],
      where: WHERE,
    },
    {
      title: 'KEDA scaler, unfinished-shards mode',
      who: 'The same role with `scaling.mode: unfinished-shards` (the `aws-cloudwatch` trigger).',
      policies: named(
        'streamfleet-keda-scaler',
        kedaScalerPolicy({ streamArn, scalingMode: ScalingMode.UnfinishedShards }),
      ),
      needs: KEDA_SCALER_NEEDS[ScalingMode.UnfinishedShards],
      where: WHERE,
    },
    {
      title: `KEDA operator — role \`${fleet.keda.operatorRoleName}\` (IRSA, one per cluster)`,
      who: `The KEDA operator, through its ServiceAccount \`${fleet.keda.namespace}/${fleet.keda.serviceAccountName}\`, shared by every fleet on the cluster. Each fleet adds one inline policy, \`${kedaOperatorPolicyName(fleet.roles.scalerRoleName)}\`, and its teardown removes only that one. Built by \`kedaOperatorAssumePolicy\`.`,
      policies: named(
        kedaOperatorPolicyName(fleet.roles.scalerRoleName),
        kedaOperatorAssumePolicy(roleArn(fleet.roles.scalerRoleName)),
      ),
      needs: KEDA_OPERATOR_NEEDS,
      where: WHERE,
    },
    {
      title: 'Control plane — the ten workflow functions’ role (CDK)',
      who: `Every function but compare-replicas (one role: Kubernetes sees them as one identity, one EKS access entry). As \`cdk synth -c clusterName=streamfleet\` writes it for this fleet (infra/control-plane.ts), for an imported cluster (a cluster the app creates gets its exact OIDC provider); the stack's own resources are shown as \`{LogicalId}\`.`,
      policies: roles[ControlPlaneFunction.EnsureTables].policies,
      needs: CONTROL_PLANE_NEEDS,
      where: WHERE,
    },
    {
      title: 'Control plane — compare-replicas’ role (CDK)',
      who: 'The compare workflow’s function, which only reads.',
      policies: roles[ControlPlaneFunction.CompareReplicas].policies,
      needs: COMPARE_NEEDS,
      where: WHERE,
    },
  ];
  return `${[
    '# IAM: what each principal may do, and why',
    '',
    '<!-- Generated by local/identities/iam-doc.ts from the policies the project deploys (`npm run iam-doc`);',
    '     test/infra/iam-doc.test.ts fails when this page and the policies disagree. Do not edit by hand. -->',
    '',
    'Every grant of every role the project deploys, for the fleet in cdk.json (account 123456789012, us-east-1).',
    'The reasons come from core/iam-needs.ts, which lists what each principal’s code calls; unit tests hold',
    'each policy to exactly those calls on the exact ARNs, and the least-privilege run',
    '(test/workflows/least-privilege.test.ts, `npm run iam-report`) runs the worker, every handler and every',
    'workflow through the strict layer with IAM on: nothing refused, and every grant used or its reason written.',
    'How the local mode identifies each principal and what the layer evaluates: [aws-rules.md](aws-rules.md#iam).',
    '',
    ...sections.flatMap((section) => sectionLines(section, fleet)),
  ].join('\n')}`;
}

/** `node --import tsx local/identities/iam-doc.ts`: writes docs/iam.md. */
async function main(): Promise<void> {
  writeFileSync(IAM_DOC_PATH, await renderIamDoc());
  process.stdout.write(`wrote ${IAM_DOC_PATH}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
