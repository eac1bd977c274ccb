/** The table `npm start` prints at the end (and `--quiet` prints alone). */
import type { BrowserCheck } from '../report/browser.js';
import type { RunSummary } from '../report/run-report.js';
import type { AwsRulesDigest } from './aws-rules.js';
import type { DrillEvent } from './drill.js';
import { shortPod } from './figures.js';
import { wrapText } from './layout.js';
import { clock, formatDuration } from './stats.js';

/** What the strict layer enforced and refused, in one line (summary and HTML report). */
export function awsRulesLine(digest: AwsRulesDigest): string {
  const r = digest.refused;
  return (
    `${digest.rules} enforced on ${digest.requests} requests · refused ${r.total} ` +
    `(${r.cancelledTransactions} transactions and ${r.refusedSingleWrites} writes for a conflict, ` +
    `${r.throttledReads} reads throttled, ${r.tooManyReaders} for a third reader, ${r.iam} calls by IAM) · ` +
    `at most ${digest.peakReadsPerShardSecond} GetRecords a second on a shard`
  );
}

/** The end-to-end lag, saying what it counts (summary and HTML report). */
export function lagLine(lag: RunSummary['lagMs'], ms: (value: number | null) => string): string {
  return `end to end (the oldest item not yet in the replica) p50 ${ms(lag.p50)} · p99 ${ms(lag.p99)} · max ${ms(lag.max)} over ${lag.samples} samples`;
}

/** The workers' gauge, a different measure, saying what it counts. */
export function recordAgeLine(lag: RunSummary['lagMs'], ms: (value: number | null) => string): string {
  return `record age max ${ms(lag.workersGaugeMax)} (the workers' streamfleet_replication_lag_ms: how old each record was when processed, replays included)`;
}

function ms(value: number | null): string {
  return value === null ? '—' : formatDuration(value);
}

export function renderSummary(input: {
  summary: RunSummary;
  drill: readonly DrillEvent[];
  reportPaths: { json: string; html: string };
  browserCheck: BrowserCheck | { skipped: string } | undefined;
  fleetName?: string;
  /** Columns to fit (values wrap under their label, never cut). */
  width?: number;
  color?: boolean;
}): string[] {
  const { summary: s } = input;
  const fleet = input.fleetName ?? 'users-replicator';
  const paint = (code: string, text: string) => (input.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const rows: [string, string][] = [];
  const outcome = s.interrupted ? 'INTERRUPTED' : s.passed ? 'PASSED' : 'FAILED';
  rows.push(['Result', `${outcome}  ${s.verdict}`]);
  const t = s.timings;
  rows.push([
    'Run time',
    [
      formatDuration(s.durationMs),
      t.dynamodbLocalStartMs === undefined
        ? ''
        : `DynamoDB Local start ${formatDuration(t.dynamodbLocalStartMs)}`,
      t.setupMs === undefined ? '' : `setup ${formatDuration(t.setupMs)}`,
      t.verifyMs === undefined ? '' : `verify ${formatDuration(t.verifyMs)}`,
    ]
      .filter(Boolean)
      .join(' · '),
  ]);
  rows.push([
    'Load',
    `${s.load.written} of ${s.load.target} items at ${s.load.ratePerSecond}/s${s.load.durationMs === null ? '' : ` in ${formatDuration(s.load.durationMs)}`} (setup's GenerateLoad)`,
  ]);
  if (s.processor) {
    rows.push([
      'Processor',
      `${s.processor.name} (${s.processor.module}) instead of replication: no replica`,
    ]);
  } else {
    rows.push([
      'Replica',
      s.replica.sourceItems === null
        ? '—'
        : `${s.replica.replicaItems} items for ${s.replica.sourceItems} source items · ${s.replica.missing} missing · ${s.replica.differing} differing · ${s.replica.extra} extra`,
    ]);
    const writers = Object.entries(s.replica.processedBy).sort(([, a], [, b]) => b - a);
    rows.push([
      'Written by',
      writers.length ? writers.map(([w, n]) => `${shortPod(w, fleet)} ${n}`).join(' · ') : '—',
    ]);
  }
  rows.push([
    'Shards',
    s.shards
      ? `${s.shards.total} listed (${s.shards.open} open, ${s.shards.closed} closed) after ${s.rollovers} rollovers · ${s.shards.unfinished} unfinished${s.sampledAtMs === null ? '' : ` · at ${clock(s.sampledAtMs)}, the last sample (shards, KEDA, needed, workers)`}`
      : '—',
  ]);
  rows.push(['KEDA', `${s.scaling.kedaTrigger} · desired ${s.scaling.kedaDesired ?? '—'}`]);
  rows.push(['Needed', s.scaling.neededText]);
  rows.push([
    'Workers',
    `${s.scaling.finalWorkers} running · ${s.scaling.readyWorkers} ready · peak ${s.scaling.peakWorkers}`,
  ]);
  rows.push(['Lag', s.processor ? 'end to end: — (no replica to measure it by)' : lagLine(s.lagMs, ms)]);
  rows.push(['', recordAgeLine(s.lagMs, ms)]);
  rows.push([
    'Throughput',
    `${s.throughput.recordsProcessed} records processed (replays included) · peak ${s.throughput.peakRecordsPerSecond}/s · mean ${s.throughput.meanRecordsPerSecond ?? '—'}/s`,
  ]);
  if (s.awsRules) rows.push(['AWS rules', awsRulesLine(s.awsRules)]);
  if (input.drill.length === 0) rows.push(['Fault drill', 'none']);
  input.drill.forEach((event, i) => {
    rows.push([i === 0 ? 'Fault drill' : '', `${clock(event.t)} ${event.text}`]);
  });
  rows.push([
    'Checks',
    `${s.checks.atMs === null ? '' : `verify's, at ${clock(s.checks.atMs)}: `}${s.checks.scaling ?? '—'}`,
  ]);
  rows.push(['', s.checks.replication ?? '—']);
  for (const reason of s.checks.reasons) rows.push(['', `- ${reason}`]);
  rows.push(['Report', input.reportPaths.html]);
  rows.push(['', input.reportPaths.json]);
  const check = input.browserCheck;
  if (check && 'skipped' in check) rows.push(['Browser check', `skipped: ${check.skipped}`]);
  else if (check) {
    rows.push([
      'Browser check',
      check.ok
        ? `${check.browser}: ${check.chartsWithData} charts drawn, no console errors`
        : `FAILED in ${check.browser}: ${check.chartsWithData}/${check.charts} charts drawn; ${[...check.consoleErrors, ...check.pageErrors, ...check.failedRequests].join('; ') || 'no errors'}`,
    ]);
  }
  const labelWidth = Math.max(...rows.map(([label]) => label.length)) + 2;
  const width = input.width ?? 80;
  const lines = rows.flatMap(([label, value]) =>
    wrapText(value, width - labelWidth).map(
      (line, i) => `${i === 0 ? label.padEnd(labelWidth) : ' '.repeat(labelWidth)}${line}`,
    ),
  );
  // The verdict word is painted after wrapping, so colour codes never count towards the width.
  const first = lines.findIndex((line) => line.startsWith('Result'));
  if (first >= 0) {
    const code = s.interrupted ? '1;33' : s.passed ? '1;32' : '1;31';
    lines[first] = (lines[first] as string).replace(outcome, paint(code, outcome));
  }
  return [paint('2', '─'.repeat(Math.min(78, width - 2))), ...lines];
}
