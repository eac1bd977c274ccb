/**
 * The replica arithmetic of KEDA's `aws-dynamodb-streams` scaler and the HorizontalPodAutoscaler it drives,
 * as pure functions of explicit inputs (no clock, no AWS), plus the number Streamfleet argues for instead.
 *
 * How the classic setup decides, one tick at a time:
 * 1. The scaler (kedacore/keda pkg/scalers/aws_dynamodb_streams_scaler.go) pages DescribeStream and
 *    reports every shard it returns as the metric — closed shards included, since DescribeStream lists
 *    every shard still inside the 24 h retention window. The trigger is active when
 *    `metric > activationShardCount` (default 0); the target per pod is `shardCount` (default 2) as an
 *    AverageValue.
 * 2. KEDA itself only moves between zero and non-zero: an active trigger at 0 replicas scales to
 *    max(minReplicaCount, 1); an inactive trigger with minReplicaCount 0 scales to 0 once `cooldownPeriod`
 *    (default 300 s) has passed since it was last active. Everything in between is the HPA's.
 * 3. The HPA (kubernetes pkg/controller/podautoscaler): for an External AverageValue metric,
 *    ratio = metric / (target × current); if |1 − ratio| ≤ tolerance (0.1) it keeps the current count,
 *    otherwise desired = ceil(metric / target). The recommendation is then stabilised (scale-down: the
 *    highest recommendation in the last 300 s; scale-up: the lowest in the last 0 s), and clamped to the
 *    HPA's [max(minReplicaCount, 1), maxReplicaCount].
 * Not modelled: the HPA's rate policies (by default scale-up by max(100 %, 4 pods) per 15 s, scale-down by
 * 100 % per 15 s) — they bound how fast the count moves, not where it lands — and `idleReplicaCount`.
 *
 * The better number: a shard needs a worker only while it has work — while it is open, or closed with a
 * lease that has not reached SHARD_END. `neededReplicas` is ceil(unfinished / shardCount), clamped.
 */
import { InvalidInputError } from '../vocabulary/errors.js';
import { requireInteger, requireNumber } from '../vocabulary/validation.js';

/** KEDA's defaults for a ScaledObject with an `aws-dynamodb-streams` trigger. */
export const KEDA_DEFAULTS = {
  shardCount: 2,
  activationShardCount: 0,
  minReplicaCount: 0,
  maxReplicaCount: 100,
  cooldownPeriodSeconds: 300,
  pollingIntervalSeconds: 30,
} as const;

/** The HorizontalPodAutoscaler's defaults (kube-controller-manager and `behavior`). */
export const HPA_DEFAULTS = {
  tolerance: 0.1,
  scaleDownStabilizationSeconds: 300,
  scaleUpStabilizationSeconds: 0,
} as const;

/** The HPA accepts stabilisation windows of 0..3600 s. */
const MAX_STABILIZATION_SECONDS = 3600;

/**
 * How the fleet is scaled. `classic`: KEDA's `aws-dynamodb-streams` trigger (counts every shard).
 * `unfinished-shards`: KEDA's `aws-cloudwatch` trigger on the fleet's `UnfinishedShards` metric.
 */
export const ScalingMode = {
  Classic: 'classic',
  UnfinishedShards: 'unfinished-shards',
} as const;
export type ScalingMode = (typeof ScalingMode)[keyof typeof ScalingMode];

/** Where the fleet publishes the count of shards that still have work, for the `unfinished-shards` mode. */
export const UNFINISHED_SHARDS_METRIC = {
  namespace: 'Streamfleet',
  metricName: 'UnfinishedShards',
  dimensionName: 'ApplicationName',
} as const;

/** What the arithmetic needs to know about one shard of the stream. */
export interface ShardState {
  /** The shard has an ending sequence number: DynamoDB writes no more records to it. */
  closed: boolean;
  /** The shard's lease checkpoint has reached SHARD_END: every record has been processed. */
  finished: boolean;
}

export interface ScalingConfig {
  /** Target shards per pod (KEDA trigger metadata `shardCount`, the AverageValue target). */
  shardCount: number;
  /** The trigger is active when the metric is greater than this (`activationShardCount`). */
  activationShardCount: number;
  minReplicaCount: number;
  maxReplicaCount: number;
  /** Seconds after the last active poll before KEDA scales to zero (`cooldownPeriod`). */
  cooldownPeriodSeconds: number;
  /** The HPA's tolerance (kube-controller-manager `--horizontal-pod-autoscaler-tolerance`). */
  tolerance: number;
  scaleDownStabilizationSeconds: number;
  scaleUpStabilizationSeconds: number;
}

/** A complete, validated configuration: KEDA's and the HPA's defaults with `overrides` on top. */
export function scalingConfig(overrides: Partial<ScalingConfig> = {}): ScalingConfig {
  const config: ScalingConfig = {
    shardCount: KEDA_DEFAULTS.shardCount,
    activationShardCount: KEDA_DEFAULTS.activationShardCount,
    minReplicaCount: KEDA_DEFAULTS.minReplicaCount,
    maxReplicaCount: KEDA_DEFAULTS.maxReplicaCount,
    cooldownPeriodSeconds: KEDA_DEFAULTS.cooldownPeriodSeconds,
    tolerance: HPA_DEFAULTS.tolerance,
    scaleDownStabilizationSeconds: HPA_DEFAULTS.scaleDownStabilizationSeconds,
    scaleUpStabilizationSeconds: HPA_DEFAULTS.scaleUpStabilizationSeconds,
    ...withoutUndefined(overrides),
  };
  requireInteger('shardCount', config.shardCount, { min: 1 });
  requireInteger('activationShardCount', config.activationShardCount, { min: 0 });
  requireInteger('minReplicaCount', config.minReplicaCount, { min: 0 });
  requireInteger('maxReplicaCount', config.maxReplicaCount, { min: 1 });
  if (config.maxReplicaCount < config.minReplicaCount) {
    throw new InvalidInputError(
      'maxReplicaCount',
      `expected at least minReplicaCount (${config.minReplicaCount}), got ${config.maxReplicaCount}`,
    );
  }
  requireInteger('cooldownPeriodSeconds', config.cooldownPeriodSeconds, { min: 0 });
  requireNumber('tolerance', config.tolerance, { min: 0, max: 1 });
  requireInteger('scaleDownStabilizationSeconds', config.scaleDownStabilizationSeconds, {
    min: 0,
    max: MAX_STABILIZATION_SECONDS,
  });
  requireInteger('scaleUpStabilizationSeconds', config.scaleUpStabilizationSeconds, {
    min: 0,
    max: MAX_STABILIZATION_SECONDS,
  });
  return config;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The scaler's metric: every shard DescribeStream returns, open or closed, finished or not. */
export function streamShardMetric(shards: readonly ShardState[]): number {
  return shards.length;
}

/** KEDA's activity check: `metric > activationShardCount`. */
export function isTriggerActive(metric: number, activationShardCount: number): boolean {
  return metric > activationShardCount;
}

/** metric / (target × current): the HPA's usage ratio for an External AverageValue metric. */
export function hpaUsageRatio(metric: number, target: number, currentReplicas: number): number {
  return metric / (target * currentReplicas);
}

/**
 * The HPA's raw recommendation for an External metric with an AverageValue target
 * (ReplicaCalculator.GetExternalPerPodMetricReplicas): keep `currentReplicas` while the usage ratio is
 * within `tolerance` of 1, otherwise ceil(metric / target). No clamping, no stabilisation.
 */
export function hpaAverageValueReplicas(input: {
  currentReplicas: number;
  metric: number;
  target: number;
  tolerance: number;
}): number {
  const ratio = hpaUsageRatio(input.metric, input.target, input.currentReplicas);
  // Written as the HPA writes it, so NaN (0 / 0 at zero replicas) keeps the current count as Go's does.
  if (Math.abs(1 - ratio) > input.tolerance) {
    return Math.ceil(input.metric / input.target);
  }
  return input.currentReplicas;
}

export function clampReplicas(replicas: number, min: number, max: number): number {
  return Math.min(Math.max(replicas, min), max);
}

/** One raw HPA recommendation, remembered for stabilisation. */
export interface Recommendation {
  replicas: number;
  /** When it was made, in milliseconds on the caller's clock. */
  atMs: number;
}

/**
 * The HPA's stabilisation (stabilizeRecommendationWithBehaviors). Within the scale-down window the count
 * may not fall below the highest recommendation; within the scale-up window it may not rise above the
 * lowest; the current count is moved only as far as those bounds require. Returns the stabilised count and
 * the history to pass to the next call: `recommendation` recorded at `nowMs`, samples older than both
 * windows dropped.
 */
export function stabilizeRecommendation(input: {
  nowMs: number;
  currentReplicas: number;
  recommendation: number;
  history: readonly Recommendation[];
  scaleUpStabilizationSeconds: number;
  scaleDownStabilizationSeconds: number;
}): { replicas: number; history: Recommendation[] } {
  const upCutoff = input.nowMs - input.scaleUpStabilizationSeconds * 1000;
  const downCutoff = input.nowMs - input.scaleDownStabilizationSeconds * 1000;
  let upLimit = input.recommendation;
  let downLimit = input.recommendation;
  for (const sample of input.history) {
    if (sample.atMs > upCutoff) upLimit = Math.min(upLimit, sample.replicas);
    if (sample.atMs > downCutoff) downLimit = Math.max(downLimit, sample.replicas);
  }
  let replicas = input.currentReplicas;
  if (replicas < upLimit) replicas = upLimit;
  if (replicas > downLimit) replicas = downLimit;
  const kept = input.history.filter((sample) => !(sample.atMs < upCutoff && sample.atMs < downCutoff));
  return { replicas, history: [...kept, { replicas: input.recommendation, atMs: input.nowMs }] };
}

/** Why a tick ended where it did. */
export const ScalingReason = {
  /** KEDA: an active trigger at zero replicas scales to max(minReplicaCount, 1). */
  ScaleFromZero: 'scale-from-zero',
  /** KEDA: inactive, minReplicaCount 0, cooldown over. */
  ScaleToZero: 'scale-to-zero',
  /** KEDA: inactive at zero replicas with minReplicaCount 0: nothing to do. */
  Idle: 'idle',
  /** KEDA or the HPA: the current count is below the minimum. */
  BelowMinimum: 'below-minimum',
  /** The HPA: the current count is above maxReplicaCount. */
  AboveMaximum: 'above-maximum',
  /** The HPA: the usage ratio is within tolerance; the count stays. */
  WithinTolerance: 'within-tolerance',
  /** The HPA: ceil(metric / target), unchanged by stabilisation or limits. */
  Metric: 'metric',
  /** The HPA: a recent higher (or lower) recommendation held the count. */
  Stabilized: 'stabilized',
  /** The HPA: the recommendation was clamped to [max(minReplicaCount, 1), maxReplicaCount]. */
  Clamped: 'clamped',
} as const;
export type ScalingReason = (typeof ScalingReason)[keyof typeof ScalingReason];

export interface ScalingTickInput {
  /** The caller's clock, in milliseconds. */
  nowMs: number;
  /** The scale target's replicas now. */
  currentReplicas: number;
  /** The trigger's metric: `streamShardMetric(shards)` for the classic trigger. */
  metric: number;
  config: ScalingConfig;
  /** The HPA's remembered recommendations, as returned by the previous tick. */
  history?: readonly Recommendation[];
  /** When KEDA last saw the trigger active; undefined when never (KEDA then skips the cooldown). */
  lastActiveAtMs?: number;
}

export interface ScalingDecision {
  replicas: number;
  reason: ScalingReason;
  metric: number;
  active: boolean;
  /** The HPA's raw recommendation, when the HPA computed one this tick. */
  recommendation?: number;
  /** Pass to the next tick. */
  history: Recommendation[];
}

/**
 * One tick of KEDA plus the HPA for a ScaledObject: where the replica count goes next. KEDA acts first
 * where it acts at all (0 ↔ N); otherwise the HPA's AverageValue arithmetic, stabilisation and limits.
 */
export function kedaReplicas(input: ScalingTickInput): ScalingDecision {
  const { config, currentReplicas, metric, nowMs } = input;
  const history = [...(input.history ?? [])];
  const active = isTriggerActive(metric, config.activationShardCount);
  const hpaMin = Math.max(config.minReplicaCount, 1);
  const decide = (replicas: number, reason: ScalingReason) => ({ replicas, reason, metric, active, history });

  if (currentReplicas === 0) {
    if (active) return decide(hpaMin, ScalingReason.ScaleFromZero);
    if (config.minReplicaCount > 0) return decide(config.minReplicaCount, ScalingReason.BelowMinimum);
    return decide(0, ScalingReason.Idle);
  }
  if (!active && config.minReplicaCount === 0) {
    const cooledDown =
      input.lastActiveAtMs === undefined ||
      input.lastActiveAtMs + config.cooldownPeriodSeconds * 1000 < nowMs;
    if (cooledDown) return decide(0, ScalingReason.ScaleToZero);
  }
  if (currentReplicas > config.maxReplicaCount)
    return decide(config.maxReplicaCount, ScalingReason.AboveMaximum);
  if (currentReplicas < hpaMin) return decide(hpaMin, ScalingReason.BelowMinimum);

  const recommendation = hpaAverageValueReplicas({
    currentReplicas,
    metric,
    target: config.shardCount,
    tolerance: config.tolerance,
  });
  const stabilized = stabilizeRecommendation({
    nowMs,
    currentReplicas,
    recommendation,
    history,
    scaleUpStabilizationSeconds: config.scaleUpStabilizationSeconds,
    scaleDownStabilizationSeconds: config.scaleDownStabilizationSeconds,
  });
  const replicas = clampReplicas(stabilized.replicas, hpaMin, config.maxReplicaCount);
  const reason =
    replicas !== stabilized.replicas
      ? ScalingReason.Clamped
      : stabilized.replicas !== recommendation
        ? ScalingReason.Stabilized
        : recommendation === currentReplicas && Math.ceil(metric / config.shardCount) !== currentReplicas
          ? ScalingReason.WithinTolerance
          : ScalingReason.Metric;
  return { replicas, reason, metric, active, recommendation, history: stabilized.history };
}

/**
 * Where the classic setup settles for a metric once stabilisation windows have passed: 0 when the
 * trigger is inactive and minReplicaCount is 0, else ceil(metric / shardCount) clamped to
 * [max(minReplicaCount, 1), maxReplicaCount]. (Tolerance can leave a running fleet one step off this.)
 */
export function kedaSteadyStateReplicas(metric: number, config: ScalingConfig): number {
  if (!isTriggerActive(metric, config.activationShardCount) && config.minReplicaCount === 0) return 0;
  return clampReplicas(
    Math.ceil(metric / config.shardCount),
    Math.max(config.minReplicaCount, 1),
    config.maxReplicaCount,
  );
}

/** Shards that still need a worker: open, or closed with a lease short of SHARD_END. */
export function unfinishedShardCount(shards: readonly ShardState[]): number {
  return shards.filter((shard) => !shard.closed || !shard.finished).length;
}

/** The replicas the shards with work actually need: ceil(unfinished / shardCount), clamped to [min, max]. */
export function neededReplicas(shards: readonly ShardState[], config: ScalingConfig): number {
  return clampReplicas(
    Math.ceil(unfinishedShardCount(shards) / config.shardCount),
    config.minReplicaCount,
    config.maxReplicaCount,
  );
}
