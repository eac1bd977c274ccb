/**
 * The command line of `streamfleet`: commands, their options, the help texts, and UsageError for anything
 * it cannot use (named, with what is expected).
 */
import { parseArgs } from 'node:util';

export const Command = {
  Setup: 'setup',
  Verify: 'verify',
  Teardown: 'teardown',
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

const RUN_OPTIONS = `  --no-follow                 print the execution ARN and return at once
  --json                      print one JSON document (the result) instead of the live view
  --name NAME                 the execution's name (default: streamfleet-<command>-<time>)
  --stack NAME                the CDK stack whose state machines to use (<stack>-<workflow>; default Streamfleet)
  --state-machine-arn ARN     use this state machine instead of looking it up by name`;

export const HELP: Record<Command | 'main', string> = {
  main: `streamfleet — run and watch a Streamfleet fleet's workflows (AWS, or npm start's local mode)

Usage: streamfleet <command> [options]

Commands:
  setup --input FILE     start the setup workflow and follow it live
  verify                 start the verify workflow and follow it
  teardown               start the teardown workflow and follow it
  status                 the fleet at a glance: Deployment, KEDA, shards, leases per worker, lag
  manifests --input FILE the Kubernetes objects setup applies, as YAML for kubectl apply -f -
  migrate --from-kcl T   take over a KCL 1.x application's lease table in place

Common options:
  --input FILE           a start-execution input ({ "fleet": {...}, "load": {...} }); verify, teardown and
                         status default to the input of the last successful setup execution
  --region REGION        default AWS_REGION
  -h, --help             this text, or a command's with "streamfleet <command> --help"

Where it runs: against AWS with the SDK's usual credentials; against npm start's local mode when
AWS_ENDPOINT_URL_SFN points at it (source the streamfleet.env that npm start -- --keep-running writes).
The state machines are found by name, <stack>-<workflow> (states:ListStateMachines), as the CDK stack names
them. Exit codes: 0 succeeded, 1 the execution failed (its Error and Cause are printed), 2 bad arguments or
input, 3 something to reach is missing (no state machine, no kubeconfig, no credentials). See docs/cli.md.
`,
  setup: `Usage: streamfleet setup --input FILE [options]

Starts the setup workflow with FILE as its input and follows it: each state as it is entered and left, the
load's progress, retries and their causes. Exits 0 when it succeeds, 1 with the failure explained.

${RUN_OPTIONS}
`,
  verify: `Usage: streamfleet verify [--input FILE] [options]

Starts the verify workflow (both checks, the fleet's metrics) for the fleet and follows it.

${RUN_OPTIONS}
`,
  teardown: `Usage: streamfleet teardown [--input FILE] [--delete-tables] [options]

Starts the teardown workflow: the ScaledObject, the workers and the IRSA roles go; the tables stay unless
--delete-tables is given.

${RUN_OPTIONS}
  --delete-tables             also delete the source, replica and lease tables
`,
  status: `Usage: streamfleet status [--input FILE] [--context NAME] [--sample-leases] [--json]

The fleet at a glance, from the checks the verify workflow runs (core/checks.ts): the Deployment's replicas
and readiness, the ScaledObject and its HPA, the stream's shards, leases per worker, replication lag. Reads
the cluster through your kubeconfig (KUBECONFIG, its current context or --context) and DynamoDB with your
AWS credentials. Exits 0 when healthy, 1 when not.

  --context NAME              the kubeconfig context to use
  --sample-leases             read the lease table twice (fleet.checks.leaseSampleMs apart) to find expired leases
  --json                      print the verdicts as JSON
`,
  manifests: `Usage: streamfleet manifests --input FILE [--stream-arn ARN] [--role-arn ARN] [--account-id ID]

Prints the Namespace, ServiceAccount (with the IRSA role annotation), Deployment, PodDisruptionBudget,
TriggerAuthentication and ScaledObject that DeployConsumer and InstallScaler apply, as YAML for
kubectl apply -f -. The stream ARN is read from the source table (DescribeTable) unless given; the roles are
fleet.roles.consumerRoleName (the ServiceAccount's, unless --role-arn is given) and fleet.roles.scalerRoleName
(the TriggerAuthentication's) in your account (STS GetCallerIdentity).

  --stream-arn ARN            the source table's stream
  --role-arn ARN              the consumer's IRSA role
  --account-id ID             the account of the roles (default: STREAMFLEET_ACCOUNT_ID, else STS)
`,
  migrate: `Usage: streamfleet migrate --from-kcl TABLE --stream-arn ARN [--apply] [options]

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

  --from-kcl TABLE            the KCL application's lease table
  --stream-arn ARN            the stream it reads (aws dynamodb describe-table
                              --table-name SOURCE --query Table.LatestStreamArn)
  --failover-ms MS            the application's failoverTimeMillis (default
                              10000, KCL 1.x's): how long leases are watched
  --apply                     add the owner index, release the expired leases
  --json                      print the plan as JSON
  --region REGION             default AWS_REGION

Exit codes: 0 ready (or applied); 1 a Java worker still renews (stop it, run
again); 2 not a KCL 1.x lease table, or not this stream's; 3 no such table or
stream, or checkpoints older than the stream's 24 h retention (records gone).
`,
};

function isCommand(value: string | undefined): value is Command {
  return (Object.values(Command) as string[]).includes(value ?? '');
}

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
  try {
    ({ values } = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
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
  const allowed: Record<Command, string[]> = {
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
    status: ['input', 'json', 'stack', 'state-machine-arn', 'region', 'context', 'sample-leases'],
    manifests: ['input', 'region', 'stream-arn', 'role-arn', 'account-id', 'stack', 'state-machine-arn'],
    migrate: ['from-kcl', 'stream-arn', 'failover-ms', 'apply', 'json', 'region'],
  };
  for (const key of Object.keys(values)) {
    if (key !== 'help' && !allowed[first].includes(key)) {
      throw new UsageError(`${first} does not take --${key} (streamfleet ${first} --help)`);
    }
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
    follow: values['no-follow'] !== true,
    json: values.json === true,
    stack: text('stack') ?? 'Streamfleet',
    stateMachineArn: text('state-machine-arn'),
    executionName: name,
    region: text('region'),
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
