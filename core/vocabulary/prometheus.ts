/**
 * Just enough of the Prometheus text format to read a worker's /metrics: sample lines `name{labels} value`,
 * comments skipped. One parser for everything that reads a worker's metrics: the local sampler, the bench,
 * the reliability harness. Values of one name are summed over their labels unless a label filter is given.
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(LABEL)) labels[label[1] as string] = label[2] as string;
    samples.push({ name: match[1] as string, labels, value });
  }
  return samples;
}

/** The sum of every sample of `name` whose labels include `where`; undefined when there is none. */
export function metricValue(
  samples: readonly PromSample[],
  name: string,
  where: Record<string, string> = {},
): number | undefined {
  let total: number | undefined;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(where).some(([k, v]) => sample.labels[k] !== v)) continue;
    total = (total ?? 0) + sample.value;
  }
  return total;
}

/** A sample's series as the worker wrote it, `name{label="v",...}` (labels in their written order). */
export function seriesKey(sample: PromSample): string {
  const labels = Object.entries(sample.labels);
  if (labels.length === 0) return sample.name;
  return `${sample.name}{${labels.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
}
