/** The report's charts as data: no series hidden under another, seconds for lag, stacked leases, axes that end with the data. */
import { describe, expect, it } from 'vitest';
import { reportCharts, type SeriesSpec, separateCoinciding } from '../../local/report/charts.js';
import { humanTime } from '../../local/report/html.js';
import type { RunReport } from '../../local/report/run-report.js';
import type { Sample } from '../../local/start/sampler.js';

const spec = (label: string, values: (number | null)[], over: Partial<SeriesSpec> = {}): SeriesSpec => ({
  label,
  values,
  color: '#000',
  dash: [],
  width: 3,
  stepped: true,
  coincidesWith: [],
  coincidence: undefined,
  ...over,
});

/** Two series are drawn identically when they have the same value wherever either has one, and the same style. */
function drawnIdentically(a: SeriesSpec, b: SeriesSpec): boolean {
  const same = a.values.length === b.values.length && a.values.every((v, i) => v === b.values[i]);
  return same && a.dash.join() === b.dash.join() && a.width === b.width;
}

describe('series that coincide', () => {
  it('merges series equal throughout into one line whose legend names both', () => {
    const out = separateCoinciding([spec('workers running', [1, 2, 2]), spec('KEDA desired', [1, 2, 2])]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ label: 'workers running = KEDA desired', coincidence: 'merged' });
  });

  it('draws a series equal part of the time dashed and thinner on top, and says so', () => {
    const [below, above] = separateCoinciding([spec('running', [1, 2, 3]), spec('desired', [1, 3, 3])]);
    expect(below?.dash).toEqual([]);
    expect(above).toMatchObject({ coincidence: 'overlaps', coincidesWith: ['running'] });
    expect(above?.dash.length).toBeGreaterThan(0);
    expect(above?.width).toBeLessThan(below?.width ?? 0);
    expect(above?.label).toBe('desired — dashed where it meets: running');
  });

  it('leaves series that never meet alone', () => {
    const out = separateCoinciding([spec('a', [1, 2]), spec('b', [3, 4])]);
    expect(out.map((s) => s.coincidence)).toEqual([undefined, undefined]);
  });
});

function sample(
  t: number,
  running: number,
  desired: number,
  shards: number,
  byOwner: Record<string, number>,
): Sample {
  return {
    t,
    phase: 'setup ▸ GenerateLoad',
    load: { written: t / 10, target: 1000, batchesDone: 0, batches: 4 },
    shards: { total: shards, open: 1, closed: shards - 1, closedFinished: shards - 2, unfinished: 2 },
    keda: { metric: shards, asks: Math.ceil(shards / 2), desired },
    scaling: { shardCount: 2, minReplicaCount: 0, maxReplicaCount: 3, activationShardCount: 0 },
    needed: 1,
    workers: { desired, running, ready: running, pods: [] },
    leases: { total: shards, unfinished: 2, byOwner, unowned: 0 },
    records: { processed: t / 10, perSecond: 10 },
    writes: { perSecond: 10 },
    items: { source: t / 10, replica: t / 10 },
    lag: { endToEndMs: 1500, maxMs: 0, byWorker: {} },
    rollovers: shards - 1,
  };
}

function report(samples: Sample[]): RunReport {
  return {
    fleetName: 'users-replicator',
    samples,
    tasks: [],
    workflows: [],
    drill: [],
    summary: { lagMs: { p50: 1500, p99: 1500, max: 1500, workersGaugeMax: 0, samples: samples.length } },
  } as unknown as RunReport;
}

describe('the report charts', () => {
  // A run where KEDA's decision equals the running count throughout and the trigger's ask equals it part of the time.
  const run = report([
    sample(0, 1, 1, 2, { 'users-replicator-a': 1 }),
    sample(1000, 2, 2, 4, { 'users-replicator-a': 1, 'users-replicator-b': 1 }),
    sample(2000, 3, 3, 8, { 'users-replicator-a': 0, 'users-replicator-b': 2 }),
    sample(103_000, 3, 3, 9, { 'users-replicator-a': 1, 'users-replicator-b': 1 }),
  ]);
  const data = reportCharts(run);

  it('draws no two series of a chart identically unless the legend says they were merged or overlap', () => {
    for (const chart of data.charts.filter((c) => !c.stacked)) {
      chart.series.forEach((a, i) => {
        for (const b of chart.series.slice(i + 1)) {
          expect(drawnIdentically(a, b), `${chart.id}: ${a.label} / ${b.label}`).toBe(false);
          const meet = a.values.some((v, k) => v !== null && v === b.values[k]);
          if (meet) expect(b.coincidence ?? a.coincidence, `${chart.id}: ${b.label}`).toBeDefined();
        }
      });
    }
    const scaling = data.charts.find((c) => c.id === 'chart-scaling');
    expect(scaling?.series.map((s) => s.label)).toContain(
      'workers running = KEDA desired (its last decision)',
    );
  });

  it('puts shards on a chart of their own, lag in seconds, and leases per worker stacked', () => {
    expect(data.charts.map((c) => c.id)).toEqual([
      'chart-scaling',
      'chart-shards',
      'chart-lag',
      'chart-throughput',
      'chart-leases',
    ]);
    const lag = data.charts.find((c) => c.id === 'chart-lag');
    expect(lag?.yTitle).toBe('seconds');
    expect(lag?.series[0]?.values[0]).toBe(1.5);
    const leases = data.charts.find((c) => c.id === 'chart-leases');
    expect(leases?.stacked).toBe(true);
    expect(leases?.series.map((s) => s.label)).toEqual(['a', 'b']);
  });

  it('ends the time axis with the data and writes times for people', () => {
    expect(data.tMax).toBe(103);
    expect(humanTime('2026-12-02T17:36:27.123Z')).toBe('2 Dec 2026, 17:36:27 UTC');
  });
});
