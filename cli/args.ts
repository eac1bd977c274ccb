/**
 * The command line of `streamfleet`: commands, their options, the help texts, and UsageError for anything
 * it cannot use (named, with what is expected).
 */
import { parseArgs } from 'node:util';

export const Command = {
  Setup: 'setup',
  Verify: 'verify',
  Teardown: 'teardown',
  Follow: 'follow',
  Status: 'status',
  Manifests: 'manifests',
  Migrate: 'migrate',
} as const;
export type Command = (typeof Command)[keyof typeof Command];

/** Exit codes (also in --help). */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, Unavailable: 3 } as const;

/** Bad arguments: the message says which and what is expected. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliOptions {
  command: Command;
  input: string | undefined;
  /** `follow`: the execution to follow. */
  executionArn: string | undefined;
  follow: boolean;
  json: boolean;
  stack: string;
  stateMachineArn: string | undefined;
  executionName: string | undefined;
  region: string | undefined;
  deleteTables: boolean;
  context: string | undefined;
  sampleLeases: boolean;
  streamArn: string | undefined;
  roleArn: string | undefined;
  accountId: string | undefined;
  pollMs: number;
  /** migrate: the KCL 1.x application's lease table, its failover time, and whether to apply. */
  fromKcl: string | undefined;
  failoverMs: number;
  apply: boolean;
}

/**
 * Step Functions ARNs as the API writes them (names: 1-80 characters, none of white space, brackets,
 * wildcards, `"#%\\^|~`$&,;:/` or control characters; Step Functions API reference, CreateStateMachine and
 * StartExecution "name"). Checked here so a mistyped ARN is a usage error (2), not "not found" (3).
 */
const SFN_NAME = '[^\\s<>{}\\[\\]?*"#%\\\\^|~`$&,;:/]{1,80}';
const ARN_HEAD = 'arn:aws(?:-cn|-us-gov)?:states:[a-z]{2}(?:-[a-z]+)+-\\d:\\d{12}';
export const STATE_MACHINE_ARN = new RegExp(`^${ARN_HEAD}:stateMachine:${SFN_NAME}$`);
export const EXECUTION_ARN = new RegExp(`^${ARN_HEAD}:(?:execution|express):${SFN_NAME}:${SFN_NAME}$`);

export type Env = Record<string, string | undefined>;

export function regionOf(option: string | undefined, env: Env): string {
  const region = option ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region)
    throw new UsageError('no AWS region: set AWS_REGION or pass --region (e.g. --region us-east-1)');
  return region;
}

/** The region an ARN names (its fourth field). */
export function regionOfArn(arn: string): string | undefined {
  return arn.split(':')[3] || undefined;
}

/** The state machine's name in an execution ARN (its seventh field). */
export function stateMachineNameOfExecution(arn: string): string | undefined {
  return arn.split(':')[6];
}

const FOLLOW_OPTIONS = `  --json               one JSON document at the end (status, output or the
                       failure, retries) instead of the live view
  --poll-ms N          how often to read the execution's history, in ms
                       (default 1000, at least 100; each read is one
                       GetExecutionHistory and one DescribeExecution call)`;

const RUN_OPTIONS = `  --no-follow          print the execution ARN and return at once; follow it
                       later with: streamfleet follow ARN
${FOLLOW_OPTIONS}
  --name NAME          the execution's name
                       (default streamfleet-<command>-<time>)
  --stack NAME         the CDK stack whose state machines to use
                       (<stack>-<workflow>; default Streamfleet)
  --state-machine-arn ARN
                       use this state machine instead of finding it by name
  --region REGION      default AWS_REGION`;

export const HELP: Record<Command | 'main', string> = {
  main: `streamfleet: run and watch a Streamfleet fleet's workflows, on AWS or
against npm start's local mode

Usage: streamfleet <command> [options]

Commands:
  setup --input FILE   start the setup workflow and follow it live
  verify               start the verify workflow and follow it
  teardown             start the teardown workflow and follow it
  follow ARN           follow an execution already started (--no-follow)
  status               the fleet at a glance: Deployment, KEDA, shards,
                       leases per worker, lag
  manifests --input FILE
                       the Kubernetes objects setup applies, as YAML
  migrate --from-kcl TABLE --stream-arn ARN
                       take over a KCL 1.x application's lease table in
                       place (docs/migrate-from-kcl.md)

Common options:
  --input FILE         a start-execution input ({ "fleet": {...} }); verify,
                       teardown and status default to the input of the
                       newest successful setup execution
  --region REGION      default AWS_REGION
  -h, --help           this text; "streamfleet <command> --help" for one

Where it runs: on AWS with the SDK's usual credentials; against npm start
-- --keep-running after ". <its report folder>/streamfleet.env". State
machines are found by name, <stack>-<workflow>, as the CDK stack names them.

Exit codes: 0 succeeded (status: healthy), 1 the execution failed (its
Error and Cause are printed; status: unhealthy), 2 bad arguments or input,
3 something to reach is missing (no state machine or execution, no
kubeconfig, no credentials, an endpoint that does not answer).
See docs/cli.md.
`,
  setup: `Usage: streamfleet setup --input FILE [options]

Starts the setup workflow with FILE as its input and follows it: each state
as it is entered and left, the load's progress, retries and their causes.
Exits 0 when it succeeds, 1 with the failure explained.

${RUN_OPTIONS}
`,
  verify: `Usage: streamfleet verify [--input FILE] [options]

Starts the verify workflow (both checks, the fleet's metrics) for the fleet
and follows it. Without --input, the fleet of the newest successful setup.

${RUN_OPTIONS}
`,
  teardown: `Usage: streamfleet teardown [--input FILE] [--delete-tables] [options]

Starts the teardown workflow: the ScaledObject, the workers and the IRSA
roles go; the tables stay unless --delete-tables is given.

${RUN_OPTIONS}
  --delete-tables      also delete the source, replica and lease tables
`,
  follow: `Usage: streamfleet follow EXECUTION-ARN [--json] [--poll-ms N]

Follows an execution of setup, verify or teardown (one started with
--no-follow, by the schedule, or by npm start) with the same live view and
exit codes as the command that starts it: 0 succeeded, 1 failed. An
execution that has ended is told from its history.

${FOLLOW_OPTIONS}
  --region REGION      default: the ARN's region
`,
  status: `Usage: streamfleet status [--input FILE] [--context NAME] [--sample-leases]
                          [--json]

The fleet at a glance, from the two checks the verify workflow runs
(core/verification/checks.ts): the Deployment's replicas and readiness,
the ScaledObject and its HPA, the stream's shards, leases per worker, the
replication lag bound. Reads the cluster through your kubeconfig
(KUBECONFIG, its current context or --context) and DynamoDB with your AWS
credentials. Exits 0 when
healthy, 1 when not. A shard seconds old waits for shard sync to lease it and
a lease taker to take it: when one read finds an open shard without a lease
or a lease without an owner, status reads the leases again
fleet.checks.leaseSampleMs later (5 s by default), and only what is still so
is a failure.

  --context NAME       the kubeconfig context to use
  --sample-leases      read the lease table twice, fleet.checks.leaseSampleMs
                       apart (5 s by default), as verify does: a lease whose
                       counter did not move in between is expired (its worker
                       is stuck or gone). Without it one read is made, which
                       cannot tell a live lease from an expired one.
  --json               print the verdicts as JSON
  --stack NAME         without --input, the fleet of <stack>-setup's newest
                       successful execution (default Streamfleet)
  --region REGION      default AWS_REGION
`,
  manifests: `Usage: streamfleet manifests --input FILE [--stream-arn ARN]
                             [--role-arn ARN] [--account-id ID]

Prints the Namespace, ServiceAccount (with the IRSA role annotation),
Deployment, PodDisruptionBudget, TriggerAuthentication and ScaledObject
that DeployConsumer and InstallScaler apply, as YAML for kubectl apply -f -.
The stream ARN is read from the source table (DescribeTable) unless given;
the roles are fleet.roles.consumerRoleName (the ServiceAccount's, unless
--role-arn is given) and fleet.roles.scalerRoleName (the
TriggerAuthentication's) in your account (STS GetCallerIdentity).

  --stream-arn ARN     the source table's stream
  --role-arn ARN       the consumer's IRSA role
  --account-id ID      the account of the roles
                       (default STREAMFLEET_ACCOUNT_ID, else STS)
  --region REGION      default AWS_REGION
`,
  migrate: `Usage: streamfleet migrate --from-kcl TABLE --stream-arn ARN [--apply]
                           [--failover-ms MS] [--json]

Reads the lease table a KCL 1.x application left behind (named after the
application) and says, shard by shard, its checkpoint, its owner, whether the
owner still renews it, its parents and children, and what Streamfleet will do
with it; then what changes in the deployment (ScaledObject, image, IRSA
policy). It watches the table for the failover time and a second to see
renewals, and asks the stream whether every checkpoint is still readable.

Read-only unless --apply. --apply changes the lease table only when no Java
worker renews: it adds the owner index (UpdateTable) and releases the leases
the Java fleet left owned, so Streamfleet takes them at once. KCL 1.x still
reads the table afterwards (docs/migrate-from-kcl.md has the steps back).

  --from-kcl TABLE     the KCL application's lease table
  --stream-arn ARN     the stream it reads (aws dynamodb describe-table
                       --table-name SOURCE --query Table.LatestStreamArn)
  --failover-ms MS     the application's failoverTimeMillis (default 10000,
                       KCL 1.x's): how long the leases are watched, plus 1 s
  --apply              add the owner index, release the expired leases
  --json               print the plan as JSON
  --region REGION      default AWS_REGION

Exit codes: 0 ready (or applied); 1 a Java worker still renews (stop it, run
again); 2 not a KCL 1.x lease table, or not this stream's; 3 no such table or
stream, or checkpoints older than the stream's 24 h retention (records gone).
`,
};

function isCommand(value: string | undefined): value is Command {
  return (Object.values(Command) as string[]).includes(value ?? '');
}

/** The options each command takes (besides --help). */
const ALLOWED: Record<Command, readonly string[]> = {
  setup: ['input', 'no-follow', 'json', 'name', 'stack', 'state-machine-arn', 'region', 'poll-ms'],
  verify: ['input', 'no-follow', 'json', 'name', 'stack', 'state-machine-arn', 'region', 'poll-ms'],
  teardown: [
    'input',
    'no-follow',
    'json',
    'name',
    'stack',
    'state-machine-arn',
    'region',
    'poll-ms',
    'delete-tables',
  ],
  follow: ['json', 'region', 'poll-ms'],
  status: ['input', 'json', 'stack', 'region', 'context', 'sample-leases'],
  manifests: ['input', 'region', 'stream-arn', 'role-arn', 'account-id'],
  migrate: ['from-kcl', 'stream-arn', 'failover-ms', 'apply', 'json', 'region'],
};

/** The options, or the help text to print. */
export function parseCli(argv: readonly string[]): CliOptions | { help: string } {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help')
    return { help: HELP.main };
  if (!isCommand(first)) {
    throw new UsageError(
      `unknown command "${first}": expected one of ${Object.values(Command).join(', ')} (streamfleet --help)`,
    );
  }
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        input: { type: 'string' },
        'no-follow': { type: 'boolean' },
        json: { type: 'boolean' },
        name: { type: 'string' },
        stack: { type: 'string' },
        'state-machine-arn': { type: 'string' },
        region: { type: 'string' },
        'delete-tables': { type: 'boolean' },
        context: { type: 'string' },
        'sample-leases': { type: 'boolean' },
        'stream-arn': { type: 'string' },
        'role-arn': { type: 'string' },
        'account-id': { type: 'string' },
        'poll-ms': { type: 'string' },
        'from-kcl': { type: 'string' },
        'failover-ms': { type: 'string' },
        apply: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new UsageError(
      `${first}: ${error instanceof Error ? error.message : String(error)} (streamfleet ${first} --help)`,
    );
  }
  if (values.help) return { help: HELP[first] };
  for (const key of Object.keys(values)) {
    if (key !== 'help' && !ALLOWED[first].includes(key)) {
      throw new UsageError(`${first} does not take --${key} (streamfleet ${first} --help)`);
    }
  }
  let executionArn: string | undefined;
  if (first === Command.Follow) {
    if (positionals.length !== 1) {
      throw new UsageError(
        'follow needs one execution ARN, as setup, verify or teardown --no-follow prints it (streamfleet follow --help)',
      );
    }
    executionArn = positionals[0] as string;
    if (!EXECUTION_ARN.test(executionArn)) {
      throw new UsageError(
        `follow: "${executionArn}" is not an execution ARN (expected arn:aws:states:REGION:ACCOUNT:execution:STATE-MACHINE:NAME)`,
      );
    }
  } else if (positionals.length > 0) {
    throw new UsageError(`${first} takes no argument "${positionals[0]}" (streamfleet ${first} --help)`);
  }
  const text = (key: string) => {
    const value = values[key];
    if (value === '') throw new UsageError(`--${key} needs a value`);
    return typeof value === 'string' ? value : undefined;
  };
  const input = text('input');
  if ((first === Command.Setup || first === Command.Manifests) && input === undefined) {
    throw new UsageError(
      `${first} needs --input FILE, a start-execution input such as the stack's SetupInput output`,
    );
  }
  const name = text('name');
  if (name !== undefined && !/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
    throw new UsageError(
      `--name: expected 1-80 letters, digits, '-' or '_' (an execution name), got "${name}"`,
    );
  }
  const stateMachineArn = text('state-machine-arn');
  if (stateMachineArn !== undefined && !STATE_MACHINE_ARN.test(stateMachineArn)) {
    throw new UsageError(
      `--state-machine-arn: "${stateMachineArn}" is not a state machine ARN (expected arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)`,
    );
  }
  if (first === Command.Migrate && (text('from-kcl') === undefined || text('stream-arn') === undefined)) {
    throw new UsageError(
      "migrate needs --from-kcl TABLE (the KCL application's lease table) and --stream-arn ARN (the stream it reads)",
    );
  }
  const failoverText = text('failover-ms');
  const failoverMs = failoverText === undefined ? 10_000 : Number(failoverText);
  if (!Number.isInteger(failoverMs) || failoverMs < 1_000 || failoverMs > 600_000)
    throw new UsageError(`--failover-ms: expected an integer from 1000 to 600000, got "${failoverText}"`);
  const pollText = text('poll-ms');
  const pollMs = pollText === undefined ? 1_000 : Number(pollText);
  if (!Number.isInteger(pollMs) || pollMs < 100)
    throw new UsageError(`--poll-ms: expected an integer ≥ 100, got "${pollText}"`);
  return {
    command: first,
    input,
    executionArn,
    follow: values['no-follow'] !== true,
    json: values.json === true,
    stack: text('stack') ?? 'Streamfleet',
    stateMachineArn,
    executionName: name,
    region: text('region') ?? (executionArn === undefined ? undefined : regionOfArn(executionArn)),
    deleteTables: values['delete-tables'] === true,
    context: text('context'),
    sampleLeases: values['sample-leases'] === true,
    streamArn: text('stream-arn'),
    roleArn: text('role-arn'),
    accountId: text('account-id'),
    pollMs,
    fromKcl: text('from-kcl'),
    failoverMs,
    apply: values.apply === true,
  };
}
