/**
 * The fault drill `npm start` runs by default, driven by the samples:
 * 1. Mid-load, SIGKILL the worker that holds the most unfinished leases (a crash: no drain, no hand-off).
 *    The local cluster restarts its container after a back-off, as Kubernetes does; meanwhile its peers
 *    find its leases expired and take them. Done when every lease it held is owned by a live worker again.
 * 2. Later, scale in by one: lower the ScaledObject's maxReplicaCount below what KEDA runs, so KEDA scales
 *    the Deployment down and the cluster SIGTERMs one pod, which drains, checkpoints and hands its leases
 *    to its peers. Done when that pod has exited and its leases are owned by others.
 * Each step waits at most `stepTimeoutMs`; the replica must converge all the same (the verify workflow
 * at the end checks it). This class keeps the state and the events; each state's rule is a function in
 * local/start/drill-steps.ts.
 */
import type { LeaseView } from '../../core/fleet/fleet-state.js';
import {
  type DrillActions,
  type DrillEvent,
  type DrillOptions,
  type DrillState,
  failover,
  handoff,
  kill,
  type Observation,
  type StepContext,
  scaleIn,
  type Transition,
} from './drill-steps.js';
import { shortPod } from './figures.js';
import type { Sample } from './sampler.js';

export type { DrillActions, DrillEvent, DrillOptions } from './drill-steps.js';
export { DrillEventKind } from './drill-steps.js';

function advance(
  state: DrillState,
  seen: Observation,
  context: StepContext,
): Promise<Transition | undefined> | Transition | undefined {
  switch (state.name) {
    case 'waiting-kill':
      return kill(state, seen, context);
    case 'failover':
      return failover(state, seen, context);
    case 'waiting-scale-in':
      return scaleIn(state, seen, context);
    case 'scaling-in':
      return handoff(state, seen, context);
    default:
      return undefined;
  }
}

export class FaultDrill {
  private state: DrillState = { name: 'waiting-kill' };
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

  /** Looks at one sample (and the lease table read with it) and acts when a step is due. */
  async step(sample: Sample, leases: readonly LeaseView[], loadFinished: boolean): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const progress = loadFinished
        ? 1
        : sample.load.target > 0
          ? sample.load.written / sample.load.target
          : 0;
      const transition = await advance(
        this.state,
        { sample, leases, loadFinished, progress },
        { options: this.options, actions: this.actions },
      );
      if (transition) {
        this.state = transition.next;
        this.events.push(transition.event);
        this.onEvent(transition.event);
      }
    } finally {
      this.busy = false;
    }
  }
}

/** One short line once the drill is over: what each step took. */
export function drillDigest(events: readonly DrillEvent[], fleetName: string): string {
  const parts = events.map((e) => {
    const took = e.durationMs === undefined ? '' : ` in ${(e.durationMs / 1000).toFixed(1)} s`;
    switch (e.kind) {
      case 'sigkill':
        return `SIGKILL ${e.pod ? shortPod(e.pod, fleetName) : ''}`;
      case 'failover':
        return e.completed ? `leases taken over${took}` : `failover incomplete${took}`;
      case 'scale-in':
        return `scale in ${e.maxReplicaCount?.from ?? '?'} → ${e.maxReplicaCount?.to ?? '?'}`;
      case 'handoff':
        if (!e.completed) return `hand-off incomplete${took}`;
        return e.leases?.length ? `leases handed off${took}` : `drained and exited${took} (no lease)`;
      default:
        return e.text;
    }
  });
  return `done: ${parts.join(' → ')}`;
}
