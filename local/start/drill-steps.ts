/**
 * The fault drill's four states, one function each: given the state and one look at the fleet (a sample and
 * the lease table read with it), say what happens next. Each returns the transition (the next state and the
 * event to record) or nothing when the step is not due yet; the two that act do so through `DrillActions`.
 * local/start/drill.ts holds the state and dispatches; the rules live here.
 */
import { type LeaseView, SHARD_END } from '../../core/fleet/fleet-state.js';
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

export type DrillState =
  | { name: 'waiting-kill' }
  | { name: 'failover'; at: number; pod: string; pid: number; restarts: number; leases: string[] }
  | { name: 'waiting-scale-in'; since: number; dueAt?: number }
  | { name: 'scaling-in'; at: number; pod: string | undefined; leases: string[]; from: number; to: number }
  | { name: 'done' };

/** One look at the fleet. `progress` is the load's (0..1), 1 once the load has finished. */
export interface Observation {
  sample: Sample;
  leases: readonly LeaseView[];
  loadFinished: boolean;
  progress: number;
}

export interface Transition {
  next: DrillState;
  event: DrillEvent;
}

export interface StepContext {
  options: DrillOptions;
  actions: DrillActions;
}

type StateOf<N extends DrillState['name']> = Extract<DrillState, { name: N }>;
export type Step<N extends DrillState['name']> = (
  state: StateOf<N>,
  seen: Observation,
  context: StepContext,
) => Promise<Transition | undefined> | Transition | undefined;

export function unfinishedOf(leases: readonly LeaseView[], owner: string): string[] {
  return leases.filter((l) => l.leaseOwner === owner && l.checkpoint !== SHARD_END).map((l) => l.leaseKey);
}

function livePods(sample: Sample): PodSample[] {
  return sample.workers.pods.filter((p) => !p.stopping && p.pid !== null);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const ownersText = (owners: Record<string, string>) => [...new Set(Object.values(owners))].join(', ');

/** Who holds a lease that moved on, or undefined while it is still where it was. */
function finishedOwner(lease: LeaseView | undefined): string | undefined {
  if (!lease) return 'lease deleted';
  // Finished meanwhile: by whoever took it (a dead worker finishes nothing).
  if (lease.checkpoint === SHARD_END) return `${lease.leaseOwner ?? 'a peer'} (shard finished)`;
  return undefined;
}

/** The event that ends a waiting step: where the leases went, how long it took, and one sentence. */
function outcome(
  kind: DrillEventKind,
  t: number,
  pod: string | undefined,
  leases: string[],
  newOwners: Record<string, string>,
  durationMs: number,
  completed: boolean,
  text: { moved: string; none: string; late: string },
): DrillEvent {
  return {
    t,
    kind,
    ...(pod ? { pod } : {}),
    leases,
    newOwners,
    durationMs,
    completed,
    text: completed ? (leases.length > 0 ? text.moved : text.none) : text.late,
  };
}

/** 1. Mid-load, SIGKILL the ready worker with the most unfinished leases. */
export const kill: Step<'waiting-kill'> = (_state, seen, { options, actions }) => {
  if (seen.progress < options.killAt) return undefined;
  const ranked = livePods(seen.sample)
    .filter((pod) => pod.ready)
    .map((pod) => ({ pod, leases: unfinishedOf(seen.leases, pod.name) }))
    .sort((a, b) => b.leases.length - a.leases.length);
  const target = ranked[0];
  // Prefer a worker with work, so leases visibly move; any ready worker once the load is nearly done.
  if (!target || (target.leases.length === 0 && seen.progress < 0.9)) return undefined;
  const pid = target.pod.pid as number;
  actions.kill(pid);
  const t = seen.sample.t;
  return {
    next: {
      name: 'failover',
      at: t,
      pod: target.pod.name,
      pid,
      restarts: target.pod.restarts,
      leases: target.leases,
    },
    event: {
      t,
      kind: DrillEventKind.Kill,
      pod: target.pod.name,
      pid,
      leases: target.leases,
      text: `SIGKILL ${target.pod.name} (pid ${pid}) holding ${target.leases.length} unfinished lease(s)`,
    },
  };
};

/** 2. Done when every lease the killed worker held is owned by a live worker again (or it restarted). */
export const failover: Step<'failover'> = (state, seen, { options }) => {
  const { sample } = seen;
  const live = new Map(sample.workers.pods.filter((p) => p.ready && !p.stopping).map((p) => [p.name, p]));
  const owners: Record<string, string> = {};
  let settled = true;
  for (const key of state.leases) {
    const lease = seen.leases.find((l) => l.leaseKey === key);
    const finished = finishedOwner(lease);
    if (finished !== undefined) {
      owners[key] = finished;
      continue;
    }
    const owner = lease?.leaseOwner;
    const pod = owner === undefined ? undefined : live.get(owner);
    const restarted = pod !== undefined && owner === state.pod && pod.restarts > state.restarts;
    if (owner !== undefined && pod && (owner !== state.pod || restarted)) {
      owners[key] = owner === state.pod ? `${owner} (restarted)` : owner;
    } else settled = false;
  }
  const back = state.leases.length > 0 || (live.get(state.pod)?.restarts ?? 0) > state.restarts;
  const durationMs = sample.t - state.at;
  const completed = settled && back;
  if (!completed && durationMs <= options.stepTimeoutMs) return undefined;
  return {
    next: { name: 'waiting-scale-in', since: sample.t },
    event: outcome(
      DrillEventKind.Failover,
      sample.t,
      state.pod,
      state.leases,
      owners,
      durationMs,
      completed,
      {
        moved: `${state.leases.length} lease(s) of ${state.pod} taken over by ${ownersText(owners)} after ${seconds(durationMs)}`,
        none: `${state.pod} restarted after ${seconds(durationMs)} (it held no unfinished lease)`,
        late: `leases of ${state.pod} not all taken over after ${seconds(durationMs)}`,
      },
    ),
  };
};

/** 3. Later in the load, lower maxReplicaCount by one below what KEDA runs (skipped with one worker). */
export const scaleIn: Step<'waiting-scale-in'> = async (state, seen, { options, actions }) => {
  const { sample, loadFinished } = seen;
  if (seen.progress < options.scaleInAt) return undefined;
  const desired = sample.workers.desired;
  if (desired < 2 || livePods(sample).length < 2) {
    if (!loadFinished && sample.t - state.since <= options.stepTimeoutMs) return undefined;
    return {
      next: { name: 'done' },
      event: {
        t: sample.t,
        kind: DrillEventKind.Skipped,
        text: `scale-in skipped: KEDA runs ${desired} worker(s), and a fleet needs two to scale one in`,
      },
    };
  }
  const to = desired - 1;
  // The cluster stops the pods beyond the new count, in its own order (see local/cluster reconcile).
  const victim = sample.workers.pods.filter((pod) => !pod.stopping)[to];
  const victimLeases = victim ? unfinishedOf(seen.leases, victim.name) : [];
  // A hand-off shows best when the pod that goes holds a lease: wait a little for one to land there.
  state.dueAt ??= sample.t;
  if (victimLeases.length === 0 && !loadFinished && sample.t - state.dueAt < options.leaseWaitMs)
    return undefined;
  await actions.setMaxReplicas(to);
  const from = options.maxReplicaCount;
  return {
    next: { name: 'scaling-in', at: sample.t, pod: victim?.name, leases: victimLeases, from, to },
    event: {
      t: sample.t,
      kind: DrillEventKind.ScaleIn,
      ...(victim ? { pod: victim.name } : {}),
      leases: victimLeases,
      maxReplicaCount: { from, to },
      text: `scale in: maxReplicaCount ${from} → ${to}; KEDA scales ${desired} → ${to} and the cluster SIGTERMs ${victim?.name ?? 'one pod'} (${victimLeases.length} unfinished lease(s))`,
    },
  };
};

/** 4. Done when the pod that was scaled in has exited and its leases are owned by others. */
export const handoff: Step<'scaling-in'> = (state, seen, { options }) => {
  const { sample } = seen;
  const gone = state.pod === undefined || !sample.workers.pods.some((pod) => pod.name === state.pod);
  const owners: Record<string, string> = {};
  let handedOff = true;
  for (const key of state.leases) {
    const lease = seen.leases.find((l) => l.leaseKey === key);
    const finished = finishedOwner(lease);
    if (finished !== undefined) owners[key] = finished;
    else if (lease?.leaseOwner !== undefined && lease.leaseOwner !== state.pod)
      owners[key] = lease.leaseOwner;
    else handedOff = false;
  }
  const durationMs = sample.t - state.at;
  const completed = gone && handedOff;
  if (!completed && durationMs <= options.stepTimeoutMs) return undefined;
  return {
    next: { name: 'done' },
    event: outcome(DrillEventKind.Handoff, sample.t, state.pod, state.leases, owners, durationMs, completed, {
      moved: `${state.pod} drained and exited; ${state.leases.length} lease(s) handed to ${ownersText(owners)} in ${seconds(durationMs)}`,
      none: `${state.pod} drained and exited in ${seconds(durationMs)} (it held no unfinished lease)`,
      late: `${state.pod} had not handed off its leases after ${seconds(durationMs)}`,
    }),
  };
};
