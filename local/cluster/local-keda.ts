/**
 * The local KEDA: one scaler loop per ScaledObject that, every polling interval, reads the trigger's metric
 * (keda-triggers.ts) as the trigger's session (keda-identity.ts), decides with core/kubernetes/keda.ts's `kedaReplicas`
 * (KEDA's 0 ↔ N, then the HPA's arithmetic, stabilisation and limits), and sets the scale target's replica
 * count through the Deployment controller. Each change of count is a `keda.scaled` event carrying the numbers
 * it was decided with; a ScaledObject that cannot be served says why once, as `keda.failing`, and in its status.
 */
import {
  KEDA_API_VERSION,
  type ManifestObject,
  type ObjectRef,
  refOf,
  type ScaleStatus,
  scaledObjectMaxReplicas,
} from '../../core/kubernetes/cluster.js';
import { kedaReplicas, type Recommendation } from '../../core/kubernetes/keda.js';
import { IRSA_ROLE_ANNOTATION } from '../../core/kubernetes/manifests.js';
import type { DeploymentController } from './deployment-controller.js';
import { ClusterEventKind, type ClusterEvents } from './events.js';
import type { KedaIdentity } from './keda-identity.js';
import { KEDA_OPERATOR } from './keda-install.js';
import type { KedaTriggers } from './keda-triggers.js';
import { keyOf, type ObjectStore } from './object-store.js';
import { pollingIntervalMs, readScaledObject, scalingConfigOf } from './scaled-object.js';

interface Scaler {
  ref: ObjectRef;
  key: string;
  timer: NodeJS.Timeout | undefined;
  history: Recommendation[];
  lastActiveAtMs: number | undefined;
  ready: boolean;
  active: boolean;
  message: string | undefined;
  lastDecision: number | undefined;
  ticking: boolean;
}

export interface LocalKedaOptions {
  store: ObjectStore;
  deployments: DeploymentController;
  identity: KedaIdentity;
  triggers: KedaTriggers;
  events: ClusterEvents;
  /** Overrides every ScaledObject's pollingInterval (seconds) with this many milliseconds. */
  pollingIntervalMs: number | undefined;
  stopped(): boolean;
  /** Called when KEDA changed a replica count (the state file is written again). */
  changed(): void;
}

export class LocalKeda {
  private readonly scalers = new Map<string, Scaler>();

  constructor(private readonly options: LocalKedaOptions) {}

  /** A ScaledObject was applied: (re)start its scaler loop and poll at once. */
  onScaledObject(scaledObject: ManifestObject): void {
    const ref = refOf(scaledObject);
    const key = keyOf(ref);
    let scaler = this.scalers.get(key);
    if (!scaler) {
      scaler = {
        ref,
        key,
        timer: undefined,
        history: [],
        lastActiveAtMs: undefined,
        ready: false,
        active: false,
        message: 'waiting for the first poll',
        lastDecision: undefined,
        ticking: false,
      };
      this.scalers.set(key, scaler);
    }
    const interval = pollingIntervalMs(scaledObject, this.options.pollingIntervalMs);
    clearInterval(scaler.timer);
    const s = scaler;
    s.timer = setInterval(() => void this.tick(s), interval);
    s.timer.unref();
    void this.tick(s);
  }

  /** The ScaledObject is gone: its scaler stops. */
  delete(ref: ObjectRef): void {
    const key = keyOf(ref);
    const scaler = this.scalers.get(key);
    if (!scaler) return;
    clearInterval(scaler.timer);
    this.scalers.delete(key);
    this.options.events.emit({
      kind: ClusterEventKind.KedaDeleted,
      namespace: ref.namespace ?? '',
      name: ref.name,
    });
  }

  /** The operator restarted: it reads its ServiceAccount's IRSA role again, and every scaler polls at once. */
  operatorRestarted(): void {
    const account = this.options.store.read({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      namespace: KEDA_OPERATOR.namespace,
      name: KEDA_OPERATOR.serviceAccountName,
    });
    const roleArn = account?.metadata.annotations?.[IRSA_ROLE_ANNOTATION];
    this.options.identity.operatorStarted(roleArn);
    this.options.events.emit({ kind: ClusterEventKind.KedaOperatorRestarted, roleArn });
    for (const scaler of this.scalers.values()) void this.tick(scaler);
  }

  /** What KEDA reports about the ScaledObject `name`, as the `Cluster` port says it. */
  status(namespace: string, name: string): ScaleStatus['scaledObject'] {
    const ref = { apiVersion: KEDA_API_VERSION, kind: 'ScaledObject', namespace, name };
    const scaler = this.scalers.get(keyOf(ref));
    if (!scaler || !this.options.store.has(ref)) return undefined;
    const maxReplicaCount = scaledObjectMaxReplicas(this.options.store.read(ref));
    return {
      ready: scaler.ready,
      active: scaler.active,
      ...(scaler.message ? { message: scaler.message } : {}),
      ...(scaler.lastDecision === undefined ? {} : { hpaDesiredReplicas: scaler.lastDecision }),
      ...(maxReplicaCount === undefined ? {} : { maxReplicaCount }),
    };
  }

  /** Every scaler, for the snapshot. */
  snapshot() {
    return [...this.scalers.values()].map((s) => ({
      key: s.key,
      ready: s.ready,
      active: s.active,
      message: s.message ?? null,
      lastDecision: s.lastDecision ?? null,
    }));
  }

  /** No scaler polls any more. */
  stop(): void {
    for (const scaler of this.scalers.values()) clearInterval(scaler.timer);
  }

  /** Releases the trigger's AWS clients (after `stop`, once a poll in flight has had time to end). */
  close(): void {
    this.options.triggers.close();
  }

  private fail(scaler: Scaler, message: string): void {
    if (scaler.message !== message) {
      this.options.events.emit({ kind: ClusterEventKind.KedaFailing, scaledObject: scaler.key, message });
    }
    scaler.ready = false;
    scaler.message = message;
  }

  private async tick(scaler: Scaler): Promise<void> {
    if (scaler.ticking || this.options.stopped()) return;
    scaler.ticking = true;
    try {
      await this.scale(scaler);
    } catch (error) {
      this.fail(
        scaler,
        `error polling the trigger: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      );
    } finally {
      scaler.ticking = false;
    }
  }

  private async scale(scaler: Scaler): Promise<void> {
    const { store, deployments, identity, triggers, events } = this.options;
    const scaledObject = store.read(scaler.ref);
    if (!scaledObject) return;
    const spec = readScaledObject(scaledObject);
    const { namespace, trigger } = spec;
    if (!trigger) return this.fail(scaler, 'no trigger');
    const workload = deployments.find(namespace, spec.target);
    if (!workload) return this.fail(scaler, `scale target Deployment ${namespace}/${spec.target} not found`);
    const auth = trigger.authenticationRef
      ? store.read({
          apiVersion: KEDA_API_VERSION,
          kind: 'TriggerAuthentication',
          namespace,
          name: trigger.authenticationRef.name,
        })
      : undefined;
    const podIdentity = (auth?.spec as { podIdentity?: { provider?: string; roleArn?: string } } | undefined)
      ?.podIdentity;
    if (podIdentity?.provider !== 'aws') {
      return this.fail(
        scaler,
        `TriggerAuthentication ${trigger.authenticationRef?.name ?? '(none)'} with podIdentity aws not found`,
      );
    }
    const session = await identity.sessionFor({ podIdentity });
    if ('failure' in session) return this.fail(scaler, session.failure);
    const reading = await triggers.read(trigger, session);
    if ('failure' in reading) return this.fail(scaler, reading.failure);
    const config = scalingConfigOf(spec, reading);
    const now = Date.now();
    const decision = kedaReplicas({
      nowMs: now,
      currentReplicas: workload.desired,
      metric: reading.metric,
      config,
      history: scaler.history,
      ...(scaler.lastActiveAtMs === undefined ? {} : { lastActiveAtMs: scaler.lastActiveAtMs }),
    });
    scaler.history = decision.history;
    if (decision.active) scaler.lastActiveAtMs = now;
    scaler.ready = true;
    scaler.active = decision.active;
    scaler.message = undefined;
    scaler.lastDecision = decision.replicas;
    if (decision.replicas !== workload.desired) {
      events.emit({
        kind: ClusterEventKind.KedaScaled,
        namespace: workload.namespace,
        name: workload.name,
        from: workload.desired,
        to: decision.replicas,
        metric: reading.metric,
        reason: decision.reason,
        config,
      });
      deployments.scale(workload, decision.replicas);
      this.options.changed();
    }
  }
}
