/**
 * `streamfleet`: the operator's command line (bin/streamfleet.mjs runs it). Parses the arguments, reads the
 * input, runs the command, prints, and maps what went wrong to an exit code and a message that says what to
 * do (cli/errors.ts): 2 for bad arguments or input (the field named), 3 for something to reach that is not
 * there, 1 when the workflow (or the fleet's health) failed.
 *
 * Only the argument parser is loaded up front: each command loads the SDK clients it calls when it runs,
 * so `--help` and a usage error answer without loading any of them.
 */
import { readFileSync } from 'node:fs';
import { type CliOptions, Command, type Env, ExitCode, parseCli, regionOf, UsageError } from './args.js';
import { explainError } from './errors.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Env;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
};

function readInput(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--input ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--input ${path}: not JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`--input ${path}: expected an object such as { "fleet": { … } }`);
  }
  return value as Record<string, unknown>;
}

/** The input with what a command adds to it (teardown's --delete-tables), checked as the workflow would. */
async function checkedInput(
  options: CliOptions,
  input: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const body =
    options.command === Command.Teardown && options.deleteTables ? { ...input, deleteTables: true } : input;
  if (options.command === Command.Status || options.command === Command.Manifests) {
    const { parseFleet } = await import('../core/fleet/fleet.js');
    parseFleet(body.fleet);
  } else {
    const { checkInput } = await import('./workflow.js');
    checkInput(options.command, body);
  }
  return body;
}

/** The fleet of the newest successful setup execution, for commands run without --input. */
async function lastSetupInput(options: CliOptions, region: string): Promise<Record<string, unknown>> {
  const [{ lastSucceededInput, sfnClient, stateMachineArn }, { Workflow }] = await Promise.all([
    import('./aws.js'),
    import('../core/workflows.js'),
  ]);
  const sfn = sfnClient(region);
  try {
    const setupArn = await stateMachineArn(sfn, Workflow.Setup, {
      stack: options.stack,
      arn: undefined,
      region,
    });
    const last = (await lastSucceededInput(sfn, setupArn)) as { fleet?: unknown } | undefined;
    if (last?.fleet === undefined) {
      throw new UsageError(
        `${options.command} needs --input FILE: no setup execution of ${options.stack}-setup has succeeded yet to take the fleet from`,
      );
    }
    return { fleet: last.fleet };
  } finally {
    sfn.destroy();
  }
}

async function run(options: CliOptions, io: CliIo): Promise<number> {
  const print = (line: string) => io.stdout(`${line}\n`);
  const report = (outcome: { exitCode: number; json: unknown }) => {
    if (options.json) print(JSON.stringify(outcome.json, null, 2));
    return outcome.exitCode;
  };
  if (options.command === Command.Follow) {
    const region = regionOf(options.region, io.env);
    const [{ sfnClient }, { followCommand }] = await Promise.all([
      import('./aws.js'),
      import('./workflow.js'),
    ]);
    const sfn = sfnClient(region);
    try {
      return report(
        await followCommand(sfn, { ...options, executionArn: options.executionArn as string }, print),
      );
    } finally {
      sfn.destroy();
    }
  }
  if (options.command === Command.Migrate) {
    const { runMigrate } = await import('./migrate.js');
    return runMigrate(options, regionOf(options.region, io.env), print);
  }
  // What the person gave is checked first: a missing or wrong input file is the first thing to fix.
  const given =
    options.input === undefined ? undefined : await checkedInput(options, readInput(options.input));
  const region = regionOf(options.region, io.env);
  const input = given ?? (await checkedInput(options, await lastSetupInput(options, region)));
  switch (options.command) {
    case Command.Setup:
    case Command.Verify:
    case Command.Teardown: {
      const [{ sfnClient, stateMachineArn }, { runWorkflow }] = await Promise.all([
        import('./aws.js'),
        import('./workflow.js'),
      ]);
      const sfn = sfnClient(region);
      try {
        const workflow = options.command;
        const arn = await stateMachineArn(sfn, workflow, {
          stack: options.stack,
          arn: options.stateMachineArn,
          region,
        });
        const outcome = await runWorkflow(sfn, { ...options, command: workflow }, arn, input, print);
        if (!options.follow) {
          const { executionArn } = outcome.json as { executionArn: string };
          io.stderr(`follow it with: npx streamfleet follow ${executionArn}\n`);
        }
        return report(outcome);
      } finally {
        sfn.destroy();
      }
    }
    case Command.Status: {
      const [{ parseFleet }, { fleetStatus, renderStatus }] = await Promise.all([
        import('../core/fleet/fleet.js'),
        import('./status.js'),
      ]);
      const status = await fleetStatus({
        fleet: parseFleet(input.fleet),
        region,
        context: options.context,
        sampleLeases: options.sampleLeases,
        env: io.env,
      });
      if (options.json) print(JSON.stringify(status, null, 2));
      else for (const line of renderStatus(status)) print(line);
      return status.healthy ? ExitCode.Ok : ExitCode.Failed;
    }
    case Command.Manifests: {
      const [{ parseFleet }, { manifestsYaml }] = await Promise.all([
        import('../core/fleet/fleet.js'),
        import('./manifests.js'),
      ]);
      io.stdout(
        await manifestsYaml({
          fleet: parseFleet(input.fleet),
          region,
          streamArn: options.streamArn,
          roleArn: options.roleArn,
          accountId: options.accountId,
          env: io.env,
        }),
      );
      return ExitCode.Ok;
    }
  }
}

/** Runs one command line; returns the exit code. Never throws. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let options: CliOptions | { help: string };
  try {
    options = parseCli(argv);
  } catch (error) {
    io.stderr(`streamfleet: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.Usage;
  }
  if ('help' in options) {
    io.stdout(options.help);
    return ExitCode.Ok;
  }
  try {
    return await run(options, io);
  } catch (error) {
    const failure = explainError(error, io.env);
    io.stderr(`streamfleet ${options.command}: ${failure.message}\n`);
    return failure.exitCode;
  }
}
