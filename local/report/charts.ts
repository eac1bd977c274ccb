/**
 * The report's charts as data: every series, its axis, style and legend, computed here (pure, unit-tested)
 * and drawn by a small generic script in the page. Two rules hold for every chart:
 * - No series hides under another. Series on the same axis that are equal at every point are merged into
 *   one line whose legend names both ("workers running = KEDA desired"); a series that is equal to an
 *   earlier one only part of the time is drawn dashed and thinner on top of it, and its legend says where it
 *   lies ("dashed where it equals workers running").
 * - Times read as people read them: the x axis is mm:ss since the start and ends with the data; lag is in
 *   seconds; leases per worker are stacked, so the total is the top edge and each worker a band.
 */
import { shortPod } from '../start/figures.js';
import type { RunReport } from './run-report.js';

export interface SeriesSpec {
  label: string;
  values: (number | null)[];
  color: string;
  /** Dash pattern in pixels; [] for a solid line. */
  dash: number[];
  width: number;
  /** Step lines for counts (replicas, shards, leases). */
  stepped: boolean;
  /** Labels of the series this one was merged with or lies on where equal (empty when it stands alone). */
  coincidesWith: string[];
  /** `merged`: identical throughout, drawn once; `overlaps`: equal part of the time, drawn dashed on top. */
  coincidence: 'merged' | 'overlaps' | undefined;
}

export interface ChartSpec {
  id: string;
  title: string;
  /** One sentence under the title: how to read it. */
  note: string;
  yTitle: string;
  integer: boolean;
  stacked: boolean;
  series: SeriesSpec[];
}

export interface ChartsData {
  /** Seconds since the start, one per sample. */
  t: number[];
  /** The last sample's time: where the x axis ends. */
  tMax: number;
  markers: { t: number; label: string; kind: 'phase' | 'drill' }[];
  charts: ChartSpec[];
}

type Input = Omit<SeriesSpec, 'coincidesWith' | 'coincidence' | 'dash' | 'width' | 'stepped'> &
  Partial<Pick<SeriesSpec, 'dash' | 'width' | 'stepped'>>;

function series(input: Input): SeriesSpec {
  return { dash: [], width: 2, stepped: false, coincidesWith: [], coincidence: undefined, ...input };
}

/** Where both have a value: how many points, and at how many they are equal. */
function compare(
  a: readonly (number | null)[],
  b: readonly (number | null)[],
  tolerance: number,
): { common: number; equal: number } {
  let common = 0;
  let equal = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === null || x === undefined || y === null || y === undefined) continue;
    common++;
    if (Math.abs(x - y) <= tolerance) equal++;
  }
  return { common, equal };
}

/** Values closer than 1 % of a chart's range land on the same pixel row or the next: they coincide. */
export function pixelTolerance(series: readonly { values: readonly (number | null)[] }[]): number {
  const max = Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  return max * 0.01;
}

const sameGaps = (a: readonly (number | null)[], b: readonly (number | null)[]) =>
  a.length === b.length && a.every((v, i) => (v === null) === (b[i] === null));

/** Dash patterns for a series drawn on top of others, each different from what lies under it. */
const DASHES = [
  [6, 4],
  [2, 3],
  [10, 3, 2, 3],
  [1, 5],
];

/** The legend's note on a series that lies on others part of the time: "name — dashed where it meets: a; b". */
export const MEETS = ' — dashed where it meets: ';

/** A legend label without its note (what other series name it by). */
export function baseLabel(label: string): string {
  return label.split(MEETS)[0] as string;
}

/**
 * Merges series equal at every point and marks those equal part of the time, so none is drawn exactly under
 * another without the legend saying so. Order matters: a later series is merged into, or dashed on top of,
 * an earlier one, with a dash pattern none of those under it has and a thinner line.
 */
export function separateCoinciding(
  input: readonly SeriesSpec[],
  tolerance = pixelTolerance(input),
): SeriesSpec[] {
  const out: SeriesSpec[] = [];
  for (const candidate of input) {
    const merged = out.find((earlier) => {
      const { common, equal } = compare(earlier.values, candidate.values, tolerance);
      return common > 0 && equal === common && sameGaps(earlier.values, candidate.values);
    });
    if (merged) {
      const [name, note] = merged.label.split(MEETS);
      merged.label = `${name} = ${candidate.label}${note === undefined ? '' : `${MEETS}${note}`}`;
      merged.coincidesWith.push(candidate.label);
      merged.coincidence ??= 'merged';
      continue;
    }
    const under = out.filter((earlier) => compare(earlier.values, candidate.values, tolerance).equal > 0);
    if (under.length === 0) {
      out.push({ ...candidate, coincidesWith: [...candidate.coincidesWith] });
      continue;
    }
    const names = under.map((u) => baseLabel(u.label));
    const taken = new Set(under.map((u) => u.dash.join()));
    const own = candidate.dash.length > 0 && !taken.has(candidate.dash.join()) ? candidate.dash : undefined;
    out.push({
      ...candidate,
      dash: own ?? DASHES.find((d) => !taken.has(d.join())) ?? [1, 2],
      width: Math.max(1, Math.min(candidate.width, ...under.map((u) => u.width - 1))),
      label: `${candidate.label}${MEETS}${names.join('; ')}`,
      coincidesWith: [...candidate.coincidesWith, ...names],
      coincidence: 'overlaps',
    });
  }
  return out;
}

const seconds = (ms: number | null) => (ms === null ? null : Math.round(ms / 100) / 10);
const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#f59e0b',
  '#7c3aed',
  '#0891b2',
  '#db2777',
  '#65a30d',
  '#ea580c',
  '#4b5563',
];

function markers(report: RunReport): ChartsData['markers'] {
  const out: ChartsData['markers'] = [];
  const loadTasks = report.tasks.filter((task) => task.fn === 'generate-load');
  const firstLoad = loadTasks[0];
  const lastLoad = loadTasks.reduce<number | undefined>(
    (end, task) => (task.endMs === undefined ? end : Math.max(end ?? 0, task.endMs)),
    undefined,
  );
  if (firstLoad) out.push({ t: firstLoad.startMs / 1000, label: 'load starts', kind: 'phase' });
  if (lastLoad !== undefined) out.push({ t: lastLoad / 1000, label: 'load ends', kind: 'phase' });
  const verify = report.workflows.find((w) => w.workflow === 'verify');
  if (verify) out.push({ t: verify.startMs / 1000, label: 'verify', kind: 'phase' });
  for (const event of report.drill) {
    if (event.kind !== 'skipped') out.push({ t: event.t / 1000, label: event.kind, kind: 'drill' });
  }
  return out;
}

export function reportCharts(report: RunReport): ChartsData {
  const samples = report.samples;
  const t = samples.map((s) => Math.round(s.t / 100) / 10);
  const withShards = <T>(f: (s: (typeof samples)[number]) => T) =>
    samples.map((s) => (s.shards ? f(s) : null));
  const replicas: ChartSpec = {
    id: 'chart-scaling',
    title: 'Workers and KEDA',
    note: "KEDA's aws-dynamodb-streams trigger counts every shard DescribeStream lists, closed ones included; the green line is what the shards that still have work need. Dashed vertical lines: the load and the fault drill.",
    yTitle: 'replicas',
    integer: true,
    stacked: false,
    series: separateCoinciding([
      series({
        label: 'workers running',
        values: samples.map((s) => s.workers.running),
        color: '#2563eb',
        width: 4,
        stepped: true,
      }),
      series({
        label: 'KEDA desired (its last decision)',
        values: samples.map((s) => s.keda.desired),
        color: '#f59e0b',
        width: 3,
        stepped: true,
      }),
      series({
        label: "KEDA's trigger asks: ceil(shards / shardCount)",
        values: withShards((s) => s.keda.asks),
        color: '#ef4444',
        width: 2,
        stepped: true,
      }),
      series({
        label: 'unfinished shards need',
        values: withShards((s) => s.needed),
        color: '#16a34a',
        width: 3,
        stepped: true,
      }),
    ]),
  };
  const shards: ChartSpec = {
    id: 'chart-shards',
    title: 'Shards',
    note: 'Every rollover closes the open shard and opens a child: the listed count only grows, while the unfinished ones (open, or closed with a lease short of SHARD_END) stay few.',
    yTitle: 'shards',
    integer: true,
    stacked: false,
    series: separateCoinciding([
      series({
        label: 'shards listed',
        values: withShards((s) => s.shards?.total ?? null),
        color: '#6b7280',
        width: 3,
        stepped: true,
      }),
      series({
        label: 'unfinished shards',
        values: withShards((s) => s.shards?.unfinished ?? null),
        color: '#14b8a6',
        width: 3,
        stepped: true,
      }),
    ]),
  };
  const lagEnd = samples.map((s) => seconds(s.lag.endToEndMs));
  const p50 = seconds(report.summary.lagMs.p50);
  const p99 = seconds(report.summary.lagMs.p99);
  const lag: ChartSpec = {
    id: 'chart-lag',
    title: 'Replication lag',
    note: "End to end: how long ago the source table held as many items as the replica holds now (both tables' item counts, read every second): the age of the oldest item not yet replicated. Beside it, the highest streamfleet_replication_lag_ms the workers' /metrics showed (0 once a shard is caught up; the stream stamps whole seconds).",
    yTitle: 'seconds',
    integer: false,
    stacked: false,
    series: separateCoinciding([
      series({ label: 'end-to-end lag', values: lagEnd, color: '#7c3aed', width: 3 }),
      series({
        label: "workers' lag gauge, highest",
        values: samples.map((s) => seconds(s.lag.maxMs)),
        color: '#f97316',
        width: 2,
      }),
      ...(p50 === null
        ? []
        : [
            series({
              label: 'p50 over the run',
              values: t.map(() => p50),
              color: '#a78bfa',
              dash: [2, 3],
              width: 1,
            }),
          ]),
      ...(p99 === null
        ? []
        : [
            series({
              label: 'p99 over the run',
              values: t.map(() => p99),
              color: '#4c1d95',
              dash: [8, 3],
              width: 1,
            }),
          ]),
    ]),
  };
  const throughput: ChartSpec = {
    id: 'chart-throughput',
    title: 'Throughput',
    note: 'Items the load wrote to the source table per second, and stream records the workers processed per second (replays after the drill count again).',
    yTitle: 'per second',
    integer: false,
    stacked: false,
    series: separateCoinciding([
      series({
        label: 'source writes / s',
        values: samples.map((s) => s.writes.perSecond),
        color: '#0ea5e9',
        width: 3,
      }),
      series({
        label: 'records processed / s',
        values: samples.map((s) => s.records.perSecond),
        color: '#16a34a',
        width: 2,
      }),
    ]),
  };
  const workers = [...new Set(samples.flatMap((s) => Object.keys(s.leases.byOwner)))].sort();
  const leases: ChartSpec = {
    id: 'chart-leases',
    title: 'Unfinished leases per worker (stacked)',
    note: 'Each band is one worker; the top edge is every unfinished lease held. A band that ends is a worker that exited (killed by the drill, or scaled in); its leases move to the bands that grow.',
    yTitle: 'unfinished leases',
    integer: true,
    stacked: true,
    series: workers.map((name, i) =>
      series({
        label: shortPod(name, report.fleetName),
        // 0 while the worker does not run: a stacked band with gaps would drop every band above it.
        values: samples.map((s) => s.leases.byOwner[name] ?? 0),
        color: PALETTE[i % PALETTE.length] as string,
        width: 1,
        stepped: true,
      }),
    ),
  };
  return {
    t,
    tMax: t.length > 0 ? (t[t.length - 1] as number) : 0,
    markers: markers(report),
    charts: [replicas, shards, lag, throughput, leases],
  };
}
