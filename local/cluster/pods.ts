/**
 * A pod's life on the local cluster: started as one worker process (the launcher) with its pod's environment
 * (local/worker/environment.ts: the Deployment's env, INSTANCE_NAME = pod name, its own PORT, and the role
 * session of its ServiceAccount, injected last as the pod identity webhook does), started again with a growing
 * backoff when its process exits on its own (restartPolicy Always), and stopped as the kubelet stops one:
 * SIGTERM, then SIGKILL after the grace period.
 */
import { randomBytes } from 'node:crypto';
import { freePort } from '../dynamodb-local.js';
import { type SessionCredentials, UNCHECKED_CREDENTIALS } from '../identities/sts.js';
import { workerEnvironment } from '../worker/environment.js';
import { ClusterEventKind, type ClusterEvents } from './events.js';
import type { WorkerLauncher } from './launcher.js';
import type { Pod, PodTemplate, Workload } from './workload.js';

export interface PodRunnerOptions {
  launcher: WorkerLauncher;
  events: ClusterEvents;
  /** Where every pod's AWS calls go (DynamoDB Local, or the strict layer in front of it). */
  endpoint: string;
  /** Variables added to every worker after the Deployment's own (like a node's injected settings). */
  workerEnv: Record<string, string> | undefined;
  /** Pause before a crashed worker is started again; doubled per restart up to 10 s. */
  restartBackoffMs: number;
  /** The workload's pod template as the Deployment has it now. */
  template(workload: Workload): PodTemplate | undefined;
  /** The session a pod of `serviceAccount` signs as. */
  credentials(namespace: string, serviceAccount: string, podName: string): Promise<SessionCredentials>;
  /** True once the cluster has stopped: nothing starts or restarts any more. */
  stopped(): boolean;
  /** Called when a pod started or stopped (the state file is written again). */
  changed(): void;
}

/** A pod's process before it is launched: no pid, never ready, nothing to kill. */
const NOT_LAUNCHED: Pod['worker'] = {
  pid: undefined,
  exited: Promise.resolve({ code: 0, signal: null }),
  hasExited: () => false,
  kill: () => {},
  output: () => '',
  probeReady: async () => false,
};

/** The crash-loop backoff: `baseMs` doubled per restart (from the second on) up to 16×, at most 10 s. */
export function restartBackoffMs(baseMs: number, restarts: number): number {
  return Math.min(baseMs * 2 ** Math.min(restarts - 1, 4), 10_000);
}

export class PodRunner {
  constructor(private readonly options: PodRunnerOptions) {}

  /** Adds a pod to the workload at once (so concurrent reconciles do not over-start) and starts its worker. */
  async start(workload: Workload): Promise<void> {
    const template = this.options.template(workload);
    if (!template) return;
    const podName = `${workload.name}-${randomBytes(3).toString('hex')}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const pod: Pod = {
      name: podName,
      port: 0,
      worker: NOT_LAUNCHED,
      ready: false,
      restarts: 0,
      stopping: false,
      templateHash: workload.templateHash,
      credentials: undefined,
    };
    workload.pods.push(pod);
    pod.port = await freePort();
    pod.credentials = await this.options.credentials(workload.namespace, template.serviceAccount, podName);
    if (pod.stopping || this.options.stopped()) {
      workload.pods = workload.pods.filter((p) => p !== pod);
      return;
    }
    this.launch(workload, pod, template.env);
    this.options.events.emit({ kind: ClusterEventKind.PodStarted, pod: podName, port: pod.port });
    this.options.changed();
  }

  /** SIGTERM, SIGKILL after the template's grace period; the pod leaves the workload once its process exited. */
  async stop(workload: Workload, pod: Pod): Promise<void> {
    if (pod.stopping) return;
    pod.stopping = true;
    pod.ready = false;
    const grace = (this.options.template(workload)?.grace ?? 30) * 1000;
    pod.worker.kill('SIGTERM');
    const killer = setTimeout(() => pod.worker.kill('SIGKILL'), grace);
    killer.unref();
    await pod.worker.exited;
    clearTimeout(killer);
    workload.pods = workload.pods.filter((p) => p !== pod);
    this.options.events.emit({ kind: ClusterEventKind.PodStopped, pod: pod.name });
    this.options.changed();
  }

  /** Asks the pod's worker whether it is ready (GET /readyz). */
  async probe(pod: Pod): Promise<void> {
    if (pod.stopping || pod.port === 0) return;
    pod.ready = await pod.worker.probeReady();
  }

  private launch(workload: Workload, pod: Pod, templateEnv: Record<string, string>): void {
    const { options } = this;
    pod.worker = options.launcher.launch({
      podName: pod.name,
      env: workerEnvironment({
        endpoint: options.endpoint,
        session: pod.credentials ?? UNCHECKED_CREDENTIALS,
        container: templateEnv,
        instanceName: pod.name,
        port: pod.port,
        ...(options.workerEnv ? { settings: options.workerEnv } : {}),
      }),
      port: pod.port,
    });
    pod.ready = false;
    void pod.worker.exited.then(({ code, signal }) => {
      pod.ready = false;
      if (pod.stopping || options.stopped()) return;
      // restartPolicy Always: the container starts again in the same pod.
      pod.restarts++;
      options.events.emit({
        kind: ClusterEventKind.PodExited,
        pod: pod.name,
        code,
        signal,
        restart: pod.restarts,
        output: pod.worker.output().slice(-600),
      });
      setTimeout(
        () => {
          if (!pod.stopping && !options.stopped() && workload.pods.includes(pod)) {
            const template = options.template(workload);
            if (template) this.launch(workload, pod, template.env);
          }
        },
        restartBackoffMs(options.restartBackoffMs, pod.restarts),
      ).unref();
    });
  }
}
