/** Reads a worker's Prometheus text from /metrics into a flat map: `name{label="v",...}` → value. */
import { parsePrometheusText, seriesKey } from '../../core/vocabulary/prometheus.js';

export type Scrape = Map<string, number>;

export async function scrape(port: number, timeoutMs = 2_000): Promise<Scrape> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  return parsePrometheus(await response.text());
}

export function parsePrometheus(text: string): Scrape {
  return new Map(parsePrometheusText(text).map((sample) => [seriesKey(sample), sample.value]));
}

/** Sum over every series of `name` whose labels include all of `labels`. */
export function total(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [series, value] of scrape) {
    const brace = series.indexOf('{');
    const base = brace < 0 ? series : series.slice(0, brace);
    if (base !== name) continue;
    if (Object.entries(labels).every(([k, v]) => series.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

/** Values of one label of `name`, summed per label value. */
export function byLabel(scrape: Scrape, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const pattern = new RegExp(`${label}="([^"]*)"`);
  for (const [series, value] of scrape) {
    if (!series.startsWith(`${name}{`)) continue;
    const match = pattern.exec(series);
    if (match?.[1] !== undefined) out[match[1]] = (out[match[1]] ?? 0) + value;
  }
  return out;
}

/** Counter increase between two scrapes (a missing series counts as 0). */
export function delta(after: Scrape, before: Scrape | undefined): Scrape {
  const out: Scrape = new Map();
  for (const [series, value] of after) out.set(series, value - (before?.get(series) ?? 0));
  return out;
}
