/**
 * report.html: one self-contained page (no network) with the run's verdict, its figures and charts over
 * time drawn by Chart.js, whose UMD build is inlined from the installed `chart.js` package. The data sits in
 * a JSON script element; a small script turns it into four charts and marks the drill's steps and the
 * load's start and end on each. When every chart is drawn it sets `window.__streamfleetReport.rendered`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { awsRulesLine } from '../start/summary.js';
import { shortPod } from '../start/view.js';
import type { RunReport } from './report.js';

let chartJs: string | undefined;

/** The Chart.js UMD build (minified), read once. */
export function chartJsSource(): string {
  if (chartJs === undefined) {
    const require = createRequire(import.meta.url);
    const main = require.resolve('chart.js');
    // Never let the library's text close the <script> element it is inlined into.
    chartJs = readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8').replace(
      /<\/script/gi,
      '<\\/script',
    );
  }
  return chartJs;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** The series the page draws, in seconds since the start. */
export function chartData(report: RunReport) {
  const samples = report.samples;
  const t = samples.map((s) => Math.round(s.t / 100) / 10);
  const workers = [...new Set(samples.flatMap((s) => Object.keys(s.leases.byOwner)))].sort();
  const markers: { t: number; label: string; kind: string }[] = [];
  const loadTasks = report.tasks.filter((task) => task.fn === 'generate-load');
  const firstLoad = loadTasks[0];
  const lastLoad = loadTasks.reduce<number | undefined>(
    (end, task) => (task.endMs === undefined ? end : Math.max(end ?? 0, task.endMs)),
    undefined,
  );
  if (firstLoad) markers.push({ t: firstLoad.startMs / 1000, label: 'load starts', kind: 'phase' });
  if (lastLoad !== undefined) markers.push({ t: lastLoad / 1000, label: 'load ends', kind: 'phase' });
  const verify = report.workflows.find((w) => w.workflow === 'verify');
  if (verify) markers.push({ t: verify.startMs / 1000, label: 'verify', kind: 'phase' });
  for (const event of report.drill) {
    if (event.kind === 'skipped') continue;
    markers.push({ t: event.t / 1000, label: event.kind, kind: 'drill' });
  }
  return {
    t,
    shardsTotal: samples.map((s) => s.shards?.total ?? null),
    shardsUnfinished: samples.map((s) => s.shards?.unfinished ?? null),
    kedaAsks: samples.map((s) => (s.shards ? s.keda.asks : null)),
    kedaDesired: samples.map((s) => s.keda.desired),
    needed: samples.map((s) => (s.shards ? s.needed : null)),
    running: samples.map((s) => s.workers.running),
    ready: samples.map((s) => s.workers.ready),
    lagEndToEnd: samples.map((s) => s.lag.endToEndMs),
    lagGauge: samples.map((s) => s.lag.maxMs),
    writesPerSecond: samples.map((s) => s.writes.perSecond),
    recordsPerSecond: samples.map((s) => s.records.perSecond),
    written: samples.map((s) => s.load.written),
    processed: samples.map((s) => s.records.processed),
    leases: workers.map((name) => ({
      name: shortPod(name, report.fleetName),
      values: samples.map((s) => s.leases.byOwner[name] ?? null),
    })),
    lagP50: report.summary.lagMs.p50,
    lagP99: report.summary.lagMs.p99,
    markers,
  };
}

const PAGE_SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var state = (window.__streamfleetReport = { rendered: false, charts: 0, errors: [] });
  var markerColors = { phase: '#6b7280', drill: '#dc2626' };
  var markers = {
    id: 'streamfleetMarkers',
    afterDatasetsDraw: function (chart) {
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      var rowsEnd = [];
      ctx.save();
      ctx.font = '11px system-ui, sans-serif';
      data.markers.slice().sort(function (a, b) { return a.t - b.t; }).forEach(function (m) {
        var px = x.getPixelForValue(m.t);
        if (!(px >= area.left && px <= area.right)) return;
        ctx.strokeStyle = markerColors[m.kind] || '#6b7280';
        ctx.fillStyle = ctx.strokeStyle;
        ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
        ctx.setLineDash([]);
        // Each label on the first row where it does not overlap the previous one.
        var width = ctx.measureText(m.label).width + 6;
        var right = px + 3 + width > area.right;
        var left = right ? px - 3 - width : px + 3;
        var row = 0;
        while (rowsEnd[row] !== undefined && rowsEnd[row] > left) row++;
        rowsEnd[row] = left + width;
        ctx.fillText(m.label, left, area.top + 12 + row * 12);
      });
      ctx.restore();
    }
  };
  function points(values) {
    return values.map(function (v, i) { return { x: data.t[i], y: v }; });
  }
  function line(label, values, color, extra) {
    var d = { label: label, data: points(values), borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, stepped: false, spanGaps: true };
    for (var k in extra || {}) d[k] = extra[k];
    return d;
  }
  function chart(id, datasets, yTitle, extraScales, integerAxis) {
    var scales = {
      x: { type: 'linear', title: { display: true, text: 'seconds since start' }, min: 0 },
      y: { beginAtZero: true, title: { display: true, text: yTitle }, ticks: { precision: integerAxis ? 0 : undefined } }
    };
    for (var k in extraScales || {}) scales[k] = extraScales[k];
    new Chart(document.getElementById(id), {
      type: 'line',
      data: { datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: { legend: { position: 'bottom' } },
        scales: scales
      },
      plugins: [markers]
    });
    state.charts++;
  }
  chart('chart-scaling', [
    line('workers running', data.running, '#2563eb', { stepped: true, borderWidth: 3 }),
    line('KEDA desired (its last decision)', data.kedaDesired, '#f59e0b', { stepped: true, borderDash: [6, 4], order: -1 }),
    line("KEDA's count asks (ceil(shards / shardCount))", data.kedaAsks, '#ef4444', { stepped: true }),
    line('unfinished shards need', data.needed, '#16a34a', { stepped: true, borderWidth: 3 }),
    line('shards listed (right axis)', data.shardsTotal, '#9ca3af', { yAxisID: 'shards', borderDash: [2, 2] }),
    line('unfinished shards (right axis)', data.shardsUnfinished, '#14b8a6', { yAxisID: 'shards', borderDash: [2, 2] })
  ], 'replicas', { shards: { position: 'right', beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false }, title: { display: true, text: 'shards' } } }, true);
  var lagSets = [
    line('end-to-end lag (ms, from item counts)', data.lagEndToEnd, '#7c3aed'),
    line("workers' streamfleet_replication_lag_ms, highest (ms)", data.lagGauge, '#f97316', { borderWidth: 1 })
  ];
  if (data.lagP50 !== null) lagSets.push(line('p50 over the run', data.t.map(function () { return data.lagP50; }), '#a78bfa', { borderDash: [6, 3], borderWidth: 1 }));
  if (data.lagP99 !== null) lagSets.push(line('p99 over the run', data.t.map(function () { return data.lagP99; }), '#4c1d95', { borderDash: [2, 2], borderWidth: 1 }));
  chart('chart-lag', lagSets, 'milliseconds');
  chart('chart-throughput', [
    line('source writes / s', data.writesPerSecond, '#0ea5e9'),
    line('records replicated / s', data.recordsPerSecond, '#16a34a'),
    line('items written (right axis)', data.written, '#94a3b8', { yAxisID: 'total', borderDash: [4, 3], borderWidth: 1 }),
    line('records replicated (right axis)', data.processed, '#15803d', { yAxisID: 'total', borderDash: [4, 3], borderWidth: 1 })
  ], 'per second', { total: { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: 'total' } } });
  var palette = ['#2563eb', '#dc2626', '#16a34a', '#f59e0b', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#4b5563'];
  chart('chart-leases', data.leases.map(function (w, i) {
    return line(w.name, w.values, palette[i % palette.length], { stepped: true });
  }), 'unfinished leases held', {}, true);
  state.rendered = true;
})();
`;

function row(label: string, value: string): string {
  return `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`;
}

function fmtMs(value: number | null): string {
  if (value === null) return '—';
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function renderReportHtml(report: RunReport): string {
  const s = report.summary;
  const data = chartData(report);
  const processedBy = Object.entries(s.replica.processedBy)
    .map(([worker, count]) => `${worker}: ${count}`)
    .join(', ');
  const rows = [
    row('Result', `${s.passed ? 'PASSED' : 'FAILED'}: ${s.verdict}`),
    row('Run time', `${(s.durationMs / 1000).toFixed(1)} s`),
    row(
      'Load',
      `${s.load.written} of ${s.load.target} items at ${s.load.ratePerSecond}/s${s.load.durationMs === null ? '' : ` in ${(s.load.durationMs / 1000).toFixed(1)} s`}`,
    ),
    row(
      'Replica',
      s.replica.sourceItems === null
        ? '—'
        : `${s.replica.replicaItems} replica items for ${s.replica.sourceItems} source items: ${s.replica.missing} missing, ${s.replica.differing} differing, ${s.replica.extra} extra`,
    ),
    row('Written by', processedBy || '—'),
    row(
      'Shards',
      s.shards
        ? `${s.shards.total} (${s.shards.open} open, ${s.shards.closed} closed, ${s.shards.unfinished} unfinished) after ${s.rollovers} rollovers`
        : '—',
    ),
    row(
      'Replicas',
      `KEDA's count asks ${s.scaling.kedaAsks}, KEDA desired ${s.scaling.kedaDesired ?? '—'} (max ${s.scaling.maxReplicaCount}), unfinished shards need ${s.scaling.needed}; ${s.scaling.finalWorkers} running (${s.scaling.readyWorkers} ready), peak ${s.scaling.peakWorkers}`,
    ),
    row(
      'Lag',
      `end to end p50 ${fmtMs(s.lagMs.p50)}, p99 ${fmtMs(s.lagMs.p99)}, max ${fmtMs(s.lagMs.max)} (${s.lagMs.samples} samples); workers' gauge max ${fmtMs(s.lagMs.workersGaugeMax)}`,
    ),
    row(
      'Throughput',
      `${s.throughput.recordsProcessed} records processed; peak ${s.throughput.peakRecordsPerSecond}/s, mean ${s.throughput.meanRecordsPerSecond ?? '—'}/s`,
    ),
    row('AWS rules', s.awsRules ? awsRulesLine(s.awsRules) : '—'),
    row('Scaling check', s.checks.scaling ?? '—'),
    row('Replication check', s.checks.replication ?? '—'),
    ...s.checks.reasons.map((reason) => row('Reason', reason)),
  ].join('\n');
  const drill = report.drill
    .map(
      (e) =>
        `<tr><td>${(e.t / 1000).toFixed(1)} s</td><td>${escapeHtml(e.kind)}</td><td>${escapeHtml(e.text)}</td></tr>`,
    )
    .join('\n');
  const workflows = report.workflows
    .map(
      (w) =>
        `<tr><td>${escapeHtml(w.workflow)}</td><td>${escapeHtml(w.status)}</td><td>${(w.durationMs / 1000).toFixed(1)} s</td><td>${w.cause ? `<b>${escapeHtml(w.error ?? '')}</b>: ${escapeHtml(w.cause)}<br>` : ''}<details><summary>${w.states.length} states entered</summary>${escapeHtml(
          w.states.map((st) => `${st.state} @${(st.t / 1000).toFixed(1)} s`).join(' → '),
        )}</details></td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Streamfleet local run — ${escapeHtml(report.startedAt)}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 24px auto; max-width: 1180px; color: #111827; padding: 0 16px; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
  .verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; margin: 12px 0; }
  .passed { background: #dcfce7; color: #14532d; } .failed { background: #fee2e2; color: #7f1d1d; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #e5e7eb; }
  th { width: 170px; color: #374151; font-weight: 600; }
  .chart { position: relative; height: 340px; margin: 8px 0 20px; }
  section { background: #fff; padding: 1px 4px; }
  .muted { color: #6b7280; } pre { background: #f9fafb; padding: 8px; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body>
<h1>Streamfleet on one machine</h1>
<div class="muted">Started ${escapeHtml(report.startedAt)} · finished ${escapeHtml(report.finishedAt)} · Node ${escapeHtml(report.environment.node)} · ${report.environment.cpus} CPUs · DynamoDB Local ${report.environment.dynamodbLocal ? `with ${report.environment.dynamodbLocal.rolloverMs > 0 ? `a shard rollover every ${report.environment.dynamodbLocal.rolloverMs / 1000} s` : 'no rollovers'}` : '—'}</div>
<div class="verdict ${s.passed ? 'passed' : 'failed'}">${s.passed ? 'PASSED' : 'FAILED'} — ${escapeHtml(s.verdict)}</div>
<table>${rows}</table>

<section id="panel-scaling"><h2>Workers, KEDA and shards</h2>
<p class="muted">KEDA's <code>aws-dynamodb-streams</code> scaler counts every shard DescribeStream lists, closed ones included; the green line is what the shards that still have work need. Dashed red lines: the fault drill.</p>
<div class="chart"><canvas id="chart-scaling"></canvas></div></section>
<section id="panel-lag"><h2>Replication lag</h2>
<p class="muted">End to end: how long ago the source table held as many items as the replica holds now (both tables' item counts, read every second), i.e. the age of the oldest item not yet replicated. Beside it, the highest <code>streamfleet_replication_lag_ms</code> the workers' /metrics showed at that second (0 once a shard is caught up; the stream stamps whole seconds).</p>
<div class="chart"><canvas id="chart-lag"></canvas></div></section>
<section id="panel-throughput"><h2>Throughput</h2>
<div class="chart"><canvas id="chart-throughput"></canvas></div></section>
<section id="panel-leases"><h2>Unfinished leases per worker</h2>
<div class="chart"><canvas id="chart-leases"></canvas></div></section>

<h2>Fault drill</h2>
${drill ? `<table><tr><th>at</th><th>step</th><th>what happened</th></tr>${drill}</table>` : '<p class="muted">No drill in this run.</p>'}
<h2>Workflows</h2>
<table><tr><th>workflow</th><th>status</th><th>took</th><th>states</th></tr>${workflows}</table>
<h2>Cluster events</h2>
<details><summary>${report.clusterEvents.length} events</summary><pre>${escapeHtml(report.clusterEvents.join('\n'))}</pre></details>
<p class="muted">Every figure is in report.json beside this page.</p>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${chartJsSource()}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
