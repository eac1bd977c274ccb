/**
 * `npm start`: Streamfleet's whole story on one machine (see local/start/run.ts and README's first section).
 * This file only parses the options, maps failures to exit codes, and stops everything on every exit path:
 * normal end, error, SIGINT (Ctrl-C) and SIGTERM.
 *
 * It runs as `node --import tsx local/start.ts`, one process, and not under the `tsx` command: tsx's parent
 * process relays a signal and SIGKILLs its child when the child has not acknowledged it within about 60 ms,
 * which on a busy machine killed this program before it could stop its workers and DynamoDB Local.
 */
import { HELP, parseStartOptions, UsageError } from './start/options.js';
import { MissingPrerequisiteError } from './start/prerequisites.js';
import { LocalRun } from './start/run.js';
import { describeInterruption, ExitCode } from './start/run-output.js';
import { describeStopOutcome } from './start/services.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let run: LocalRun | undefined;
let exiting = false;
/** The verdict's exit code once known: Ctrl-C during --keep-running keeps it. */
let verdictCode: number | undefined;

// `npm start | head` closes the pipe early: that is no reason to stop halfway without cleaning up.
process.stdout.on('error', () => {});

async function finish(code: number, graceMs?: number): Promise<never> {
  exiting = true;
  try {
    await run?.stop(graceMs);
  } finally {
    process.exit(code);
  }
}

let firstSignalAt = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    const now = Date.now();
    // A terminal's Ctrl-C may reach this process twice (directly, and relayed by npm): one stop is enough.
    if (firstSignalAt > 0) {
      if (now - firstSignalAt > 1_500) {
        process.stderr.write(`\n${signal} again: killing everything now.\n`);
        process.exit(ExitCode.Interrupted);
      }
      return;
    }
    firstSignalAt = now;
    exiting = true;
    if (!run) process.exit(verdictCode ?? ExitCode.Interrupted);
    // Once the verdict is known (--keep-running), the report is whole: stop without rewriting it.
    const finished = verdictCode !== undefined;
    process.stderr.write(
      `\n${signal}: ${finished ? '' : 'writing a partial report, then '}stopping the workers and DynamoDB Local ...\n`,
    );
    const said = finished
      ? run.stop(6_000).then((stopped) => [`stopped ${describeStopOutcome(stopped)}.`])
      : run.interrupt(signal, 6_000).then((result) => describeInterruption(result));
    void said
      .then((lines) => process.stderr.write(`${lines.join('\n')}\n`))
      .finally(() => process.exit(verdictCode ?? ExitCode.Interrupted));
  });
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseStartOptions>;
  try {
    options = parseStartOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`npm start: ${error.message}\n`);
      process.exit(ExitCode.Usage);
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    process.exit(0);
  }
  run = new LocalRun(options, { stdout: process.stdout, stderr: process.stderr });
  const result = await run.run();
  if (exiting) return; // interrupted: the signal handler reports and exits
  verdictCode = result.exitCode;
  if (options.keepRunning && !exiting) await run.keepRunning();
  await finish(result.exitCode);
}

main().catch(async (error: unknown) => {
  if (exiting) return;
  if (error instanceof MissingPrerequisiteError) {
    process.stderr.write(`npm start: ${error.message}\n`);
    await finish(ExitCode.MissingPrerequisite);
  }
  process.stderr.write(
    `npm start failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await finish(ExitCode.Failed);
});
