/**
 * Runs `npm start`'s program the way a person's terminal does, in its own process group: `npm exec -- node
 * --import tsx local/start.ts` (npm → sh → node, the tree `npm start` makes after its build step; `npm test`
 * has built dist/ already, and rebuilding it here would rewrite the bundle under other test files' workers).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

/** What package.json's start script runs after its build step (checked against it by start.test.ts). */
export const START_COMMAND = ['node', '--import', 'tsx', 'local/start.ts'];

export interface StartProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches; rejects after `timeoutMs` or once the run has gone without it. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What a terminal's Ctrl-C does: SIGINT to every process of the foreground group. */
  interrupt(): void;
  /** Last resort in a failed test: SIGKILL the whole group. */
  kill(): void;
}

export function startNpmStart(args: string[], env: NodeJS.ProcessEnv = {}): StartProcess {
  const child = spawn('npm', ['exec', '--no', '--', ...START_COMMAND, ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  let text = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // Output may still arrive after npm exits (its child's last words): the pipes close only when every
  // process holding them has gone.
  let closed = false;
  child.once('close', () => {
    closed = true;
    for (const listener of listeners) listener();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  const group = child.pid as number;
  return {
    child,
    output: () => text,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise<void>((resolveWait, reject) => {
        const check = () => {
          if (pattern.test(text)) finish();
          else if (closed) finish(new Error(`exited before ${pattern} appeared:\n${text.slice(-3000)}`));
        };
        const finish = (error?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolveWait();
        };
        const timer = setTimeout(
          () => finish(new Error(`${pattern} did not appear within ${timeoutMs} ms:\n${text.slice(-3000)}`)),
          timeoutMs,
        );
        listeners.add(check);
        check();
      }),
    interrupt: () => process.kill(-group, 'SIGINT'),
    kill: () => {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // gone
      }
    },
  };
}

export interface ProcessRecord {
  main: number;
  dynamodbLocal: { pid: number | null; port: number } | null;
  workers: { pod: string; pid: number | null; port: number }[];
}

export function readProcesses(reportDir: string): ProcessRecord | undefined {
  const file = join(reportDir, 'processes.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ProcessRecord) : undefined;
}

/** pgrep's pids for a full-command-line pattern (none: an empty list). */
export function pgrep(args: string[]): number[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * What is still running of a run, polled for up to `withinMs` (a child such as tsx's esbuild service exits
 * just after its parent; Java's guard checks every second): every process of the run's group, the Java and
 * guard it started (by the port and pid it recorded) and the workers it launched (by pid).
 */
export async function leftovers(
  group: number,
  reportDir: string,
  withinMs = 10_000,
): Promise<Record<string, number[]>> {
  const record = readProcesses(reportDir);
  let found: Record<string, number[]> = {};
  for (let attempt = 0; attempt < withinMs / 500; attempt++) {
    const workerPids = new Set((record?.workers ?? []).map((w) => w.pid).filter((p) => p !== null));
    found = {
      group: pgrep(['-g', String(group)]),
      java: record?.dynamodbLocal ? pgrep(['-f', '--', `-port ${record.dynamodbLocal.port} -sharedDb`]) : [],
      guard: record ? pgrep(['-f', `ddb-local-guard ${record.main} `]) : [],
      workers: pgrep(['-f', 'dist/consumer.js']).filter((pid) => workerPids.has(pid)),
    };
    if (Object.values(found).every((pids) => pids.length === 0)) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
  return found;
}
