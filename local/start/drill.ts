/**
 * The fault drill `npm start` runs by default, driven by the samples:
 * 1. Mid-load, SIGKILL the worker that holds the most unfinished leases (a crash: no drain, no hand-off).
 *    The local cluster restarts its container after a back-off, as Kubernetes does; meanwhile its peers
 *    find its leases expired and take them. Done when every lease it held is owned by a live worker again.
 * 2. Later, scale in by one: lower the ScaledObject's maxReplicaCount below what KEDA runs, so KEDA scales
 *    the Deployment down and the cluster SIGTERMs one pod, which drains, checkpoints and hands its leases
 *    to its peers. Done when that pod has exited and its leases are owned by others.
 * Each step waits at most `stepTimeoutMs`; the replica must converge all the same (the verify workflow
 * at the end checks it).
 */
import { type LeaseView, SHARD_END } from '../../core/fleet-state.js';
import type { PodSample, Sample } from './sampler.js';

export const DrillEventKind = {
  Kill: 'sigkill',
  Failover: 'failover',
  ScaleIn: 'scale-in',
  Handoff: 'handoff',
  Skipped: 'skipped',
} as const;
export type DrillEventKind = (typeof DrillEventKind)[keyof typeof DrillEventKind];

export interface DrillEvent {
  /** Milliseconds since the run started. */
  t: number;
  kind: DrillEventKind;
  /** One sentence for a person. */
  text: string;
  pod?: string;
  pid?: number;
  /** Unfinished leases the pod held when the step began. */
  leases?: string[];
  /** Who owns those leases once the step is done. */
  newOwners?: Record<string, string>;
  /** From the kill or the scale-in to the step being done. */
  durationMs?: number;
  completed?: boolean;
  maxReplicaCount?: { from: number; to: number };
}

export interface DrillActions {
  /** SIGKILL this process. */
  kill(pid: number): void;
  /** Set the ScaledObject's maxReplicaCount (KEDA then scales the Deployment down to it). */
  setMaxReplicas(max: number): Promise<void>;
}

export interface DrillOptions {
  /** Load progress (0..1) at which the worker is killed. */
  killAt: number;
  /** Load progress (0..1) from which the fleet is scaled in (after the failover is done). */
  scaleInAt: number;
  stepTimeoutMs: number;
  maxReplicaCount: number;
  /** How long the scale-in may wait for the pod it will stop to hold an unfinished lease. */
  leaseWaitMs: number;
}

type State =
  | { name: 'waiting-kill' }
  | { name: 'failover'; at: number; pod: string; pid: number; restarts: number; leases: string[] }
  | { name: 'waiting-scale-in'; since: number; dueAt?: number }
  | { name: 'scaling-in'; at: number; pod: string | undefined; leases: string[]; from: number; to: number }
  | { name: 'done' };

function progress(sample: Sample): number {
  return sample.load.target > 0 ? sample.load.written / sample.load.target : 0;
}

function unfinishedOf(leases: readonly LeaseView[], owner: string): string[] {
  return leases.filter((l) => l.leaseOwner === owner && l.checkpoint !== SHARD_END).map((l) => l.leaseKey);
}

export class FaultDrill {
  private state: State = { name: 'waiting-kill' };
  readonly events: DrillEvent[] = [];
  private busy = false;

  constructor(
    private readonly options: DrillOptions,
    private readonly actions: DrillActions,
    private readonly onEvent: (event: DrillEvent) => void = () => {},
  ) {}

  get done(): boolean {
    return this.state.name === 'done';
  }

  /** The current step, for the live view. */
  get status(): string {
    switch (this.state.name) {
      case 'waiting-kill':
        return `SIGKILL one worker at ${Math.round(this.options.killAt * 100)}% of the load`;
      case 'failover':
        return `waiting for ${this.state.leases.length} lease(s) of ${this.state.pod} to be taken over`;
      case 'waiting-scale-in':
        return `scale in by one at ${Math.round(this.options.scaleInAt * 100)}% of the load`;
      case 'scaling-in':
        return `waiting for ${this.state.pod ?? 'a pod'} to hand off its leases`;
      default:
        return 'done';
    }
  }

  private emit(event: DrillEvent): void {
    this.events.push(event);
    this.onEvent(event);
  }

  /** Looks at one sample (and the lease table read with it) and acts when a step is due. */
  async step(sample: Sample, leases: readonly LeaseView[], loadFinished: boolean): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.advance(sample, leases, loadFinished);
    } finally {
      this.busy = false;
    }
  }

  private livePods(sample: Sample): PodSample[] {
    return sample.workers.pods.filter((p) => !p.stopping && p.pid !== null);
  }

  private async advance(sample: Sample, leases: readonly LeaseView[], loadFinished: boolean): Promise<void> {
    const state = this.state;
    const p = loadFinished ? 1 : progress(sample);
    if (state.name === 'waiting-kill') {
      if (p < this.options.killAt) return;
      const candidates = this.livePods(sample).filter((pod) => pod.ready);
      const ranked = candidates
        .map((pod) => ({ pod, leases: unfinishedOf(leases, pod.name) }))
        .sort((a, b) => b.leases.length - a.leases.length);
      const target = ranked[0];
      // Prefer a worker with work, so leases visibly move; any ready worker once the load is nearly done.
      if (!target || (target.leases.length === 0 && p < 0.9)) return;
      const pid = target.pod.pid as number;
      this.actions.kill(pid);
      this.state = {
        name: 'failover',
        at: sample.t,
        pod: target.pod.name,
        pid,
        restarts: target.pod.restarts,
        leases: target.leases,
      };
      this.emit({
        t: sample.t,
        kind: DrillEventKind.Kill,
        pod: target.pod.name,
        pid,
        leases: target.leases,
        text: `SIGKILL ${target.pod.name} (pid ${pid}) holding ${target.leases.length} unfinished lease(s)`,
      });
      return;
    }
    if (state.name === 'failover') {
      const owners: Record<string, string> = {};
      const live = new Map(
        sample.workers.pods.filter((pod) => pod.ready && !pod.stopping).map((x) => [x.name, x]),
      );
      let settled = true;
      for (const key of state.leases) {
        const lease = leases.find((l) => l.leaseKey === key);
        if (!lease || lease.checkpoint === SHARD_END) {
          // Finished meanwhile: by whoever took it (a dead worker finishes nothing).
          owners[key] = lease ? `${lease.leaseOwner ?? 'a peer'} (shard finished)` : 'lease deleted';
          continue;
        }
        const owner = lease.leaseOwner;
        const pod = owner === undefined ? undefined : live.get(owner);
        const restarted = pod !== undefined && owner === state.pod && pod.restarts > state.restarts;
        if (owner !== undefined && pod && (owner !== state.pod || restarted)) {
          owners[key] = owner === state.pod ? `${owner} (restarted)` : owner;
        } else settled = false;
      }
      const back = state.leases.length > 0 || (live.get(state.pod)?.restarts ?? 0) > state.restarts;
      const durationMs = sample.t - state.at;
      if ((settled && back) || durationMs > this.options.stepTimeoutMs) {
        const completed = settled && back;
        this.emit({
          t: sample.t,
          kind: DrillEventKind.Failover,
          pod: state.pod,
          leases: state.leases,
          newOwners: owners,
          durationMs,
          completed,
          text: completed
            ? state.leases.length > 0
              ? `${state.leases.length} lease(s) of ${state.pod} taken over by ${[...new Set(Object.values(owners))].join(', ')} after ${(durationMs / 1000).toFixed(1)} s`
              : `${state.pod} restarted after ${(durationMs / 1000).toFixed(1)} s (it held no unfinished lease)`
            : `leases of ${state.pod} not all taken over after ${(durationMs / 1000).toFixed(1)} s`,
        });
        this.state = { name: 'waiting-scale-in', since: sample.t };
      }
      return;
    }
    if (state.name === 'waiting-scale-in') {
      if (p < this.options.scaleInAt) return;
      const running = this.livePods(sample);
      const desired = sample.workers.desired;
      if (desired < 2 || running.length < 2) {
        if (loadFinished || sample.t - state.since > this.options.stepTimeoutMs) {
          this.emit({
            t: sample.t,
            kind: DrillEventKind.Skipped,
            text: `scale-in skipped: KEDA runs ${desired} worker(s), and a fleet needs two to scale one in`,
          });
          this.state = { name: 'done' };
        }
        return;
      }
      const to = desired - 1;
      // The cluster stops the pods beyond the new count, in its own order (see local/cluster reconcile).
      const victim = sample.workers.pods.filter((pod) => !pod.stopping)[to];
      const victimLeases = victim ? unfinishedOf(leases, victim.name) : [];
      // A hand-off shows best when the pod that goes holds a lease: wait a little for one to land there.
      state.dueAt ??= sample.t;
      if (victimLeases.length === 0 && !loadFinished && sample.t - state.dueAt < this.options.leaseWaitMs)
        return;
      await this.actions.setMaxReplicas(to);
      this.state = {
        name: 'scaling-in',
        at: sample.t,
        pod: victim?.name,
        leases: victimLeases,
        from: this.options.maxReplicaCount,
        to,
      };
      this.emit({
        t: sample.t,
        kind: DrillEventKind.ScaleIn,
        ...(victim ? { pod: victim.name } : {}),
        leases: victimLeases,
        maxReplicaCount: { from: this.options.maxReplicaCount, to },
        text: `scale in: maxReplicaCount ${this.options.maxReplicaCount} → ${to}; KEDA scales ${desired} → ${to} and the cluster SIGTERMs ${victim?.name ?? 'one pod'} (${victimLeases.length} unfinished lease(s))`,
      });
      return;
    }
    if (state.name === 'scaling-in') {
      const gone = state.pod === undefined || !sample.workers.pods.some((pod) => pod.name === state.pod);
      const owners: Record<string, string> = {};
      let handedOff = true;
      for (const key of state.leases) {
        const lease = leases.find((l) => l.leaseKey === key);
        if (!lease || lease.checkpoint === SHARD_END)
          owners[key] = lease ? `${lease.leaseOwner ?? 'a peer'} (shard finished)` : 'lease deleted';
        else if (lease.leaseOwner !== undefined && lease.leaseOwner !== state.pod)
          owners[key] = lease.leaseOwner;
        else handedOff = false;
      }
      const durationMs = sample.t - state.at;
      if ((gone && handedOff) || durationMs > this.options.stepTimeoutMs) {
        const completed = gone && handedOff;
        this.emit({
          t: sample.t,
          kind: DrillEventKind.Handoff,
          ...(state.pod ? { pod: state.pod } : {}),
          leases: state.leases,
          newOwners: owners,
          durationMs,
          completed,
          text: completed
            ? state.leases.length > 0
              ? `${state.pod} drained and exited; ${state.leases.length} lease(s) handed to ${[...new Set(Object.values(owners))].join(', ')} in ${(durationMs / 1000).toFixed(1)} s`
              : `${state.pod} drained and exited in ${(durationMs / 1000).toFixed(1)} s (it held no unfinished lease)`
            : `${state.pod} had not handed off its leases after ${(durationMs / 1000).toFixed(1)} s`,
        });
        this.state = { name: 'done' };
      }
    }
  }
}
