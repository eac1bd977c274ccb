/** KEDA's arithmetic explained: what the trigger asks for beside what the shards with work need, in words. */
import {
  clampReplicas,
  isTriggerActive,
  kedaSteadyStateReplicas,
  neededReplicas,
  type ScalingConfig,
  ScalingReason,
  type ShardState,
  streamShardMetric,
  unfinishedShardCount,
} from './keda.js';

export interface ReplicaComparison {
  shards: { total: number; open: number; closed: number; closedFinished: number; unfinished: number };
  /** KEDA's metric and where the classic setup settles. */
  classic: { metric: number; active: boolean; replicas: number };
  /** What the shards with work need. */
  needed: { replicas: number };
  /** Pods the classic setup runs that hold no lease with work: classic − needed, never below 0. */
  idleReplicas: number;
  /** One sentence for a person. */
  summary: string;
}

/** Both numbers for one set of shards, so a user sees what the classic setup runs for nothing. */
export function compareReplicas(shards: readonly ShardState[], config: ScalingConfig): ReplicaComparison {
  const closed = shards.filter((shard) => shard.closed).length;
  const closedFinished = shards.filter((shard) => shard.closed && shard.finished).length;
  const unfinished = unfinishedShardCount(shards);
  const metric = streamShardMetric(shards);
  const classicReplicas = kedaSteadyStateReplicas(metric, config);
  const needed = neededReplicas(shards, config);
  const idleReplicas = Math.max(classicReplicas - needed, 0);
  const summary =
    `KEDA's aws-dynamodb-streams scaler counts ${metric} shards (${closedFinished} of them closed and finished) ` +
    `and settles at ${classicReplicas} pods; ${unfinished} shards still have work, which needs ${needed} pods` +
    ` (shardCount ${config.shardCount}): ${idleReplicas} pods idle.`;
  return {
    shards: { total: shards.length, open: shards.length - closed, closed, closedFinished, unfinished },
    classic: {
      metric,
      active: isTriggerActive(metric, config.activationShardCount),
      replicas: classicReplicas,
    },
    needed: { replicas: needed },
    idleReplicas,
    summary,
  };
}

/**
 * One replica count as arithmetic a person can check: `count` shards at `shardCount` per pod, rounded up,
 * then held within [min, max]. Every surface that shows a replica number (the live view, the summary, the
 * checks, the report, KEDA's decisions) says it through `describeArithmetic`, so they cannot disagree.
 */
export interface ReplicaArithmetic {
  /** Shards counted (every listed shard for KEDA's trigger; the unfinished ones for the needed number). */
  count: number;
  shardCount: number;
  /** ceil(count / shardCount), before limits. */
  raw: number;
  min: number;
  max: number;
  /** `raw` within [min, max]. */
  replicas: number;
  /** Which limit moved `raw`, if any (`inactive`: KEDA's trigger is below its activation and scales to zero). */
  limitedBy: 'max' | 'min' | 'inactive' | undefined;
}

export function replicaArithmetic(
  count: number,
  limits: { shardCount: number; minReplicaCount: number; maxReplicaCount: number },
): ReplicaArithmetic {
  const raw = Math.ceil(count / limits.shardCount);
  const replicas = clampReplicas(raw, limits.minReplicaCount, limits.maxReplicaCount);
  const limitedBy = replicas < raw ? 'max' : replicas > raw ? 'min' : undefined;
  return {
    count,
    shardCount: limits.shardCount,
    raw,
    min: limits.minReplicaCount,
    max: limits.maxReplicaCount,
    replicas,
    limitedBy,
  };
}

/** "13 shards → ceil(13/2) = 7, capped at 3"; `noun` names what was counted ("unfinished shards"). */
export function describeArithmetic(a: ReplicaArithmetic, noun = 'shards'): string {
  const base = `${a.count} ${noun} → ceil(${a.count}/${a.shardCount}) = ${a.raw}`;
  if (a.limitedBy === 'max') return `${base}, capped at ${a.max}`;
  if (a.limitedBy === 'min') return `${base}, raised to ${a.min}`;
  if (a.limitedBy === 'inactive') return `${base}, trigger inactive: 0`;
  return base;
}

/** KEDA's trigger over every listed shard (the classic setup's steady state, with KEDA's own minimum of 1 while active). */
export function kedaTriggerArithmetic(metric: number, config: ScalingConfig): ReplicaArithmetic {
  const arithmetic = replicaArithmetic(metric, {
    ...config,
    minReplicaCount: Math.max(config.minReplicaCount, 1),
  });
  // Same number as kedaSteadyStateReplicas, with the reason it is what it is.
  if (!isTriggerActive(metric, config.activationShardCount) && config.minReplicaCount === 0) {
    return { ...arithmetic, min: 0, replicas: 0, limitedBy: 'inactive' };
  }
  return arithmetic;
}

/** What the shards with work need: ceil(unfinished / shardCount) within [minReplicaCount, maxReplicaCount]. */
export function neededArithmetic(unfinished: number, config: ScalingConfig): ReplicaArithmetic {
  return replicaArithmetic(unfinished, config);
}

/**
 * One of KEDA's decisions (a tick that changed the replica count), said as arithmetic:
 * "2 → 3 replicas: 5 shards → ceil(5/2) = 3" or "4 → 3 replicas: 21 shards → ceil(21/2) = 11, capped at 3".
 */
export function explainScalingDecision(
  decision: { from: number; to: number; metric: number; reason: string },
  config: ScalingConfig,
): string {
  const move = `${decision.from} → ${decision.to} replicas`;
  const sum = describeArithmetic(kedaTriggerArithmetic(decision.metric, config));
  switch (decision.reason) {
    case ScalingReason.ScaleFromZero:
      return `${move}: ${decision.metric} shards > activationShardCount ${config.activationShardCount}, so KEDA starts from zero`;
    case ScalingReason.ScaleToZero:
      return `${move}: ${decision.metric} shards, trigger inactive past its cooldown`;
    case ScalingReason.Idle:
      return `${move}: trigger inactive`;
    case ScalingReason.BelowMinimum:
      return `${move}: raised to minReplicaCount ${Math.max(config.minReplicaCount, 1)}`;
    case ScalingReason.AboveMaximum:
      return `${move}: maxReplicaCount is ${config.maxReplicaCount} (${sum})`;
    case ScalingReason.Stabilized:
      return `${move}: held by the HPA's stabilisation window (${sum})`;
    case ScalingReason.WithinTolerance:
      return `${move}: within the HPA's tolerance (${sum})`;
    default:
      return `${move}: ${sum}`;
  }
}
