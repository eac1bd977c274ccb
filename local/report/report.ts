/**
 * The record of one `npm start` run: every sample the live view showed, the drill's steps, the cluster's
 * events, both workflow executions (status, output, the states they went through) and a summary of the
 * figures. Written as report.json (for scripts) and report.html (charts, for people) in one folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Sample } from '../start/sampler.js';
import { mean, percentile } from '../start/stats.js';
import { renderReportHtml } from './html.js';
import type { RunReport, RunSummary } from './run-report.js';

/** The samples that count for lag: from the first source item until the replica has caught up. */
function lagSamples(samples: readonly Sample[]): Sample[] {
  return samples.filter(
    (s) =>
      s.lag.endToEndMs !== null &&
      (s.items.source ?? 0) > 0 &&
      (s.writes.perSecond > 0 || (s.items.replica ?? 0) < (s.items.source ?? 0)),
  );
}

/** End-to-end lag percentiles over the run so far (see Sample.lag). */
export function lagPercentiles(samples: readonly Sample[]): {
  p50: number | undefined;
  p99: number | undefined;
} {
  const values = lagSamples(samples).map((s) => s.lag.endToEndMs as number);
  return { p50: percentile(values, 50), p99: percentile(values, 99) };
}

export function summariseSamples(samples: readonly Sample[]): Pick<RunSummary, 'lagMs' | 'throughput'> {
  const counted = lagSamples(samples);
  const lag = counted.map((s) => s.lag.endToEndMs as number);
  const gauge = counted.map((s) => s.lag.maxMs ?? 0);
  const rates = samples.map((s) => s.records.perSecond);
  const flowing = rates.filter((r) => r > 0);
  const last = samples[samples.length - 1];
  const round = (v: number | undefined) => (v === undefined ? null : Math.round(v));
  return {
    lagMs: {
      p50: round(percentile(lag, 50)),
      p99: round(percentile(lag, 99)),
      max: lag.length > 0 ? Math.round(Math.max(...lag)) : null,
      workersGaugeMax: gauge.length > 0 ? Math.round(Math.max(...gauge)) : null,
      samples: lag.length,
    },
    throughput: {
      peakRecordsPerSecond: rates.length > 0 ? Math.max(...rates) : 0,
      meanRecordsPerSecond: mean(flowing) === undefined ? null : Math.round(mean(flowing) as number),
      recordsProcessed: last?.records.processed ?? 0,
    },
  };
}

/** The default report folder: reports/local/<UTC time> under the working directory. */
export function defaultReportDir(now = new Date()): string {
  const stamp = now.toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
  return resolve('reports', 'local', stamp);
}

export function writeReport(dir: string, report: RunReport): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderReportHtml(report));
  return { json, html };
}
