/**
 * One worker process, `node dist/consumer.js` (what the container runs), started with an environment
 * (environment.ts) and watched: its output kept (all of it, or the newest part), its exit as a promise, and a
 * kill that does nothing once it has gone. The local cluster's launcher, the tests' WorkerProcess and the
 * bench's BenchWorker all start workers through `spawnWorker`.
 *
 * A worker never outlives this process on purpose: every one still running is SIGKILLed from the `exit`
 * event; one started with `orphanGuard` also stops by itself when this process is killed outright
 * (orphan-guard.mjs), which no exit hook can cover.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** `dist/consumer.js` of this checkout: what the container image runs. */
export const CONSUMER_BUNDLE = resolve(import.meta.dirname, '../../dist/consumer.js');

/** Stops a worker whose parent died without stopping it. */
const ORPHAN_GUARD = pathToFileURL(resolve(import.meta.dirname, 'orphan-guard.mjs')).href;

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnWorkerOptions {
  env: Record<string, string>;
  /** Another build of the worker. Default: CONSUMER_BUNDLE. */
  bundle?: string;
  /** Who builds the bundle, said when it is missing ("npm test does"). */
  builtBy?: string;
  /** Keep the newest `keep` characters of output once it passes `limit`. Default: keep everything. */
  output?: { limit: number; keep: number };
  /** Preload orphan-guard.mjs, so the worker stops when this process dies without stopping it. */
  orphanGuard?: boolean;
}

export interface SpawnedWorker {
  readonly child: ChildProcess;
  readonly pid: number | undefined;
  /** Epoch ms just before the spawn. */
  readonly spawnedAt: number;
  readonly exited: Promise<WorkerExit>;
  hasExited(): boolean;
  /** Sends `signal` unless the process has exited. */
  kill(signal: NodeJS.Signals): void;
  /** What the process wrote to stdout and stderr, interleaved as it arrived (the newest part, if limited). */
  output(): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** Throws what to run when the bundle has not been built. */
export function requireBundle(bundle: string, builtBy?: string): void {
  if (!existsSync(bundle)) {
    throw new Error(`${bundle} is missing: run "npm run build" first${builtBy ? ` (${builtBy})` : ''}.`);
  }
}

export function spawnWorker(options: SpawnWorkerOptions): SpawnedWorker {
  const bundle = options.bundle ?? CONSUMER_BUNDLE;
  requireBundle(bundle, options.builtBy);
  installExitHook();
  const args = options.orphanGuard ? ['--import', ORPHAN_GUARD, bundle] : [bundle];
  const env = options.orphanGuard
    ? { ...options.env, STREAMFLEET_PARENT_PID: String(process.pid) }
    : options.env;
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let text = '';
  const limit = options.output?.limit ?? Number.POSITIVE_INFINITY;
  const keep = options.output?.keep ?? limit;
  const collect = (chunk: Buffer) => {
    text += chunk.toString();
    if (text.length > limit) text = text.slice(-keep);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  const exited = new Promise<WorkerExit>((resolveExit) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolveExit({ code, signal });
    });
  });
  return {
    child,
    pid: child.pid,
    spawnedAt,
    exited,
    hasExited,
    kill: (signal) => {
      if (!hasExited()) child.kill(signal);
    },
    output: () => text,
  };
}
