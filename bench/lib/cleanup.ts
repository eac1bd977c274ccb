/**
 * Everything the bench starts is stopped on every exit path: normal end, an exception, Ctrl-C, SIGTERM,
 * SIGHUP. Async cleanups run newest first, each bounded in time; child processes are also SIGKILLed
 * synchronously from the `exit` event, which runs even when an async cleanup could not.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

type Cleanup = () => Promise<unknown> | unknown;

const cleanups: { name: string; run: Cleanup }[] = [];
const children = new Set<ChildProcess>();
let installed = false;
let exiting = false;

/** Registers a cleanup; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(name: string, run: Cleanup): () => Promise<void> {
  const entry = { name, run };
  cleanups.push(entry);
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
    await run();
  };
}

/** Runs every registered cleanup, newest first; each gets at most `timeoutMs`. */
export async function runCleanups(timeoutMs = 10_000): Promise<void> {
  while (cleanups.length > 0) {
    const entry = cleanups.pop();
    if (!entry) break;
    try {
      await Promise.race([
        Promise.resolve().then(entry.run),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    } catch (error) {
      process.stderr.write(`bench: cleanup ${entry.name} failed: ${String(error)}\n`);
    }
  }
  killChildren();
}

function killChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** spawn(), remembered so that it is killed on every exit path. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Signals and fatal errors run the cleanups, then exit. Idempotent. */
export function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  const bail = (code: number, why: string) => {
    if (exiting) {
      process.stderr.write(`bench: ${why} again; exiting now\n`);
      killChildren();
      process.exit(code);
    }
    exiting = true;
    process.stderr.write(`\nbench: ${why}; stopping everything it started...\n`);
    runCleanups().finally(() => process.exit(code));
  };
  process.on('SIGINT', () => bail(130, 'interrupted'));
  process.on('SIGTERM', () => bail(143, 'terminated'));
  process.on('SIGHUP', () => bail(129, 'hung up'));
  process.on('uncaughtException', (error) => {
    process.stderr.write(`bench: uncaught ${error.stack ?? String(error)}\n`);
    bail(1, 'uncaught exception');
  });
  process.on('unhandledRejection', (error) => {
    process.stderr.write(
      `bench: unhandled rejection ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    bail(1, 'unhandled rejection');
  });
  process.on('exit', killChildren);
}
