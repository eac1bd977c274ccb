/**
 * The local cluster's Deployment controller, for Streamfleet's Deployments (label
 * `app.kubernetes.io/name: streamfleet`): keeps as many pods as the Deployment wants (its spec.replicas, or
 * what KEDA last set), replaces pods of an older template (a rollout), removes the newest first when scaling
 * down, holds pods whose ServiceAccount is missing, and probes every pod's readiness.
 */
import type { ManifestObject, ObjectRef } from '../../core/kubernetes/cluster.js';
import { ClusterEventKind, type ClusterEvents } from './events.js';
import { keyOf, type ObjectStore } from './object-store.js';
import type { PodRunner } from './pods.js';
import { type PodTemplate, podTemplate, templateHash, type Workload } from './workload.js';

const MANAGED_BY_STREAMFLEET = 'streamfleet';

function deploymentRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name };
}

export class DeploymentController {
  private readonly workloads = new Map<string, Workload>();
  private readonly probes: NodeJS.Timeout;

  constructor(
    private readonly store: ObjectStore,
    private readonly pods: PodRunner,
    private readonly events: ClusterEvents,
    private readonly options: { readinessIntervalMs: number; stopped(): boolean },
  ) {
    this.probes = setInterval(() => void this.probeAll(), options.readinessIntervalMs);
    this.probes.unref();
  }

  /** A Deployment was applied or restarted: create or update its workload and reconcile its pods. */
  onDeployment(deployment: ManifestObject): void {
    if (deployment.metadata.labels?.['app.kubernetes.io/name'] !== MANAGED_BY_STREAMFLEET) return;
    const namespace = deployment.metadata.namespace ?? 'default';
    const key = keyOf(deploymentRef(namespace, deployment.metadata.name));
    const spec = (deployment.spec ?? {}) as { replicas?: number };
    const hash = templateHash(deployment);
    let workload = this.workloads.get(key);
    if (!workload) {
      workload = {
        namespace,
        name: deployment.metadata.name,
        desired: spec.replicas ?? 1,
        pods: [],
        templateHash: hash,
        failure: undefined,
      };
      this.workloads.set(key, workload);
      this.events.emit({
        kind: ClusterEventKind.DeploymentCreated,
        namespace,
        name: workload.name,
        replicas: workload.desired,
      });
    } else {
      // An apply without spec.replicas leaves the count to whoever owns it (KEDA): as on Kubernetes.
      if (spec.replicas !== undefined) workload.desired = spec.replicas;
      workload.templateHash = hash;
    }
    this.reconcile(workload);
  }

  /** The workload of a Deployment, when it is one of Streamfleet's. */
  find(namespace: string, name: string): Workload | undefined {
    return this.at(deploymentRef(namespace, name));
  }

  /** The workload of the object `ref` names, if any. */
  at(ref: ObjectRef): Workload | undefined {
    return this.workloads.get(keyOf(ref));
  }

  /** What KEDA (or the HPA) does: set the replica count, and start or stop pods to match. */
  scale(workload: Workload, replicas: number): void {
    workload.desired = replicas;
    this.reconcile(workload);
  }

  /** The Deployment is gone: its workload goes, every pod is stopped. */
  async delete(ref: ObjectRef): Promise<boolean> {
    const key = keyOf(ref);
    const workload = this.workloads.get(key);
    if (!workload) return false;
    this.workloads.delete(key);
    await Promise.all(workload.pods.map((pod) => this.pods.stop(workload, pod)));
    this.events.emit({
      kind: ClusterEventKind.DeploymentDeleted,
      namespace: workload.namespace,
      name: workload.name,
    });
    return true;
  }

  /** The workload's pod template as its Deployment has it now. */
  template(workload: Workload): PodTemplate | undefined {
    return podTemplate(this.store.read(deploymentRef(workload.namespace, workload.name)));
  }

  /** After a pod was deleted by hand: start its replacement, as the ReplicaSet controller does. */
  reconcileAgain(workload: Workload): void {
    if (this.workloads.get(keyOf(deploymentRef(workload.namespace, workload.name))) === workload)
      this.reconcile(workload);
  }

  private reconcile(workload: Workload): void {
    if (this.options.stopped()) return;
    // Pods of an older template are replaced (a rollout), newest first when scaling down.
    for (const pod of workload.pods) {
      if (pod.templateHash !== workload.templateHash && !pod.stopping) void this.pods.stop(workload, pod);
    }
    const running = workload.pods.filter((p) => !p.stopping);
    if (running.length > workload.desired) {
      const surplus = running.slice(workload.desired).reverse();
      for (const pod of surplus) void this.pods.stop(workload, pod);
    }
    const template = this.template(workload);
    if (!template) return;
    const account = this.store.read({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      namespace: workload.namespace,
      name: template.serviceAccount,
    });
    if (!account) {
      const failure = `serviceaccount "${template.serviceAccount}" not found`;
      if (workload.failure !== failure) {
        this.events.emit({
          kind: ClusterEventKind.DeploymentHeld,
          namespace: workload.namespace,
          name: workload.name,
          failure,
        });
      }
      workload.failure = failure;
      return;
    }
    workload.failure = undefined;
    const missing = workload.desired - workload.pods.filter((p) => !p.stopping).length;
    for (let i = 0; i < missing; i++) void this.pods.start(workload);
  }

  private async probeAll(): Promise<void> {
    for (const workload of this.workloads.values()) {
      for (const pod of workload.pods) await this.pods.probe(pod);
    }
  }

  /** Every workload, for the snapshot. */
  all(): Workload[] {
    return [...this.workloads.values()];
  }

  /** The output of a pod's current process, for debugging. */
  podOutput(podName: string): string | undefined {
    for (const workload of this.workloads.values()) {
      const pod = workload.pods.find((p) => p.name === podName);
      if (pod) return pod.worker.output();
    }
    return undefined;
  }

  /** Stops probing and every pod (SIGTERM, SIGKILL after its grace period). */
  async stop(): Promise<void> {
    clearInterval(this.probes);
    await Promise.all(
      [...this.workloads.values()].flatMap((workload) =>
        workload.pods.map((pod) => this.pods.stop(workload, pod)),
      ),
    );
  }
}
