/**
 * The least-privilege run: one fleet taken through everything the product does — every workflow (setup with
 * its load, verify, alarm reaction, a full comparison, teardown down to the tables), real workers (two, so
 * they take leases from each other, with a dead-letter table and a poison record to fill it; their lease table
 * is one a KCL 1.x application left behind, so they add its owner index online) and the local KEDA — with every principal signing as its deployed role (local/identities) through a strict layer whose
 * `iam` rule is on. What each principal used is in the layer's counters; `deployedPrincipals` says what
 * each is granted. test/workflows/least-privilege.test.ts and `npm run iam-report` both run it.
 */
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { ControlPlaneConfig } from '../../core/control-plane-config.js';
import { type FleetSpec, fleetDeadLetterTable, parseFleet } from '../../core/fleet/fleet.js';
import type { LocalIam, StoredRole } from '../../core/iam/iam.js';
import type { PolicyDocument, PolicyStatement } from '../../core/iam/iam-policies.js';
import {
  COMPARE_NEEDS,
  CONSUMER_NEEDS,
  CONTROL_PLANE_NEEDS,
  KEDA_OPERATOR_NEEDS,
  KEDA_SCALER_NEEDS,
  type Need,
  needResource,
} from '../../core/iam-needs.js';
import { localServices } from '../../core/ports.js';
import { kcl1LeaseTableCreation } from '../../core/tables/kcl1-lease.js';
import type { Workflow } from '../../core/workflows.js';
import { ControlPlaneFunction } from '../../core/workflows.js';
import { DYNAMODB_LOCAL_LOCATION } from '../aws-rules/iam-requests.js';
import { exampleAlarmEvent, FAST_WORKER_ENV, localFleetInput } from '../workflows/examples.js';
import { ExecutionStatus, runWorkflowLocally, type WorkflowExecution } from '../workflows/index.js';
import { controlPlaneRoles } from './control-plane-roles.js';
import { namedPolicies } from './role-sessions.js';
import type { PrincipalGrants } from './usage-report.js';

/** The fleet of the run: two workers on the source's one shard, a dead-letter table, fast timings. */
export function proofFleetInput(clusterName: string, prefix: string): Record<string, unknown> {
  const base = localFleetInput(clusterName, prefix);
  return {
    ...base,
    scaling: { ...base.scaling, minReplicaCount: 2 },
    workerEnv: {
      ...FAST_WORKER_ENV,
      POISON_RECORD_POLICY: 'dead-letter',
      DEAD_LETTER_TABLE_NAME: `${prefix}-dead_letters`,
    },
  };
}

export class ProofRunError extends Error {
  override readonly name = 'ProofRunError';
}

export interface ProofRunOptions {
  /** The strict layer every principal of the run talks to. */
  readonly endpoint: string;
  /** DynamoDB Local itself: the run's own reads and the poison record go there, never counted. */
  readonly directEndpoint: string;
  readonly fleetInput: Record<string, unknown>;
  readonly log?: (line: string) => void;
}

export class ProofRun {
  readonly fleet: FleetSpec;
  readonly fleetInput: Record<string, unknown>;
  private readonly direct: DynamoDBClient;
  private readonly config: ControlPlaneConfig;

  constructor(private readonly options: ProofRunOptions) {
    this.fleetInput = options.fleetInput;
    this.fleet = parseFleet(options.fleetInput);
    this.direct = new DynamoDBClient({
      endpoint: options.directEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    this.config = {
      clusterMode: 'local',
      region: 'us-east-1',
      endpoint: options.endpoint,
      alertsTopicArn: undefined,
      metricsNamespace: 'Streamfleet',
    };
  }

  /** Runs a workflow; a run that does not succeed is an error that says where and why. */
  async workflow(workflow: Workflow, input: Record<string, unknown>): Promise<WorkflowExecution> {
    this.options.log?.(`workflow ${workflow}`);
    const execution = await runWorkflowLocally(
      workflow,
      { fleet: this.options.fleetInput, ...input },
      { waitMs: 1_000, retryMs: 50, timeoutMs: 240_000, controlPlane: this.config },
    );
    if (execution.status !== ExecutionStatus.Succeeded) {
      throw new ProofRunError(
        `${workflow} ended ${execution.status}: ${execution.error ?? ''} ${execution.cause ?? ''}`.trim(),
      );
    }
    return execution;
  }

  /**
   * Everything but the teardown: setup (tables, roles, two workers, the scaler, a load), verify, the alarm
   * reaction, a full comparison, and last a poison record the workers put into the dead-letter table (last:
   * the replica lacks it for good, which the checks would rightly call unhealthy).
   */
  async exercise(): Promise<void> {
    // The lease table exists already, as KCL 1.x created it (no owner index): the workers adopt it in place.
    await this.direct.send(new CreateTableCommand(kcl1LeaseTableCreation(this.fleet.applicationName)));
    // Bursts of 300 changes written in 0.1 s: reads paced to 4 a second get batches of more than 99, which
    // the fenced writer splits over transactions (the chunks before the last one fence with a ConditionCheck).
    await this.workflow('setup', { load: { batches: 2, itemsPerBatch: 300, ratePerSecond: 3_000 } });
    await this.workflow('verify', {});
    await this.workflow('alarm-reaction', { event: exampleAlarmEvent() });
    await this.workflow('compare', {
      compare: { segments: 2, maxConcurrency: 2, itemsPerInvocation: 400, recheckAfterMs: 0 },
    });
    await this.userEdits();
  }

  async teardown(): Promise<void> {
    await this.workflow('teardown', { deleteTables: true });
  }

  /**
   * What users of the source table do, written by the run itself (not a principal): a delete, which the workers
   * replicate as a delete, and a change the target refuses for good (an empty map: DynamoDB Local's stream
   * turns `{"M":{}}` into `{}`, which PutItem refuses), which they put into the dead-letter table.
   */
  async userEdits(): Promise<void> {
    const { sourceTableName, replicaTableName } = this.fleet;
    const deleted = { email: { S: 'load-0-0@example.com' } };
    const existing = await this.direct.send(new ScanCommand({ TableName: sourceTableName, Limit: 1 }));
    const key = existing.Items?.[0]?.email ? { email: existing.Items[0].email } : deleted;
    await this.direct.send(new DeleteItemCommand({ TableName: sourceTableName, Key: key }));
    const poison = 'poison@example.com';
    await this.direct.send(
      new PutItemCommand({ TableName: sourceTableName, Item: { email: { S: poison }, m: { M: {} } } }),
    );
    const deadLetters = fleetDeadLetterTable(this.fleet);
    await this.until('the delete reached the replica', async () => {
      const { Item } = await this.direct.send(new GetItemCommand({ TableName: replicaTableName, Key: key }));
      return Item === undefined;
    });
    if (!deadLetters) return;
    await this.until(`the poison record reached the dead-letter table ${deadLetters}`, async () => {
      const { Items } = await this.direct.send(new ScanCommand({ TableName: deadLetters }));
      return (Items ?? []).some((item) => item.keys?.M?.email?.S === poison);
    });
  }

  private async until(what: string, done: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new ProofRunError(`timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  close(): void {
    this.direct.destroy();
  }
}

/** A policy document without one action: what "the consumer policy without BatchGetItem" means. */
export function withoutAction(policy: PolicyDocument, action: string): PolicyDocument {
  return {
    ...policy,
    Statement: policy.Statement.map(
      (statement): PolicyStatement => ({
        ...statement,
        Action: statement.Action.filter((a) => a !== action),
      }),
    ).filter((statement) => statement.Action.length > 0),
  };
}

/**
 * Replaces one inline policy of a role in the local IAM (as `aws iam put-role-policy` would): the role's
 * running sessions are judged by the new document from then on. Returns the document it replaced.
 */
export async function replaceRolePolicy(
  iam: LocalIam,
  roleName: string,
  policyName: string,
  change: (policy: PolicyDocument) => PolicyDocument,
): Promise<PolicyDocument> {
  const role = await iam.getRole(roleName);
  const before = role?.policies[policyName];
  if (!role || !before) throw new ProofRunError(`no inline policy ${policyName} on role ${roleName}`);
  await iam.ensureRole({
    roleName,
    description: '',
    trustPolicy: role.trustPolicy,
    policyName,
    policy: change(before),
  });
  return before;
}

/**
 * Every principal the fleet's run signs as, with the policies it is granted: the IRSA roles wire-irsa put into
 * the local IAM (read before teardown deletes them), and the control plane's roles from the CDK app.
 */
export async function deployedPrincipals(
  fleetInput: Record<string, unknown>,
  iam: LocalIam = localServices.iam,
): Promise<PrincipalGrants[]> {
  const fleet = parseFleet(fleetInput);
  const deadLetterTableName = fleetDeadLetterTable(fleet);
  const where = { ...DYNAMODB_LOCAL_LOCATION, ...(deadLetterTableName ? { deadLetterTableName } : {}) };
  const reasons = (needs: readonly Need[]) =>
    needs.flatMap((need) =>
      need.unusedUnless === undefined
        ? []
        : [{ action: need.action, resource: needResource(need.on, fleet, where), reason: need.unusedUnless }],
    );
  const irsa = (label: string, roleName: string, needs: readonly Need[]): PrincipalGrants | undefined => {
    const role: StoredRole | undefined = iam.roles.get(roleName);
    return role
      ? { label, roleArn: role.arn, policies: namedPolicies(role), unusedReasons: reasons(needs) }
      : undefined;
  };
  const principals = [
    irsa('consumer (IRSA, every worker pod)', fleet.roles.consumerRoleName, CONSUMER_NEEDS),
    irsa(
      'KEDA scaler (assumed by the KEDA operator for this fleet)',
      fleet.roles.scalerRoleName,
      KEDA_SCALER_NEEDS[fleet.scaling.mode],
    ),
    irsa(
      'KEDA operator (IRSA, shared by the fleets of the cluster)',
      fleet.keda.operatorRoleName,
      KEDA_OPERATOR_NEEDS,
    ),
  ].filter((p): p is PrincipalGrants => p !== undefined);
  const roles = await controlPlaneRoles(fleetInput);
  const compare = roles[ControlPlaneFunction.CompareReplicas];
  const shared = roles[ControlPlaneFunction.EnsureTables];
  principals.push(
    {
      label: 'control plane: the ten workflow functions (CDK)',
      roleArn: shared.arn,
      policies: shared.policies,
      unusedReasons: reasons(CONTROL_PLANE_NEEDS),
    },
    {
      label: 'control plane: compare-replicas (CDK)',
      roleArn: compare.arn,
      policies: compare.policies,
      unusedReasons: reasons(COMPARE_NEEDS),
    },
  );
  return principals;
}
