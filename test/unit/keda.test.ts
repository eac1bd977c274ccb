import { describe, expect, it } from 'vitest';
import {
  clampReplicas,
  HPA_DEFAULTS,
  hpaAverageValueReplicas,
  isTriggerActive,
  KEDA_DEFAULTS,
  kedaReplicas,
  kedaSteadyStateReplicas,
  neededReplicas,
  type Recommendation,
  ScalingReason,
  type ShardState,
  scalingConfig,
  stabilizeRecommendation,
  streamShardMetric,
  unfinishedShardCount,
} from '../../core/kubernetes/keda.js';
import {
  compareReplicas,
  describeArithmetic,
  explainScalingDecision,
  kedaTriggerArithmetic,
  neededArithmetic,
} from '../../core/kubernetes/keda-explain.js';
import { InvalidInputError } from '../../core/vocabulary/errors.js';

const open = (n: number): ShardState[] =>
  Array.from({ length: n }, () => ({ closed: false, finished: false }));
const closedFinished = (n: number): ShardState[] =>
  Array.from({ length: n }, () => ({ closed: true, finished: true }));
const closedUnfinished = (n: number): ShardState[] =>
  Array.from({ length: n }, () => ({ closed: true, finished: false }));

const SECOND = 1000;
const NOW = 1_700_000_000_000;

describe('defaults', () => {
  it('match KEDA and the HPA', () => {
    expect(KEDA_DEFAULTS).toMatchObject({
      shardCount: 2,
      activationShardCount: 0,
      minReplicaCount: 0,
      maxReplicaCount: 100,
      cooldownPeriodSeconds: 300,
    });
    expect(HPA_DEFAULTS).toEqual({
      tolerance: 0.1,
      scaleDownStabilizationSeconds: 300,
      scaleUpStabilizationSeconds: 0,
    });
    expect(scalingConfig()).toEqual({
      shardCount: 2,
      activationShardCount: 0,
      minReplicaCount: 0,
      maxReplicaCount: 100,
      cooldownPeriodSeconds: 300,
      tolerance: 0.1,
      scaleDownStabilizationSeconds: 300,
      scaleUpStabilizationSeconds: 0,
    });
  });
});

describe('scalingConfig validation', () => {
  it.each([
    [{ shardCount: 0 }, 'shardCount'],
    [{ shardCount: 1.5 }, 'shardCount'],
    [{ activationShardCount: -1 }, 'activationShardCount'],
    [{ minReplicaCount: -1 }, 'minReplicaCount'],
    [{ maxReplicaCount: 0 }, 'maxReplicaCount'],
    [{ minReplicaCount: 5, maxReplicaCount: 4 }, 'maxReplicaCount'],
    [{ tolerance: -0.1 }, 'tolerance'],
    [{ scaleDownStabilizationSeconds: 3601 }, 'scaleDownStabilizationSeconds'],
  ])('rejects %o naming %s', (overrides, field) => {
    try {
      scalingConfig(overrides);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).toBe(field);
      expect((error as InvalidInputError).retriable).toBe(false);
    }
  });

  it('ignores undefined overrides', () => {
    expect(scalingConfig({ shardCount: undefined }).shardCount).toBe(2);
  });
});

describe('the aws-dynamodb-streams metric', () => {
  it.each([
    ['no shards', [], 0],
    ['open shards', open(3), 3],
    ['closed and finished shards count too', [...open(1), ...closedFinished(5)], 6],
    ['closed unfinished shards count', [...open(2), ...closedUnfinished(2), ...closedFinished(4)], 8],
  ])('%s', (_name, shards, metric) => {
    expect(streamShardMetric(shards)).toBe(metric);
  });

  it.each([
    [0, 0, false],
    [1, 0, true],
    [5, 5, false],
    [6, 5, true],
  ])('metric %i with activationShardCount %i is active: %s', (metric, activation, active) => {
    expect(isTriggerActive(metric, activation)).toBe(active);
  });
});

describe('HPA AverageValue arithmetic', () => {
  it.each([
    // current, metric, target, expected
    [1, 5, 2, 3],
    [1, 100, 2, 50],
    [10, 7, 3, 3],
    [4, 1, 2, 1],
  ])('ceil division: current %i, metric %i, target %i → %i', (currentReplicas, metric, target, expected) => {
    expect(hpaAverageValueReplicas({ currentReplicas, metric, target, tolerance: 0.1 })).toBe(expected);
  });

  it.each([
    // ratio = metric / (target × current); within 0.1 of 1 keeps the current count
    [10, 21, 2, 10], // ratio 1.05: ceil would say 11
    [10, 18, 2, 10], // ratio 0.9 (0.0999… off in floating point, as in Go): ceil would say 9
    [10, 17, 2, 9], // ratio 0.85
    [10, 23, 2, 12], // ratio 1.15
    [5, 11, 2, 6], // ratio 1.1 is 0.10000000000000009 off in floating point, as in Go: scales
  ])('tolerance: current %i, metric %i, target %i → %i', (currentReplicas, metric, target, expected) => {
    expect(hpaAverageValueReplicas({ currentReplicas, metric, target, tolerance: 0.1 })).toBe(expected);
  });

  it('at zero replicas: 0/0 keeps 0, anything else scales', () => {
    expect(hpaAverageValueReplicas({ currentReplicas: 0, metric: 0, target: 2, tolerance: 0.1 })).toBe(0);
    expect(hpaAverageValueReplicas({ currentReplicas: 0, metric: 4, target: 2, tolerance: 0.1 })).toBe(2);
  });

  it.each([
    [0, 1, 10, 1],
    [5, 1, 10, 5],
    [50, 1, 10, 10],
    [0, 0, 10, 0],
  ])('clamp(%i, %i, %i) = %i', (replicas, min, max, expected) => {
    expect(clampReplicas(replicas, min, max)).toBe(expected);
  });
});

describe('scale-down stabilisation', () => {
  const windows = { scaleUpStabilizationSeconds: 0, scaleDownStabilizationSeconds: 300 };

  it('keeps the highest recommendation within the window', () => {
    const history: Recommendation[] = [
      { replicas: 10, atMs: NOW - 100 * SECOND },
      { replicas: 7, atMs: NOW - 50 * SECOND },
    ];
    const result = stabilizeRecommendation({
      nowMs: NOW,
      currentReplicas: 10,
      recommendation: 4,
      history,
      ...windows,
    });
    expect(result.replicas).toBe(10);
    expect(result.history).toEqual([...history, { replicas: 4, atMs: NOW }]);
  });

  it('lets go once the high recommendation is older than the window, and forgets it', () => {
    const history: Recommendation[] = [
      { replicas: 10, atMs: NOW - 301 * SECOND },
      { replicas: 6, atMs: NOW - 200 * SECOND },
    ];
    const result = stabilizeRecommendation({
      nowMs: NOW,
      currentReplicas: 10,
      recommendation: 4,
      history,
      ...windows,
    });
    expect(result.replicas).toBe(6);
    expect(result.history).toEqual([
      { replicas: 6, atMs: NOW - 200 * SECOND },
      { replicas: 4, atMs: NOW },
    ]);
  });

  it('never holds the count above the current one', () => {
    const history: Recommendation[] = [{ replicas: 10, atMs: NOW - 10 * SECOND }];
    const result = stabilizeRecommendation({
      nowMs: NOW,
      currentReplicas: 5,
      recommendation: 3,
      history,
      ...windows,
    });
    expect(result.replicas).toBe(5);
  });

  it('does not delay scale-up (up window 0)', () => {
    const history: Recommendation[] = [{ replicas: 2, atMs: NOW - 10 * SECOND }];
    const result = stabilizeRecommendation({
      nowMs: NOW,
      currentReplicas: 2,
      recommendation: 10,
      history,
      ...windows,
    });
    expect(result.replicas).toBe(10);
  });

  it('delays scale-up with an up window: the lowest recommendation within it', () => {
    const history: Recommendation[] = [{ replicas: 3, atMs: NOW - 10 * SECOND }];
    const result = stabilizeRecommendation({
      nowMs: NOW,
      currentReplicas: 2,
      recommendation: 10,
      history,
      scaleUpStabilizationSeconds: 60,
      scaleDownStabilizationSeconds: 300,
    });
    expect(result.replicas).toBe(3);
  });

  it('a fleet whose metric drops holds its size for 300 s, ticking every 15 s', () => {
    const config = scalingConfig();
    let current = 10;
    let history: Recommendation[] = [];
    // Ten minutes at metric 20 (10 pods), then the metric drops to 4 at t = 0.
    for (let t = -600; t < 0; t += 15) {
      const tick = kedaReplicas({
        nowMs: NOW + t * SECOND,
        currentReplicas: current,
        metric: 20,
        config,
        history,
      });
      current = tick.replicas;
      history = tick.history;
    }
    expect(current).toBe(10);
    const seen: Array<[number, number]> = [];
    for (let t = 0; t <= 330; t += 15) {
      const tick = kedaReplicas({
        nowMs: NOW + t * SECOND,
        currentReplicas: current,
        metric: 4,
        config,
        history,
      });
      current = tick.replicas;
      history = tick.history;
      seen.push([t, current]);
    }
    // The last recommendation of 10 was made at t = -15. The HPA counts samples strictly after
    // now − 300 s, so at t = 285 it has left the window and the fleet drops straight to 2.
    expect(seen.filter(([t]) => t < 285).every(([, replicas]) => replicas === 10)).toBe(true);
    expect(seen.filter(([t]) => t >= 285).every(([, replicas]) => replicas === 2)).toBe(true);
  });
});

describe('one KEDA + HPA tick', () => {
  const base = { nowMs: NOW, history: [] as Recommendation[] };

  it.each([
    // name, overrides, currentReplicas, metric, lastActiveAtMs, expected replicas, reason
    ['active at zero scales to 1', {}, 0, 4, undefined, 1, ScalingReason.ScaleFromZero],
    [
      'active at zero scales to minReplicaCount',
      { minReplicaCount: 3 },
      0,
      4,
      undefined,
      3,
      ScalingReason.ScaleFromZero,
    ],
    ['inactive at zero stays at zero', { activationShardCount: 10 }, 0, 4, undefined, 0, ScalingReason.Idle],
    [
      'inactive at zero with a minimum goes to it',
      { activationShardCount: 10, minReplicaCount: 2 },
      0,
      4,
      undefined,
      2,
      ScalingReason.BelowMinimum,
    ],
    [
      'inactive, never active: scales to zero at once',
      { activationShardCount: 10 },
      3,
      4,
      undefined,
      0,
      ScalingReason.ScaleToZero,
    ],
    [
      'inactive past the cooldown: scales to zero',
      { activationShardCount: 10 },
      3,
      4,
      NOW - 301 * SECOND,
      0,
      ScalingReason.ScaleToZero,
    ],
    [
      'inactive within the cooldown: the HPA still decides',
      { activationShardCount: 10 },
      3,
      4,
      NOW - 100 * SECOND,
      2,
      ScalingReason.Metric,
    ],
    [
      'inactive with minReplicaCount > 0: no scale to zero',
      { activationShardCount: 10, minReplicaCount: 1 },
      3,
      2,
      undefined,
      1,
      ScalingReason.Metric,
    ],
    ['above maxReplicaCount', { maxReplicaCount: 10 }, 12, 100, undefined, 10, ScalingReason.AboveMaximum],
    ['below minReplicaCount', { minReplicaCount: 5 }, 2, 4, undefined, 5, ScalingReason.BelowMinimum],
    ['ceil(metric / shardCount)', {}, 1, 7, undefined, 4, ScalingReason.Metric],
    ['tolerance keeps the count', {}, 10, 21, undefined, 10, ScalingReason.WithinTolerance],
    ['clamped to maxReplicaCount', { maxReplicaCount: 20 }, 1, 100, undefined, 20, ScalingReason.Clamped],
    ['clamped to minReplicaCount', { minReplicaCount: 4 }, 6, 2, undefined, 4, ScalingReason.Clamped],
    ['shardCount 1: one pod per shard', { shardCount: 1 }, 1, 6, undefined, 6, ScalingReason.Metric],
  ] as const)('%s', (_name, overrides, currentReplicas, metric, lastActiveAtMs, expected, reason) => {
    const decision = kedaReplicas({
      ...base,
      config: scalingConfig(overrides),
      currentReplicas,
      metric,
      ...(lastActiveAtMs === undefined ? {} : { lastActiveAtMs }),
    });
    expect(decision.replicas).toBe(expected);
    expect(decision.reason).toBe(reason);
  });

  it('reports the metric, activity and the raw recommendation', () => {
    const decision = kedaReplicas({ ...base, config: scalingConfig(), currentReplicas: 1, metric: 100 });
    expect(decision).toMatchObject({ metric: 100, active: true, recommendation: 50, replicas: 50 });
    expect(decision.history).toEqual([{ replicas: 50, atMs: NOW }]);
  });

  it('a stabilised tick says so', () => {
    const decision = kedaReplicas({
      nowMs: NOW,
      config: scalingConfig(),
      currentReplicas: 10,
      metric: 4,
      history: [{ replicas: 10, atMs: NOW - 60 * SECOND }],
    });
    expect(decision).toMatchObject({ replicas: 10, recommendation: 2, reason: ScalingReason.Stabilized });
  });

  it('the default trigger never scales a real stream to zero: a stream always lists a shard', () => {
    const decision = kedaReplicas({ ...base, config: scalingConfig(), currentReplicas: 1, metric: 1 });
    expect(decision.active).toBe(true);
    expect(decision.replicas).toBe(1);
  });
});

describe('the better number: replicas for shards that still have work', () => {
  it.each([
    ['only open shards', open(4), 4, 2],
    ['closed unfinished shards still need a worker', [...open(4), ...closedUnfinished(2)], 6, 3],
    ['closed finished shards need none', [...open(4), ...closedFinished(96)], 4, 2],
    ['nothing left to do', closedFinished(10), 0, 0],
  ])('%s', (_name, shards, unfinished, replicas) => {
    expect(unfinishedShardCount(shards)).toBe(unfinished);
    expect(neededReplicas(shards, scalingConfig())).toBe(replicas);
  });

  it('is clamped to [minReplicaCount, maxReplicaCount]', () => {
    expect(neededReplicas(closedFinished(10), scalingConfig({ minReplicaCount: 1 }))).toBe(1);
    expect(neededReplicas(open(40), scalingConfig({ maxReplicaCount: 5 }))).toBe(5);
  });

  it.each([
    // metric, overrides, steady state
    [100, {}, 50],
    [100, { maxReplicaCount: 20 }, 20],
    [3, { activationShardCount: 5 }, 0],
    [3, { activationShardCount: 5, minReplicaCount: 2 }, 2],
    [1, {}, 1],
  ])('the classic steady state for metric %i with %o is %i', (metric, overrides, expected) => {
    expect(kedaSteadyStateReplicas(metric, scalingConfig(overrides))).toBe(expected);
  });
});

describe('a day-old stream: 4 open shards, 24 × 4 closed and finished', () => {
  const shards = [...open(4), ...closedFinished(24 * 4)];

  it('KEDA counts 100 shards and runs 50 pods; 2 are needed; 48 idle', () => {
    const comparison = compareReplicas(shards, scalingConfig());
    expect(comparison.shards).toEqual({ total: 100, open: 4, closed: 96, closedFinished: 96, unfinished: 4 });
    expect(comparison.classic).toEqual({ metric: 100, active: true, replicas: 50 });
    expect(comparison.needed).toEqual({ replicas: 2 });
    expect(comparison.idleReplicas).toBe(48);
    expect(comparison.summary).toContain('100 shards');
    expect(comparison.summary).toContain('48 pods idle');
  });

  it('the classic setup really converges there, tick by tick, from one pod', () => {
    const config = scalingConfig();
    let current = 1;
    let history: Recommendation[] = [];
    for (let tick = 0; tick < 10; tick += 1) {
      const decision = kedaReplicas({
        nowMs: NOW + tick * 15 * SECOND,
        currentReplicas: current,
        metric: streamShardMetric(shards),
        config,
        history,
      });
      current = decision.replicas;
      history = decision.history;
    }
    expect(current).toBe(50);
  });

  it('with shardCount 1 and maxReplicaCount 100 the waste is 96 pods', () => {
    const comparison = compareReplicas(shards, scalingConfig({ shardCount: 1 }));
    expect(comparison.classic.replicas).toBe(100);
    expect(comparison.needed.replicas).toBe(4);
    expect(comparison.idleReplicas).toBe(96);
  });
});

describe('replica numbers as arithmetic', () => {
  const config = scalingConfig({ shardCount: 2, maxReplicaCount: 3 });

  it("says KEDA's trigger as a person checks it, with the limit that moved it", () => {
    expect(describeArithmetic(kedaTriggerArithmetic(13, config))).toBe(
      '13 shards → ceil(13/2) = 7, capped at 3',
    );
    expect(describeArithmetic(kedaTriggerArithmetic(5, scalingConfig({ shardCount: 2 })))).toBe(
      '5 shards → ceil(5/2) = 3',
    );
    expect(kedaTriggerArithmetic(0, config)).toMatchObject({ replicas: 0, limitedBy: 'inactive' });
    expect(describeArithmetic(neededArithmetic(1, config), 'unfinished')).toBe(
      '1 unfinished → ceil(1/2) = 1',
    );
  });

  it('agrees with the steady-state number and the needed number it explains', () => {
    for (let shards = 0; shards < 40; shards++) {
      for (const max of [1, 3, 10]) {
        const c = scalingConfig({ shardCount: 3, maxReplicaCount: max });
        expect(kedaTriggerArithmetic(shards, c).replicas).toBe(kedaSteadyStateReplicas(shards, c));
      }
    }
  });

  it("explains each of KEDA's decisions by its reason", () => {
    expect(
      explainScalingDecision(
        { from: 2, to: 3, metric: 5, reason: 'metric' },
        scalingConfig({ shardCount: 2 }),
      ),
    ).toBe('2 → 3 replicas: 5 shards → ceil(5/2) = 3');
    expect(explainScalingDecision({ from: 4, to: 3, metric: 21, reason: 'above-maximum' }, config)).toBe(
      '4 → 3 replicas: maxReplicaCount is 3 (21 shards → ceil(21/2) = 11, capped at 3)',
    );
    expect(explainScalingDecision({ from: 2, to: 3, metric: 13, reason: 'clamped' }, config)).toBe(
      '2 → 3 replicas: 13 shards → ceil(13/2) = 7, capped at 3',
    );
    expect(
      explainScalingDecision({ from: 0, to: 1, metric: 1, reason: 'scale-from-zero' }, config),
    ).toContain('KEDA starts from zero');
  });
});
