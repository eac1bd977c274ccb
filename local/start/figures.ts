/**
 * The one source of every number a person sees while `npm start` runs and after it: the live view, the
 * non-TTY lines, the summary and the report all read a sample through `fleetFigures`, so "what KEDA's trigger
 * asks", "what KEDA decided", "what the unfinished shards need" and "what runs" are computed once, from the
 * ScaledObject's numbers in force at that sample (the drill lowers maxReplicaCount), with the arithmetic
 * spelled out by core/kubernetes/keda.ts. Pure: no clock, no I/O.
 */
import { scalingConfig } from '../../core/kubernetes/keda.js';
import {
  describeArithmetic,
  kedaTriggerArithmetic,
  neededArithmetic,
  type ReplicaArithmetic,
} from '../../core/kubernetes/keda-explain.js';
import type { Sample } from './sampler.js';

export interface Figures {
  t: number;
  phase: string;
  load: {
    written: number;
    target: number;
    /** Whole percent, rounded down: 100 only when every item is written. */
    percent: number;
    writesPerSecond: number;
    batches: { done: number; writing: number; total: number };
  };
  rollovers: number;
  shards: Sample['shards'];
  keda: {
    /** What KEDA's trigger asks for over every listed shard, within the ScaledObject's limits. */
    trigger: ReplicaArithmetic | null;
    /** "21 shards → ceil(21/2) = 11, capped at 3", or "—" before the stream exists. */
    triggerText: string;
    /** KEDA's (the HPA's) last decision: the Deployment's replicas it set. */
    desired: number | null;
    maxReplicaCount: number;
  };
  needed: { arithmetic: ReplicaArithmetic | null; text: string };
  workers: { running: number; ready: number; deployment: number; stopping: number };
  leases: {
    /** Unfinished leases per worker (short pod names), live workers first; `gone` for owners no longer running. */
    byWorker: { worker: string; count: number; gone: boolean }[];
    unowned: number;
    total: number;
  };
  /**
   * Items in the replica and in the source table (both tables' counts: after a `streamfleet setup` against
   * --keep-running the source holds more than npm start's own load), and records the workers processed.
   */
  replica: {
    items: number | null;
    sourceItems: number | null;
    recordsProcessed: number;
    recordsPerSecond: number;
  };
  lag: { nowMs: number | null; p50Ms: number | null; p99Ms: number | null; workersGaugeMs: number | null };
}

/** The pod name without the Deployment's prefix: `users-replicator-3fa9c1-7b2d0` → `3fa9c1-7b2d0`. */
export function shortPod(name: string, fleetName: string): string {
  return name.startsWith(`${fleetName}-`) ? name.slice(fleetName.length + 1) : name;
}

export function fleetFigures(
  sample: Sample,
  context: { fleetName: string; lag: { p50: number | undefined; p99: number | undefined } },
): Figures {
  const { load, shards, workers } = sample;
  const config = scalingConfig({ ...sample.scaling });
  const trigger = shards ? kedaTriggerArithmetic(shards.total, config) : null;
  const needed = shards ? neededArithmetic(shards.unfinished, config) : null;
  const live = new Set(workers.pods.filter((p) => !p.stopping).map((p) => p.name));
  const byWorker = Object.entries(sample.leases.byOwner)
    .map(([owner, count]) => ({ worker: shortPod(owner, context.fleetName), count, gone: !live.has(owner) }))
    .sort((a, b) => Number(a.gone) - Number(b.gone) || a.worker.localeCompare(b.worker));
  const started = load.batchesStarted ?? load.batchesDone;
  return {
    t: sample.t,
    phase: sample.phase,
    load: {
      written: load.written,
      target: load.target,
      percent: load.target > 0 ? Math.floor((load.written / load.target) * 100) : 0,
      writesPerSecond: sample.writes.perSecond,
      batches: {
        done: load.batchesDone,
        writing: Math.max(0, started - load.batchesDone),
        total: load.batches,
      },
    },
    rollovers: sample.rollovers,
    shards,
    keda: {
      trigger,
      triggerText: trigger ? describeArithmetic(trigger) : '—',
      desired: sample.keda.desired,
      maxReplicaCount: config.maxReplicaCount,
    },
    needed: { arithmetic: needed, text: needed ? describeArithmetic(needed, 'unfinished') : '—' },
    workers: {
      running: workers.running,
      ready: workers.ready,
      deployment: workers.desired,
      stopping: workers.pods.filter((p) => p.stopping).length,
    },
    leases: { byWorker, unowned: sample.leases.unowned, total: sample.leases.total },
    replica: {
      items: sample.items.replica,
      sourceItems: sample.items.source,
      recordsProcessed: sample.records.processed,
      recordsPerSecond: sample.records.perSecond,
    },
    lag: {
      nowMs: sample.lag.endToEndMs,
      p50Ms: context.lag.p50 ?? null,
      p99Ms: context.lag.p99 ?? null,
      workersGaugeMs: sample.lag.maxMs,
    },
  };
}
