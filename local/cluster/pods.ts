/**
 * A pod's life on the local cluster: started as one worker process (the launcher) with its pod's environment
 * (local/worker/environment.ts: the Deployment's env, the downward API's fields, INSTANCE_NAME = pod name, its
 * own PORT, the role session of its ServiceAccount injected last as the pod identity webhook does, and a
 * KUBECONFIG with its ServiceAccount's token for the local Kubernetes API, where a kubelet mounts the token),
 * started again with a growing backoff when its process exits on its own (restartPolicy Always), and stopped
 * as the kubelet stops one: SIGTERM, then SIGKILL after the grace period. Every change of its state (the
 * container running, terminated, waiting to restart; its deletion begun; the pod gone) is reported
 * (`podChanged`), so the local API's watchers see what a real API server's would.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { constants } from 'node:os';
import { freePort } from '../dynamodb-local.js';
import { type SessionCredentials, UNCHECKED_CREDENTIALS } from '../identities/sts.js';
import { workerEnvironment } from '../worker/environment.js';
import { ClusterEventKind, type ClusterEvents } from './events.js';
import type { WorkerLauncher } from './launcher.js';
import { type ContainerState, downwardEnv, type Pod, type PodTemplate, type Workload } from './workload.js';

/** What happened to a pod, as a watch reports it. */
export type PodChange = 'ADDED' | 'MODIFIED' | 'DELETED';

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
  /** Called on every change of a pod's state, in order. */
  podChanged?(workload: Workload, pod: Pod, change: PodChange): void;
  /** The kubeconfig file a pod of this ServiceAccount reaches the local Kubernetes API with, if it runs. */
  kubeconfig?(namespace: string, serviceAccount: string): string | undefined;
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
      uid: randomUUID(),
      createdAt: new Date().toISOString(),
      port: 0,
      worker: NOT_LAUNCHED,
      ready: false,
      restarts: 0,
      stopping: false,
      container: { phase: 'waiting', reason: 'ContainerCreating' },
      resourceVersion: '0',
      templateHash: workload.templateHash,
      template,
      credentials: undefined,
    };
    workload.pods.push(pod);
    this.options.podChanged?.(workload, pod, 'ADDED');
    pod.port = await freePort();
    pod.credentials = await this.options.credentials(workload.namespace, template.serviceAccount, podName);
    if (pod.stopping || this.options.stopped()) {
      workload.pods = workload.pods.filter((p) => p !== pod);
      this.options.podChanged?.(workload, pod, 'DELETED');
      return;
    }
    this.launch(workload, pod, template);
    this.options.events.emit({ kind: ClusterEventKind.PodStarted, pod: podName, port: pod.port });
    this.options.changed();
  }

  /** SIGTERM, SIGKILL after the template's grace period; the pod leaves the workload once its process exited. */
  async stop(workload: Workload, pod: Pod): Promise<void> {
    if (pod.stopping) return;
    pod.stopping = true;
    pod.ready = false;
    pod.deletingAt = new Date().toISOString();
    this.options.podChanged?.(workload, pod, 'MODIFIED');
    const grace = (this.options.template(workload)?.grace ?? 30) * 1000;
    pod.worker.kill('SIGTERM');
    const killer = setTimeout(() => pod.worker.kill('SIGKILL'), grace);
    killer.unref();
    await pod.worker.exited;
    clearTimeout(killer);
    this.remove(workload, pod);
  }

  /**
   * `kubectl delete pod --grace-period=0 --force`: the pod object goes at once. The kubelet kills its container
   * (SIGKILL), unless the pod's node is cut off from the control plane (`nodeLost`): then the process runs on,
   * unknown to the API, until something else stops it. The Deployment controller starts a replacement.
   */
  forceDelete(workload: Workload, pod: Pod, options: { nodeLost?: boolean } = {}): void {
    pod.stopping = true;
    pod.ready = false;
    if (!options.nodeLost) pod.worker.kill('SIGKILL');
    this.remove(workload, pod);
  }

  private remove(workload: Workload, pod: Pod): void {
    if (!workload.pods.includes(pod)) return;
    workload.pods = workload.pods.filter((p) => p !== pod);
    this.options.podChanged?.(workload, pod, 'DELETED');
    this.options.events.emit({ kind: ClusterEventKind.PodStopped, pod: pod.name });
    this.options.changed();
  }

  /** Asks the pod's worker whether it is ready (GET /readyz). */
  async probe(pod: Pod): Promise<void> {
    if (pod.stopping || pod.port === 0) return;
    pod.ready = await pod.worker.probeReady();
  }

  private launch(workload: Workload, pod: Pod, template: PodTemplate): void {
    const { options } = this;
    const kubeconfig = options.kubeconfig?.(workload.namespace, template.serviceAccount);
    pod.worker = options.launcher.launch({
      podName: pod.name,
      env: workerEnvironment({
        endpoint: options.endpoint,
        session: pod.credentials ?? UNCHECKED_CREDENTIALS,
        container: {
          ...template.env,
          ...downwardEnv(template, { name: pod.name, namespace: workload.namespace }),
          ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}),
        },
        instanceName: pod.name,
        port: pod.port,
        ...(options.workerEnv ? { settings: options.workerEnv } : {}),
      }),
      port: pod.port,
    });
    pod.ready = false;
    pod.container = { phase: 'running', startedAt: new Date().toISOString() };
    options.podChanged?.(workload, pod, 'MODIFIED');
    void pod.worker.exited.then(({ code, signal }) => {
      pod.ready = false;
      const ended = terminated(pod.container, code, signal);
      if (pod.stopping || options.stopped()) {
        // Its deletion is under way: the last state shows until the object goes.
        if (workload.pods.includes(pod)) {
          pod.container = ended;
          options.podChanged?.(workload, pod, 'MODIFIED');
        }
        return;
      }
      // restartPolicy Always: the container starts again in the same pod, after a backoff.
      pod.restarts++;
      pod.lastTerminated = ended;
      pod.container = { phase: 'waiting', reason: 'CrashLoopBackOff' };
      options.podChanged?.(workload, pod, 'MODIFIED');
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
            if (template) this.launch(workload, pod, template);
          }
        },
        restartBackoffMs(options.restartBackoffMs, pod.restarts),
      ).unref();
    });
  }
}

/** How a container that was `running` ended: exit code (128 + signal number for a signal) and reason. */
function terminated(
  running: ContainerState,
  code: number | null,
  signal: NodeJS.Signals | null,
): ContainerState {
  const signalNumber = signal ? constants.signals[signal] : undefined;
  const exitCode = code ?? 128 + (signalNumber ?? 0);
  return {
    phase: 'terminated',
    reason: exitCode === 0 ? 'Completed' : 'Error',
    exitCode,
    ...(signalNumber !== undefined ? { signal: signalNumber } : {}),
    ...(running.startedAt ? { startedAt: running.startedAt } : {}),
    finishedAt: new Date().toISOString(),
  };
}
