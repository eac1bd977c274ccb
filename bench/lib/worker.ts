/**
 * A worker process (`node dist/consumer.js`, exactly what the container runs) that the bench watches through
 * its /metrics, its logs and /proc, and always stops again. Built like the test suite's WorkerProcess, plus a
 * `bundle` option so a prototype build can be measured against the real one in the same run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from '../../local/dynamodb-local.js';
import { BUNDLE, type ReplicationTables } from '../../test/support/fleet.js';
import { onCleanup } from './cleanup.js';
import { type Scrape, scrape, total } from './metrics.js';
import { cpuSeconds, statusKb } from './proc.js';
import { sleep } from './stats.js';

export class BenchWorker {
  output = '';
  readonly exitedPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly child: ChildProcess,
    /** Epoch ms just before spawn. */
    readonly startedAt: number,
    private readonly release: () => Promise<void>,
  ) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
      if (this.output.length > 4_000_000) this.output = this.output.slice(-2_000_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exitedPromise = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null)
        resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  static async start(options: {
    endpoint: string;
    tables: ReplicationTables;
    name: string;
    env?: Record<string, string | undefined>;
    /** Another build of the worker (default: $BENCH_CONSUMER_BUNDLE, else dist/consumer.js). */
    bundle?: string;
  }): Promise<BenchWorker> {
    const bundle = options.bundle ?? process.env.BENCH_CONSUMER_BUNDLE ?? BUNDLE;
    if (!existsSync(bundle))
      throw new Error(`${bundle} is missing: run "npm run build" first (npm run bench does).`);
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      AWS_ENDPOINT_URL: options.endpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SOURCE_TABLE_STREAM_ARN: options.tables.streamArn,
      TARGET_TABLE_NAME: options.tables.target,
      APPLICATION_NAME: options.tables.app,
      AWS_REGION: 'us-east-1',
      INSTANCE_NAME: options.name,
      PORT: String(port),
    };
    for (const [key, value] of Object.entries(options.env ?? {})) if (value !== undefined) env[key] = value;
    const startedAt = Date.now();
    // Not spawnTracked: the cleanup below kills it, and so does the exit handler through `release`.
    const child = spawn(process.execPath, [bundle], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', kill);
    const release = onCleanup(`worker ${options.name}`, async () => {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    });
    return new BenchWorker(options.name, port, child, startedAt, release);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Waits until the worker logs the structured event `name` (its JSON line's stable `event` field). */
  async waitForEvent(name: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const marker = `"event":"${name}"`;
    while (!this.output.includes(marker)) {
      if (this.exited)
        throw new Error(`${this.name} exited before reporting ${name}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`${this.name} did not report ${name}:\n${this.output.slice(-3000)}`);
      await sleep(50);
    }
  }

  async scrape(): Promise<Scrape> {
    return scrape(this.port);
  }

  /** A counter summed over its labels; undefined while /metrics does not answer yet. */
  async counter(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    try {
      return total(await this.scrape(), name, labels);
    } catch {
      return undefined;
    }
  }

  /** Polls `name` every `intervalMs` until `done(value)`; returns the epoch ms of the sample that said so. */
  async waitForCounter(
    name: string,
    done: (value: number) => boolean,
    options: { timeoutMs: number; intervalMs?: number; labels?: Record<string, string> },
  ): Promise<{ at: number; value: number }> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`${this.name} exited early:\n${this.output.slice(-3000)}`);
      const value = await this.counter(name, options.labels);
      const at = Date.now();
      if (value !== undefined && done(value)) return { at, value };
      if (at > deadline)
        throw new Error(
          `${this.name}: ${name} = ${value} after ${options.timeoutMs} ms\n${this.output.slice(-3000)}`,
        );
      await sleep(options.intervalMs ?? 50);
    }
  }

  peakRssKb(): number | undefined {
    return this.pid === undefined ? undefined : statusKb(this.pid, 'VmHWM');
  }

  cpuSeconds(): number | undefined {
    return cpuSeconds(this.pid);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGKILL (the default) or a graceful SIGTERM; waits for the exit either way. */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL', timeoutMs = 30_000): Promise<void> {
    if (signal === 'SIGTERM' && !this.exited) {
      this.child.kill('SIGTERM');
      await Promise.race([this.exitedPromise, sleep(timeoutMs)]);
    }
    await this.release();
  }
}
