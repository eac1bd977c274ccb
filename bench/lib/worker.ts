/**
 * A worker process (`node dist/consumer.js`, exactly what the container runs) that the bench watches through
 * its /metrics, its logs and /proc, and always stops again. Started through local/worker as the test suite's
 * WorkerProcess and the local cluster's pods are, plus a `bundle` option so a prototype build can be measured
 * against the real one in the same run.
 */
import type { ChildProcess } from 'node:child_process';
import { systemClock } from '../../core/vocabulary/clock.js';
import { freePort } from '../../local/dynamodb-local.js';
import { workerEnvironment } from '../../local/worker/environment.js';
import { hasLoggedEvent } from '../../local/worker/events.js';
import { type SpawnedWorker, spawnWorker, type WorkerExit } from '../../local/worker/process.js';
import type { ReplicationTables } from '../../test/support/fleet.js';
import { onCleanup } from './cleanup.js';
import { type Scrape, scrape, total } from './metrics.js';
import { cpuSeconds, statusKb } from './proc.js';

export class BenchWorker {
  readonly child: ChildProcess;
  readonly exitedPromise: Promise<WorkerExit>;
  /** Epoch ms just before spawn. */
  readonly startedAt: number;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly worker: SpawnedWorker,
    private readonly release: () => Promise<void>,
  ) {
    this.child = worker.child;
    this.exitedPromise = worker.exited;
    this.startedAt = worker.spawnedAt;
  }

  /** What the worker wrote (the newest 2 to 4 MB of it). */
  get output(): string {
    return this.worker.output();
  }

  static async start(options: {
    endpoint: string;
    tables: ReplicationTables;
    name: string;
    env?: Record<string, string | undefined>;
    /** Another build of the worker (default: $BENCH_CONSUMER_BUNDLE, else dist/consumer.js). */
    bundle?: string;
  }): Promise<BenchWorker> {
    const bundle = options.bundle ?? process.env.BENCH_CONSUMER_BUNDLE;
    const port = await freePort();
    const env = workerEnvironment({
      endpoint: options.endpoint,
      tables: options.tables,
      region: 'us-east-1',
      instanceName: options.name,
      port,
      ...(options.env ? { settings: options.env } : {}),
    });
    const worker = spawnWorker({
      env,
      ...(bundle ? { bundle } : {}),
      builtBy: 'npm run bench does',
      output: { limit: 4_000_000, keep: 2_000_000 },
    });
    // Stopped by the bench's cleanups on every exit path (and SIGKILLed from the exit event like every worker).
    const release = onCleanup(`worker ${options.name}`, async () => {
      if (worker.hasExited()) return;
      worker.kill('SIGKILL');
      await worker.exited;
    });
    return new BenchWorker(options.name, port, worker, release);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.worker.hasExited();
  }

  /** Waits until the worker logs the structured event `name` (its JSON line's stable `event` field). */
  async waitForEvent(name: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!hasLoggedEvent(this.output, name)) {
      if (this.exited)
        throw new Error(`${this.name} exited before reporting ${name}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`${this.name} did not report ${name}:\n${this.output.slice(-3000)}`);
      await systemClock.sleep(50);
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
      await systemClock.sleep(options.intervalMs ?? 50);
    }
  }

  peakRssKb(): number | undefined {
    return this.pid === undefined ? undefined : statusKb(this.pid, 'VmHWM');
  }

  cpuSeconds(): number | undefined {
    return cpuSeconds(this.pid);
  }

  signal(signal: NodeJS.Signals): void {
    this.worker.kill(signal);
  }

  /** SIGKILL (the default) or a graceful SIGTERM; waits for the exit either way. */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL', timeoutMs = 30_000): Promise<void> {
    if (signal === 'SIGTERM' && !this.exited) {
      this.worker.kill('SIGTERM');
      await Promise.race([this.exitedPromise, systemClock.sleep(timeoutMs)]);
    }
    await this.release();
  }
}
