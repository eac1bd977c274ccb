/**
 * `streamfleet setup | verify | teardown`: StartExecution on the workflow's state machine, then (unless
 * --no-follow) the live view until it ends, and the result — on failure the Error, the Cause and what they
 * mean (cli/failures.ts). `streamfleet follow ARN` is the second half alone, for an execution started before.
 */
import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { parseFleetInput, parseSetupInput } from '../core/inputs.js';
import { parseLoad } from '../core/tables/load.js';
import { InvalidInputError } from '../core/vocabulary/errors.js';
import { Workflow } from '../core/workflows.js';
import { type CliOptions, Command, ExitCode, stateMachineNameOfExecution } from './args.js';
import { explainFailure } from './failures.js';
import { followExecution, formatDuration } from './follow.js';

export interface CommandOutcome {
  exitCode: number;
  json: unknown;
}

type Print = (line: string) => void;

const WORKFLOW_OF = {
  [Command.Setup]: Workflow.Setup,
  [Command.Verify]: Workflow.Verify,
  [Command.Teardown]: Workflow.Teardown,
} as const;

/** Checks the input here first, so a wrong one is refused before any execution starts. */
export function checkInput(command: Command, input: unknown): void {
  if (command === Command.Setup) parseSetupInput(input);
  else parseFleetInput(input);
}

export async function runWorkflow(
  sfn: SFNClient,
  options: CliOptions & { command: 'setup' | 'verify' | 'teardown' },
  stateMachineArn: string,
  input: Record<string, unknown>,
  print: Print,
): Promise<CommandOutcome> {
  const workflow = WORKFLOW_OF[options.command];
  const execution = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn,
      name:
        options.executionName ?? `streamfleet-${workflow}-${new Date().toISOString().replace(/[:.]/g, '-')}`,
      input: JSON.stringify(input),
    }),
  );
  const executionArn = execution.executionArn ?? '';
  if (!options.follow) {
    if (!options.json) print(executionArn);
    return { exitCode: ExitCode.Ok, json: { executionArn } };
  }
  if (!options.json) print(`${workflow}: started ${executionArn}`);
  return followAndReport(sfn, { executionArn, workflow, input, options, print });
}

/** The workflow an execution belongs to: its state machine is `<stack>-<workflow>`. */
export function workflowOfExecution(executionArn: string): string {
  const stateMachine = stateMachineNameOfExecution(executionArn) ?? '';
  return (
    Object.values(Workflow)
      .sort((a, b) => b.length - a.length)
      .find((w) => stateMachine === w || stateMachine.endsWith(`-${w}`)) ?? stateMachine
  );
}

/** `streamfleet follow ARN`: the execution's input from DescribeExecution, then the same live view. */
export async function followCommand(
  sfn: SFNClient,
  options: CliOptions & { executionArn: string },
  print: Print,
): Promise<CommandOutcome> {
  const { executionArn } = options;
  const description = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  let input: unknown;
  try {
    input = description.input === undefined ? undefined : JSON.parse(description.input);
  } catch {
    input = undefined;
  }
  const workflow = workflowOfExecution(executionArn);
  if (!options.json) print(`${workflow}: following ${executionArn} (${description.status ?? 'UNKNOWN'})`);
  return followAndReport(sfn, {
    executionArn,
    workflow,
    input: input && typeof input === 'object' ? (input as Record<string, unknown>) : {},
    options,
    print,
  });
}

/** Follows the execution to its end and says how it ended: the live view's last lines, or one JSON. */
async function followAndReport(
  sfn: SFNClient,
  run: {
    executionArn: string;
    workflow: string;
    input: Record<string, unknown>;
    options: Pick<CliOptions, 'json' | 'pollMs'>;
    print: Print;
  },
): Promise<CommandOutcome> {
  const { executionArn, workflow, options, print } = run;
  let itemsPerBatch: number | undefined;
  if (run.input.load !== undefined) {
    try {
      itemsPerBatch = parseLoad(run.input.load).itemsPerBatch;
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
    }
  }
  const result = await followExecution(sfn, executionArn, {
    pollMs: options.pollMs,
    ...(itemsPerBatch === undefined ? {} : { itemsPerBatch }),
    ...(options.json ? {} : { line: print }),
  });
  const succeeded = result.status === 'SUCCEEDED';
  const failure = succeeded ? undefined : explainFailure(result.error, result.cause);
  if (!options.json) {
    print(`${workflow} ${result.status} in ${formatDuration(result.durationMs)}`);
    if (succeeded) for (const line of outputSummary(result.output)) print(`  ${line}`);
    else if (failure) {
      print(`  State  ${result.failedState ?? '(unknown)'}`);
      print(`  Error  ${failure.error}`);
      print(`  Cause  ${failure.cause}`);
      print(`  Means  ${failure.meaning}`);
    }
  }
  return {
    exitCode: succeeded ? ExitCode.Ok : ExitCode.Failed,
    json: {
      executionArn,
      workflow,
      status: result.status,
      durationMs: result.durationMs,
      retries: result.retries,
      ...(succeeded ? { output: result.output } : { failedState: result.failedState ?? null, ...failure }),
    },
  };
}

/** The lines worth showing of a workflow's output: the verdicts' summaries. */
function outputSummary(output: unknown): string[] {
  if (!output || typeof output !== 'object') return [];
  const o = output as Record<string, unknown>;
  const lines: string[] = [];
  for (const key of ['scaling', 'replication']) {
    const summary = (o[key] as { summary?: unknown } | undefined)?.summary;
    if (typeof summary === 'string') lines.push(summary);
  }
  if (typeof o.summary === 'string') lines.push(o.summary);
  return lines;
}
