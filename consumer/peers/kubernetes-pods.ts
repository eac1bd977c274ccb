/**
 * Peer evidence from Kubernetes: the pods of this worker's own Deployment (a label selector in its own
 * namespace), listed and watched through @kubernetes/client-node's informer (list, then watch from the list's
 * resourceVersion, listing again after a 410 Gone and reporting the pods that vanished meanwhile as deleted).
 * This module is the only one that imports the client, and only when pod evidence is asked for (`load`): the
 * package's library leaves @kubernetes/client-node an optional peer dependency, the container's bundle has it.
 * The rest of the worker sees the `PeerEvidence` port.
 *
 * The calls it makes, which the consumer's Role grants and nothing more (core/kubernetes/manifests.ts `consumerRole`):
 * `list` and `watch` pods in the namespace (the informer). The first list also checks that peers will map
 * one of the pods to this worker's INSTANCE_NAME, as it writes lease owners. The list is a plain GET with the
 * KubeConfig's credentials (`applyToHTTPSOptions`), not the generated `CoreV1Api`, whose model registry of
 * every API group would add 3 MB to the worker's bundle for one call.
 *
 * Credentials: in a pod, the service account token the kubelet mounts (`loadFromDefault` falls back to the
 * in-cluster configuration); elsewhere, `KUBECONFIG` (the local cluster gives each worker one with its service
 * account's token). A watch that fails (the API unreachable, a 403, a dropped stream) is reported as a
 * structured event and retried with backoff and jitter; meanwhile the evidence is not current and the lease
 * duration rules alone, as without Kubernetes.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Informer, KubeConfig, KubernetesListObject, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../core/vocabulary/clock.js';
import { ConfigurationError } from '../../core/vocabulary/errors.js';
import { backoffDelay, type RetryPolicy } from '../../core/vocabulary/retry.js';
import type { WorkerEvents } from '../observability/events.js';
import { type PeerChange, type PeerEvidence, type PeerState, PodLedger, readPod } from './peer-evidence.js';

/** Where a pod finds its own namespace (the service account volume every pod gets). */
const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Between attempts to (re)establish the watch: 0.5 s doubling to 30 s, with full jitter. */
const RECONNECT: RetryPolicy = {
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

export interface KubernetesPodEvidenceOptions {
  /** This worker's INSTANCE_NAME. */
  instanceName: string;
  /** Label selector of the Deployment's pods, e.g. app.kubernetes.io/instance=users-replicator. */
  selector: string;
  /** The pods' namespace; default: this pod's own (in-cluster), else the kubeconfig context's, else default. */
  namespace: string | undefined;
  clock: Clock;
  events: WorkerEvents;
  /** Default: KubeConfig.loadFromDefault() (KUBECONFIG, ~/.kube/config, or in-cluster). */
  kubeConfig?: KubeConfig;
}

/** The client's module, imported when pod evidence is asked for. */
type KubernetesClient = typeof import('@kubernetes/client-node');

export class KubernetesPodEvidence implements PeerEvidence {
  /**
   * Imports @kubernetes/client-node and makes the evidence. A library user who asks for pod evidence without the
   * package installed gets a ConfigurationError naming the setting and the package to install.
   */
  static async load(options: KubernetesPodEvidenceOptions): Promise<KubernetesPodEvidence> {
    let client: KubernetesClient;
    try {
      client = await import('@kubernetes/client-node');
    } catch (error) {
      throw new ConfigurationError(
        'peerPodSelector',
        `(PEER_POD_SELECTOR) pod evidence needs the package @kubernetes/client-node (npm install @kubernetes/client-node@1.4.0), which could not be loaded: ${(error as Error).message}`,
      );
    }
    return new KubernetesPodEvidence(options, client);
  }

  private readonly ledger: PodLedger;
  private readonly listeners = new Set<(change: PeerChange) => void>();
  private readonly stopController = new AbortController();
  private informer: Informer<V1Pod> | undefined;
  private current = false;
  private failures = 0;
  private running: Promise<void> | undefined;
  namespace = '';

  private constructor(
    private readonly options: KubernetesPodEvidenceOptions,
    private readonly client: KubernetesClient,
  ) {
    this.ledger = new PodLedger(options.instanceName);
  }

  isCurrent(): boolean {
    return this.current;
  }

  stateOf(owner: string): PeerState | undefined {
    return this.ledger.stateOf(owner);
  }

  onChange(listener: (change: PeerChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts listing and watching in the background; never throws (failures are reported and retried). */
  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    this.setCurrent(false);
    await this.informer?.stop().catch(() => undefined);
    await this.running;
  }

  private async run(): Promise<void> {
    const { options } = this;
    const signal = this.stopController.signal;
    let kubeConfig: KubeConfig | undefined;
    while (!signal.aborted) {
      let failed: unknown;
      try {
        if (!kubeConfig) {
          kubeConfig = options.kubeConfig ?? loadKubeConfig(this.client);
          this.namespace = options.namespace ?? defaultNamespace(kubeConfig);
          this.informer = this.makeInformer(kubeConfig);
        }
        failed = await this.listAndWatch(this.informer as Informer<V1Pod>);
      } catch (error) {
        failed = error;
      }
      if (failed === undefined) {
        if (this.failures === 0) this.selfCheck();
        this.failures = 0;
        this.setCurrent(true);
        this.options.events.emit(
          'peers.watch-started',
          {
            namespace: this.namespace,
            selector: options.selector,
            pods: (this.informer as unknown as { list(): unknown[] }).list().length,
          },
          'watching the pods of this Deployment: a peer whose pod is gone loses its leases at once',
        );
        // Until the informer reports an error (then the loop starts it again).
        failed = await this.nextError();
      }
      if (signal.aborted) break;
      this.setCurrent(false);
      this.failures++;
      const retryInMs = backoffDelay(Math.min(this.failures, 30), RECONNECT);
      options.events.emit(
        'peers.watch-failed',
        { namespace: this.namespace, error: failed, failures: this.failures, retryInMs },
        'cannot watch the pods of this Deployment; the lease duration alone rules until the watch is back',
      );
      await options.clock.sleep(retryInMs, signal);
    }
  }

  private pendingError: ((error: unknown) => void) | undefined;
  private lastError: { error: unknown } | undefined;

  private makeInformer(kubeConfig: KubeConfig): Informer<V1Pod> {
    const { selector } = this.options;
    const path = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`;
    const { makeInformer, ADD, UPDATE, DELETE, ERROR } = this.client;
    const informer = makeInformer<V1Pod>(
      kubeConfig,
      path,
      () =>
        getJson<KubernetesListObject<V1Pod>>(
          kubeConfig,
          `${path}?labelSelector=${encodeURIComponent(selector)}`,
        ),
      selector,
    );
    informer.on(ADD, (pod) => this.deliver(this.ledger.upsert(pod)));
    informer.on(UPDATE, (pod) => this.deliver(this.ledger.upsert(pod)));
    informer.on(DELETE, (pod) => this.deliver(this.ledger.remove(pod)));
    informer.on(ERROR, (error) => {
      const resolve = this.pendingError;
      this.pendingError = undefined;
      if (resolve) resolve(error ?? new Error('the pod watch ended'));
      else this.lastError = { error: error ?? new Error('the pod watch ended') };
    });
    return informer;
  }

  /** Lists and starts watching; resolves with the error if that failed, undefined once watching. */
  private async listAndWatch(informer: Informer<V1Pod>): Promise<unknown> {
    this.lastError = undefined;
    await informer.start();
    const error = this.lastError as { error: unknown } | undefined;
    this.lastError = undefined;
    return error?.error;
  }

  /** The informer's next error (one it reported already counts). */
  private nextError(): Promise<unknown> {
    return new Promise((resolve) => {
      const signal = this.stopController.signal;
      if (signal.aborted) return resolve(undefined);
      if (this.lastError) {
        const { error } = this.lastError;
        this.lastError = undefined;
        return resolve(error);
      }
      signal.addEventListener('abort', () => resolve(undefined), { once: true });
      this.pendingError = resolve;
    });
  }

  /** After the first list: will peers map one of these pods to this worker, as it writes lease owners? */
  private selfCheck(): void {
    const instance = this.options.instanceName;
    const pod = (this.informer as unknown as { list(): V1Pod[] })
      .list()
      .map((p) => readPod(p))
      .find((reading) => reading?.instance === instance);
    this.options.events.emit(
      'peers.self-check',
      { instance, pod: pod?.pod ?? null, matches: pod !== undefined },
      pod
        ? 'peers map a pod of this Deployment to this worker'
        : "no pod of this Deployment carries this INSTANCE_NAME: peers learn of this worker's end from the lease duration only",
    );
  }

  private setCurrent(current: boolean): void {
    if (this.current === current) return;
    this.current = current;
    this.deliver([{ kind: 'current', current }]);
  }

  private deliver(changes: readonly PeerChange[]): void {
    for (const change of changes) {
      if (change.kind === 'state') {
        this.options.events.emit(
          'peers.state',
          {
            owner: change.owner,
            state: change.state,
            pod: change.pod,
            ...(change.reason ? { reason: change.reason } : {}),
          },
          `peer ${change.owner} is ${change.state}`,
        );
      }
      for (const listener of this.listeners) listener(change);
    }
  }
}

/** A refusal of the API server: its HTTP status and the `Status` message it sent. */
export class KubernetesRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubernetesRequestError';
  }
}

/** GET `path` with the KubeConfig's server, CA and credentials; the JSON answer, or a KubernetesRequestError. */
async function getJson<T>(kubeConfig: KubeConfig, path: string): Promise<T> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig names no cluster');
  const url = new URL(path, server);
  const options: RequestOptions = { method: 'GET', headers: { accept: 'application/json' }, timeout: 15_000 };
  await kubeConfig.applyToHTTPSOptions(options);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<T>((resolve, reject) => {
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        try {
          const body = JSON.parse(text) as T & { message?: string };
          if (status === 200) resolve(body);
          else reject(new KubernetesRequestError(status, body.message ?? `HTTP ${status}`));
        } catch {
          reject(new KubernetesRequestError(status, `HTTP ${status}: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function loadKubeConfig(client: KubernetesClient): KubeConfig {
  const kubeConfig = new client.KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}

function defaultNamespace(kubeConfig: KubeConfig): string {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim();
  } catch {
    const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
    return context?.namespace ?? 'default';
  }
}
