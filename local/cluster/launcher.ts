/**
 * How the local cluster runs a pod: one `node dist/consumer.js` child process (local/worker/process.ts, with
 * the orphan guard) with the pod's environment, its own port for /healthz, /readyz and /metrics, and the last
 * 8 kB of its output. A launcher is an interface so unit tests can run the scaler against fake pods.
 */
import { CONSUMER_BUNDLE, spawnWorker, type WorkerExit } from '../worker/process.js';

export { CONSUMER_BUNDLE };

export interface LaunchSpec {
  podName: string;
  env: Record<string, string>;
  /** The port the pod's PORT variable names. */
  port: number;
}

export interface LaunchedWorker {
  readonly pid: number | undefined;
  readonly exited: Promise<WorkerExit>;
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

export class ProcessLauncher implements WorkerLauncher {
  /** `output`: how much of each process's output to keep (default the last 8 kB; tests read more). */
  constructor(
    private readonly bundle = CONSUMER_BUNDLE,
    private readonly output = { limit: 8_000, keep: 8_000 },
  ) {}

  launch(spec: LaunchSpec): LaunchedWorker {
    const worker = spawnWorker({
      env: spec.env,
      bundle: this.bundle,
      output: this.output,
      orphanGuard: true,
    });
    return {
      pid: worker.pid,
      exited: worker.exited,
      hasExited: worker.hasExited,
      kill: worker.kill,
      output: worker.output,
      probeReady: async () => {
        if (worker.hasExited()) return false;
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
