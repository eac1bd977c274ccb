/**
 * Real worker processes as pods of a local cluster (local/cluster), for the tests and the bench that need what a
 * Kubernetes cluster gives the workers: pods that can be killed, frozen, deleted or force-deleted, and the
 * cluster's Kubernetes API, which the workers watch (PEER_POD_SELECTOR) with their ServiceAccount's token under
 * the RBAC the manifests grant. The fleet is deployed with the manifests the setup workflow applies
 * (core/fleet/fleet-deploy.ts `consumerManifests`), N replicas, no scaler; the pods sign their AWS calls as the consumer's
 * IRSA role (core/irsa.ts `wireIrsa`, judged by the strict layer's iam rule).
 */
import { type FleetSpec, parseFleet } from '../../core/fleet/fleet.js';
import { consumerManifests, namespaceManifest } from '../../core/fleet/fleet-deploy.js';
import { LocalIam } from '../../core/iam/iam.js';
import { wireIrsa } from '../../core/irsa.js';
import { metricValue, parsePrometheusText } from '../../core/vocabulary/prometheus.js';
import {
  type LaunchedWorker,
  type LaunchSpec,
  LocalCluster,
  ProcessLauncher,
  type WorkerLauncher,
} from '../../local/cluster/index.js';
import { type LoggedEvent, loggedEvents } from '../../local/worker/events.js';
import { type ReplicationTables, uniqueName, waitFor } from './fleet.js';

export interface PodFleetOptions {
  /** DynamoDB (behind the strict layer) for the workers. */
  endpoint: string;
  tables: ReplicationTables;
  replicas: number;
  /** Worker settings (LEASE_DURATION_MS, …) as the fleet's workerEnv. */
  workerEnv?: Record<string, string>;
  /** Pause before a crashed container starts again (default 60 s: long enough to watch its peers act). */
  restartBackoffMs?: number;
  /** Characters of each worker's output kept (default 4 MB). */
  outputLimit?: number;
}

export interface RunningPod {
  name: string;
  port: number;
  pid: number | undefined;
}

/** Remembers each pod's latest process, so a pod deleted from the API can still be read (a lost node's). */
class KeepingLauncher implements WorkerLauncher {
  readonly latest = new Map<string, LaunchedWorker>();
  constructor(private readonly inner: WorkerLauncher) {}
  launch(spec: LaunchSpec): LaunchedWorker {
    const worker = this.inner.launch(spec);
    this.latest.set(spec.podName, worker);
    return worker;
  }
}

export class PodFleet {
  private constructor(
    readonly cluster: LocalCluster,
    readonly fleet: FleetSpec,
    private readonly launcher: KeepingLauncher,
  ) {}

  static async start(options: PodFleetOptions): Promise<PodFleet> {
    const limit = options.outputLimit ?? 4_000_000;
    const launcher = new KeepingLauncher(new ProcessLauncher(undefined, { limit, keep: limit }));
    const iam = new LocalIam();
    const cluster = new LocalCluster({
      name: uniqueName('pods'),
      dynamodbEndpoint: options.endpoint,
      readinessIntervalMs: 200,
      restartBackoffMs: options.restartBackoffMs ?? 60_000,
      launcher,
      iam,
      register: false,
    });
    await cluster.startApi();
    const fleet = parseFleet({
      name: 'users-replicator',
      clusterName: cluster.name,
      namespace: 'streamfleet',
      sourceTableName: options.tables.source,
      replicaTableName: options.tables.target,
      applicationName: options.tables.app,
      image: 'streamfleet:local',
      workerEnv: { LOG_LEVEL: 'info', ...options.workerEnv },
    });
    const irsa = await wireIrsa({ iam, cluster }, { fleet, streamArn: options.tables.streamArn });
    const manifests = consumerManifests({
      fleet,
      streamArn: options.tables.streamArn,
      consumerRoleArn: irsa.consumerRoleArn,
      region: 'us-east-1',
    });
    await cluster.apply(namespaceManifest(fleet));
    for (const manifest of manifests) {
      await cluster.apply(
        manifest.kind === 'Deployment'
          ? { ...manifest, spec: { ...(manifest.spec as object), replicas: options.replicas } }
          : manifest,
      );
    }
    const pods = new PodFleet(cluster, fleet, launcher);
    await waitFor(() => pods.running().length === options.replicas, {
      timeoutMs: 30_000,
      message: `${options.replicas} pods to run`,
    });
    return pods;
  }

  /** The pods whose worker runs now (not being deleted). */
  running(): RunningPod[] {
    const workload = this.cluster.snapshot().workloads.find((w) => w.name === this.fleet.name);
    return (workload?.pods ?? [])
      .filter((p) => !p.stopping && p.pid !== null && p.port > 0)
      .map((p) => ({ name: p.name, port: p.port, pid: p.pid ?? undefined }));
  }

  /** Everything a pod's latest process wrote (also after the pod object is gone). */
  output(pod: string): string {
    return this.launcher.latest.get(pod)?.output() ?? '';
  }

  /** When a pod's latest process exits (undefined for a pod never started). */
  exited(pod: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined {
    return this.launcher.latest.get(pod)?.exited;
  }

  /** Signals a pod's latest process directly (a frozen pod on a lost node, say). */
  signal(pod: string, signal: NodeJS.Signals): void {
    this.launcher.latest.get(pod)?.kill(signal);
  }

  events(pod: string, name?: string): LoggedEvent[] {
    return loggedEvents(this.output(pod), name);
  }

  async waitForEvent(
    pod: string,
    name: string,
    match: (event: LoggedEvent) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<LoggedEvent> {
    return waitFor(() => this.events(pod, name).find(match), {
      timeoutMs,
      message: `${pod} to report ${name}\n--- output ---\n${this.output(pod).slice(-3000)}`,
    });
  }

  /** A metric of a pod's worker, summed over the series with `labels` (undefined while /metrics does not answer). */
  async metric(
    pod: RunningPod,
    name: string,
    labels: Record<string, string> = {},
  ): Promise<number | undefined> {
    try {
      const response = await fetch(`http://127.0.0.1:${pod.port}/metrics`, {
        signal: AbortSignal.timeout(2_000),
      });
      return metricValue(parsePrometheusText(await response.text()), name, labels) ?? 0;
    } catch {
      return undefined;
    }
  }

  /** Stops the cluster, and any process it lost track of (a force-deleted pod's). */
  async stop(): Promise<void> {
    await this.cluster.stop();
    for (const worker of this.launcher.latest.values()) worker.kill('SIGKILL');
  }
}
