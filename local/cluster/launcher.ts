/**
 * How the local cluster runs a pod: one `node dist/consumer.js` child process with the pod's environment, its
 * own port for /healthz, /readyz and /metrics, and output kept in a ring buffer. A launcher is an interface so
 * unit tests can run the scaler against fake pods.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** `dist/consumer.js` of this checkout: what the container image runs. */
export const CONSUMER_BUNDLE = resolve(import.meta.dirname, '../../dist/consumer.js');

/** Stops a worker whose parent died without stopping it (see orphan-guard.mjs). */
const ORPHAN_GUARD = pathToFileURL(resolve(import.meta.dirname, 'orphan-guard.mjs')).href;

export interface LaunchSpec {
  podName: string;
  env: Record<string, string>;
  /** The port the pod's PORT variable names. */
  port: number;
}

export interface LaunchedWorker {
  readonly pid: number | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  hasExited(): boolean;
  kill(signal: NodeJS.Signals): void;
  /** The last few kilobytes the process wrote. */
  output(): string;
  /** GET /readyz answered 200. */
  probeReady(): Promise<boolean>;
}

export interface WorkerLauncher {
  launch(spec: LaunchSpec): LaunchedWorker;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A runtime that exits without stopping its cluster must not leave workers behind (one that is killed
  // outright cannot run this hook: orphan-guard.mjs covers that).
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export class ProcessLauncher implements WorkerLauncher {
  constructor(private readonly bundle = CONSUMER_BUNDLE) {}

  launch(spec: LaunchSpec): LaunchedWorker {
    if (!existsSync(this.bundle)) {
      throw new Error(`${this.bundle} is missing: run "npm run build" first.`);
    }
    installExitHook();
    const child = spawn(process.execPath, ['--import', ORPHAN_GUARD, this.bundle], {
      env: { ...spec.env, STREAMFLEET_PARENT_PID: String(process.pid) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let buffer = '';
    const collect = (chunk: Buffer) => {
      buffer = (buffer + chunk.toString()).slice(-8_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let done = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
      child.once('exit', (code, signal) => {
        done = true;
        live.delete(child);
        resolveExit({ code, signal });
      });
    });
    return {
      pid: child.pid,
      exited,
      hasExited: () => done,
      kill: (signal) => {
        if (!done) child.kill(signal);
      },
      output: () => buffer,
      probeReady: async () => {
        if (done) return false;
        try {
          const response = await fetch(`http://127.0.0.1:${spec.port}/readyz`, {
            signal: AbortSignal.timeout(1_000),
          });
          await response.arrayBuffer();
          return response.status === 200;
        } catch {
          return false;
        }
      },
    };
  }
}
