/**
 * What the orchestrator says about the peers' processes: the port the lease taker consumes. Evidence is only
 * ever used to act *earlier* than the lease duration allows, never to hold back: without it (no Kubernetes API
 * configured, the watch down) the lease duration rules exactly as before.
 *
 * An owner (a worker's INSTANCE_NAME) is
 * - `gone` when the orchestrator says no process of that name runs any more: its pod object was deleted, or
 *   its worker container is not running (terminated, or waiting to be restarted). Its leases may be taken at
 *   once: every replica write is fenced by the lease owner, so even a process the orchestrator lost track of
 *   (a force-deleted pod on a cut-off node) cannot write after the take;
 * - `leaving` when its pod is being deleted (a deletionTimestamp) but its container still runs: it is handing
 *   its leases over (SIGTERM) and must not be raced, but its hand-offs are worth watching closely;
 * - `running` otherwise, as far as the orchestrator can tell (a frozen or partitioned process looks running).
 */

export const PeerState = { Running: 'running', Leaving: 'leaving', Gone: 'gone' } as const;
export type PeerState = (typeof PeerState)[keyof typeof PeerState];

/** Why an owner is known gone. */
export const GoneReason = {
  PodDeleted: 'pod-deleted',
  ContainerNotRunning: 'container-not-running',
} as const;
export type GoneReason = (typeof GoneReason)[keyof typeof GoneReason];

export type PeerChange =
  | { kind: 'state'; owner: string; state: PeerState; reason?: GoneReason; pod: string }
  /** The source became current (listed and watching) or stopped being so. */
  | { kind: 'current'; current: boolean };

export interface PeerEvidence {
  /** True while the source is current: connected, listed, watching. Only then do its states count. */
  isCurrent(): boolean;
  /** The owner's state as last reported; undefined for an owner the source has never seen. */
  stateOf(owner: string): PeerState | undefined;
  /** Called with every change, in the order the source saw them; returns an unsubscribe. */
  onChange(listener: (change: PeerChange) => void): () => void;
}

/** No orchestrator: nothing is ever known, so the lease duration alone rules. */
export const NO_PEER_EVIDENCE: PeerEvidence = {
  isCurrent: () => false,
  stateOf: () => undefined,
  onChange: () => () => {},
};

/** The parts of a Kubernetes Pod object the evidence is read from (as the API server sends it). */
export interface PodObject {
  metadata?: { name?: string; namespace?: string; deletionTimestamp?: unknown };
  spec?: {
    hostname?: string;
    containers?: {
      name?: string;
      env?: { name?: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }[];
    }[];
  };
  status?: {
    phase?: string;
    containerStatuses?: {
      name?: string;
      state?: { running?: unknown; terminated?: unknown; waiting?: unknown };
    }[];
  };
}

/** The variable every worker container sets: it tells the worker's container from any sidecar. */
const WORKER_MARKER = 'SOURCE_TABLE_STREAM_ARN';

/** What a pod says about the worker it runs. */
export interface PodReading {
  pod: string;
  /** The INSTANCE_NAME of its worker: the lease owner it writes as. */
  instance: string;
  /** Its worker container runs (state.running), and the pod is not finished. */
  running: boolean;
  /** Its deletion has begun (graceful stop under way). */
  terminating: boolean;
}

/**
 * Reads a pod as the lease owner it runs. The worker container is the one that sets SOURCE_TABLE_STREAM_ARN
 * (else the first); its INSTANCE_NAME is a literal value, the pod's name through the downward API
 * (`fieldRef: metadata.name`, as the manifests set it), or, when unset, the host name, which Kubernetes makes
 * `spec.hostname` or the pod's name cut to 63 characters. Pure.
 */
export function readPod(pod: PodObject): PodReading | undefined {
  const name = pod.metadata?.name;
  if (!name) return undefined;
  const containers = pod.spec?.containers ?? [];
  const container =
    containers.find((c) => c.env?.some((variable) => variable.name === WORKER_MARKER)) ?? containers[0];
  const variable = container?.env?.find((v) => v.name === 'INSTANCE_NAME');
  const hostname = pod.spec?.hostname ?? name.slice(0, 63);
  const fieldPath = variable?.valueFrom?.fieldRef?.fieldPath;
  const instance =
    variable?.value ??
    (fieldPath === 'metadata.name' ? name : fieldPath === undefined ? hostname : undefined);
  if (instance === undefined) return undefined;
  const status = pod.status?.containerStatuses?.find((s) => s.name === container?.name);
  const finished = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  return {
    pod: name,
    instance,
    running: !finished && status?.state?.running !== undefined,
    terminating: pod.metadata?.deletionTimestamp != null,
  };
}

/**
 * The pods of the worker's Deployment as the watch reports them, turned into owner states. An owner is
 * `gone` only once it was seen and no pod of its name runs any more; an owner never seen stays unknown (a
 * worker outside the cluster, or one that left before this worker started: the lease duration rules for
 * those). Pure: fed by the watch adapter, tested without one.
 */
export class PodLedger {
  private readonly pods = new Map<string, PodReading>();
  private readonly states = new Map<string, PeerState>();

  /** `self` is this worker's own instance name: it never reports on itself. */
  constructor(private readonly self: string) {}

  stateOf(owner: string): PeerState | undefined {
    return this.states.get(owner);
  }

  /** A pod was listed, added or modified. */
  upsert(pod: PodObject): PeerChange[] {
    const reading = readPod(pod);
    if (!reading) return [];
    const previous = this.pods.get(reading.pod);
    this.pods.set(reading.pod, reading);
    return [
      ...(previous && previous.instance !== reading.instance
        ? this.settle(previous.instance, reading.pod)
        : []),
      ...this.settle(reading.instance, reading.pod),
    ];
  }

  /** A pod object was deleted (or was missing when the pods were listed again). */
  remove(pod: PodObject): PeerChange[] {
    const name = pod.metadata?.name;
    const known = name === undefined ? undefined : this.pods.get(name);
    if (!known || name === undefined) return [];
    this.pods.delete(name);
    return this.settle(known.instance, name, true);
  }

  /** Recomputes an owner's state from the pods that carry its name; reports a change. */
  private settle(owner: string, pod: string, deleted = false): PeerChange[] {
    if (owner === this.self) return [];
    const pods = [...this.pods.values()].filter((p) => p.instance === owner);
    const running = pods.filter((p) => p.running);
    const state =
      running.length === 0
        ? PeerState.Gone
        : running.every((p) => p.terminating)
          ? PeerState.Leaving
          : PeerState.Running;
    if (this.states.get(owner) === state) return [];
    const seenBefore = this.states.has(owner);
    this.states.set(owner, state);
    // A pod first listed with its worker not running (yet) is no news: nothing of it was ever alive here.
    if (state === PeerState.Gone && !seenBefore && !deleted) return [];
    return [
      {
        kind: 'state',
        owner,
        state,
        pod,
        ...(state === PeerState.Gone
          ? { reason: deleted ? GoneReason.PodDeleted : GoneReason.ContainerNotRunning }
          : {}),
      },
    ];
  }
}
