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

/** What happened to a pod's process, as the launcher saw it (every start, restart and exit). */
export type PodEvent =
  | { kind: 'started'; pod: string; pid: number | null }
  | { kind: 'restarted'; pod: string; pid: number | null; restart: number }
  | { kind: 'exited'; pod: string; pid: number | null; code: number | null; signal: string | null };

/** "pod 3fa9c1-7b2d0 started (pid 9212)", "… exited: killed by SIGKILL", "… restarted (restart 1, pid 9340)". */
export function describePodEvent(event: PodEvent, name: string): string {
  const pid = event.pid === null ? '' : `pid ${event.pid}`;
  switch (event.kind) {
    case 'started':
      return `pod ${name} started${pid ? ` (${pid})` : ''}`;
    case 'restarted':
      return `pod ${name} restarted (restart ${event.restart}${pid ? `, ${pid}` : ''})`;
    default:
      return `pod ${name} exited: ${event.signal ? `killed by ${event.signal}` : `code ${event.code}`}`;
  }
}

/**
 * A launcher that records every worker process it starts in processes.json and reports each start, restart
 * (a second launch for the same pod: the cluster's restartPolicy Always) and exit, then lets the real
 * launcher start it.
 */
export class RecordingLauncher implements WorkerLauncher {
  private readonly launches = new Map<string, number>();

  constructor(
    private readonly inner: WorkerLauncher,
    private readonly log: ProcessLog,
    private readonly onPodEvent: (event: PodEvent) => void = () => {},
  ) {}

  launch(spec: LaunchSpec): LaunchedWorker {
    const worker = this.inner.launch(spec);
    this.log.worker(spec.podName, worker.pid, spec.port);
    const pod = spec.podName;
    const pid = worker.pid ?? null;
    const restart = this.launches.get(pod) ?? 0;
    this.launches.set(pod, restart + 1);
    this.onPodEvent(restart === 0 ? { kind: 'started', pod, pid } : { kind: 'restarted', pod, pid, restart });
    void worker.exited.then(({ code, signal }) =>
      this.onPodEvent({ kind: 'exited', pod, pid, code, signal }),
    );
    return worker;
  }
}
