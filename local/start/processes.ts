/**
 * Which processes this run started, written to `processes.json` beside the report as soon as each starts:
 * the run itself, DynamoDB Local (its guard's pid and port) and every worker process the local cluster
 * launched (restarts included). A person or a test can check from it that nothing outlived the run.
 */
import { writeFileSync } from 'node:fs';
import type { LaunchedWorker, LaunchSpec, WorkerLauncher } from '../cluster/index.js';

export interface ProcessRecord {
  main: number;
  /** The port is chosen (and written here) before Java starts; the pid is its guard's, once started. */
  dynamodbLocal: { pid: number | null; port: number } | null;
  workers: { pod: string; pid: number | null; port: number; startedAt: string }[];
}

export class ProcessLog {
  readonly record: ProcessRecord = { main: process.pid, dynamodbLocal: null, workers: [] };

  constructor(private readonly file: string | undefined) {
    this.save();
  }

  dynamodbLocal(pid: number | null, port: number): void {
    this.record.dynamodbLocal = { pid, port };
    this.save();
  }

  worker(pod: string, pid: number | undefined, port: number): void {
    this.record.workers.push({ pod, pid: pid ?? null, port, startedAt: new Date().toISOString() });
    this.save();
  }

  /** Worker pids that are still alive. */
  liveWorkers(): number[] {
    return this.record.workers.map((w) => w.pid).filter((pid): pid is number => pid !== null && isAlive(pid));
  }

  private save(): void {
    if (!this.file) return;
    try {
      writeFileSync(this.file, `${JSON.stringify(this.record, null, 2)}\n`);
    } catch {
      // For reading only; a failed write changes nothing.
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A launcher that records every worker it starts, then lets the real one start it. */
export class RecordingLauncher implements WorkerLauncher {
  constructor(
    private readonly inner: WorkerLauncher,
    private readonly log: ProcessLog,
  ) {}

  launch(spec: LaunchSpec): LaunchedWorker {
    const worker = this.inner.launch(spec);
    this.log.worker(spec.podName, worker.pid, spec.port);
    return worker;
  }
}
