/**
 * `streamfleet`: the operator's command line (bin/streamfleet.mjs runs it). Parses the arguments, reads the
 * input, runs the command, prints, and maps what went wrong to an exit code and a message that says what to
 * do: 2 for bad arguments or input (the field named), 3 for something to reach that is not there, 1 when the
 * workflow (or the fleet's health) failed.
 */
import { readFileSync } from 'node:fs';
import { InvalidInputError, PreconditionError, StreamfleetError } from '../core/errors.js';
import { parseFleet } from '../core/fleet.js';
import { Workflow } from '../core/workflows.js';
import { type CliOptions, Command, ExitCode, parseCli, UsageError } from './args.js';
import { type Env, lastSucceededInput, regionOf, sfnClient, stateMachineArn } from './aws.js';
import { manifestsYaml } from './manifests.js';
import { runMigrate } from './migrate.js';
import { fleetStatus, renderStatus } from './status.js';
import { checkInput, runWorkflow } from './workflow.js';

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

/** The input a command runs with: --input, else the fleet of the last successful setup execution. */
async function commandInput(options: CliOptions, region: string): Promise<Record<string, unknown>> {
  if (options.input !== undefined) return readInput(options.input);
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
  const region = regionOf(options.region, io.env);
  if (options.command === Command.Migrate) return runMigrate(options, region, print);
  const input = await commandInput(options, region);
  switch (options.command) {
    case Command.Setup:
    case Command.Verify:
    case Command.Teardown: {
      const body =
        options.command === Command.Teardown && options.deleteTables
          ? { ...input, deleteTables: true }
          : input;
      checkInput(options.command, body);
      const sfn = sfnClient(region);
      try {
        const workflow = options.command as Workflow;
        const arn = await stateMachineArn(sfn, workflow, {
          stack: options.stack,
          arn: options.stateMachineArn,
          region,
        });
        const outcome = await runWorkflow(sfn, { ...options, command: options.command }, arn, body, print);
        if (options.json) print(JSON.stringify(outcome.json, null, 2));
        return outcome.exitCode;
      } finally {
        sfn.destroy();
      }
    }
    case Command.Status: {
      const fleet = parseFleet(input.fleet);
      const status = await fleetStatus({
        fleet,
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
      const fleet = parseFleet(input.fleet);
      io.stdout(
        await manifestsYaml({
          fleet,
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
    if (error instanceof UsageError || error instanceof InvalidInputError) {
      io.stderr(`streamfleet ${options.command}: ${error.message}\n`);
      return ExitCode.Usage;
    }
    if (error instanceof PreconditionError || error instanceof StreamfleetError) {
      io.stderr(`streamfleet ${options.command}: ${error.message}\n`);
      return ExitCode.Unavailable;
    }
    const e = error as { name?: string; message?: string };
    const hint =
      e.name === 'CredentialsProviderError'
        ? ' What to do: configure AWS credentials (aws configure, AWS_PROFILE, or the variables), or for npm start source its streamfleet.env.'
        : e.name === 'ECONNREFUSED' || /ECONNREFUSED/.test(e.message ?? '')
          ? ' What to do: check the endpoint (AWS_ENDPOINT_URL_SFN for npm start -- --keep-running, which must still run).'
          : '';
    io.stderr(
      `streamfleet ${options.command}: ${e.name ?? 'Error'}: ${e.message ?? String(error)}.${hint}\n`,
    );
    return ExitCode.Unavailable;
  }
}
