/**
 * report.html: one self-contained page (no network) with the run's verdict, its figures and charts over
 * time drawn by Chart.js, whose UMD build is inlined from the installed `chart.js` package. The data sits in
 * a JSON script element; a small script turns it into four charts and marks the drill's steps and the
 * load's start and end on each. When every chart is drawn it sets `window.__streamfleetReport.rendered`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { shortPod } from '../start/figures.js';
import { clock, formatDuration } from '../start/stats.js';
import { awsRulesLine, lagLine, recordAgeLine } from '../start/summary.js';
import { reportCharts } from './charts.js';
import type { RunReport } from './run-report.js';

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

const PAGE_SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var state = (window.__streamfleetReport = { rendered: false, charts: 0, errors: [] });
  var markerColors = { phase: '#6b7280', drill: '#dc2626' };
  function mmss(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    return (m < 10 ? '0' : '') + m + ':' + (s % 60 < 10 ? '0' : '') + (s % 60);
  }
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
        var left = px + 3 + width > area.right ? px - 3 - width : px + 3;
        var row = 0;
        while (rowsEnd[row] !== undefined && rowsEnd[row] > left) row++;
        rowsEnd[row] = left + width;
        ctx.fillText(m.label, left, area.top + 12 + row * 12);
      });
      ctx.restore();
    }
  };
  data.charts.forEach(function (spec) {
    var datasets = spec.series.map(function (s, i) {
      return {
        label: s.label,
        data: s.values.map(function (v, j) { return { x: data.t[j], y: v }; }),
        borderColor: s.color,
        backgroundColor: spec.stacked ? s.color + '99' : s.color,
        borderDash: s.dash,
        borderWidth: s.width,
        stepped: s.stepped,
        pointRadius: 0,
        spanGaps: !spec.stacked,
        fill: spec.stacked ? (i === 0 ? 'origin' : '-1') : false,
        order: i
      };
    });
    new Chart(document.getElementById(spec.id), {
      type: 'line',
      data: { datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { title: function (items) { return items.length ? 'at ' + mmss(items[0].parsed.x) : ''; } } }
        },
        scales: {
          x: { type: 'linear', min: 0, max: data.tMax, title: { display: true, text: 'time since start (mm:ss)' },
               ticks: { callback: function (v) { return mmss(v); } } },
          y: { beginAtZero: true, stacked: spec.stacked, title: { display: true, text: spec.yTitle },
               ticks: { precision: spec.integer ? 0 : undefined } }
        }
      },
      plugins: [markers]
    });
    state.charts++;
  });
  state.rendered = true;
})();
`;

function row(label: string, value: string): string {
  return `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`;
}

/** "2 Dec 2026, 17:36:27 UTC". */
export function humanTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC`;
}

function outcome(s: RunReport['summary']): { word: string; css: string } {
  if (s.interrupted) return { word: 'INTERRUPTED', css: 'interrupted' };
  return s.passed ? { word: 'PASSED', css: 'passed' } : { word: 'FAILED', css: 'failed' };
}

function summaryRows(report: RunReport): string {
  const s = report.summary;
  const processedBy = Object.entries(s.replica.processedBy)
    .map(([worker, count]) => `${shortPod(worker, report.fleetName)}: ${count}`)
    .join(', ');
  return [
    row('Result', `${outcome(s).word}: ${s.verdict}`),
    row('Run time', formatDuration(s.durationMs)),
    row(
      'Load',
      `${s.load.written} of ${s.load.target} items at ${s.load.ratePerSecond}/s${s.load.durationMs === null ? '' : ` in ${formatDuration(s.load.durationMs)}`}`,
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
        ? `${s.shards.total} listed (${s.shards.open} open, ${s.shards.closed} closed, ${s.shards.unfinished} unfinished) after ${s.rollovers} rollovers`
        : '—',
    ),
    row('KEDA', `trigger: ${s.scaling.kedaTrigger}; desired ${s.scaling.kedaDesired ?? '—'}`),
    row('Needed', s.scaling.neededText),
    row(
      'Workers',
      `${s.scaling.finalWorkers} running (${s.scaling.readyWorkers} ready), peak ${s.scaling.peakWorkers}`,
    ),
    row('Lag', `${lagLine(s.lagMs, ms)}; ${recordAgeLine(s.lagMs, ms)}`),
    row(
      'Throughput',
      `${s.throughput.recordsProcessed} records processed; peak ${s.throughput.peakRecordsPerSecond}/s, mean ${s.throughput.meanRecordsPerSecond ?? '—'}/s`,
    ),
    row('AWS rules', s.awsRules ? awsRulesLine(s.awsRules) : '—'),
    row('Scaling check', s.checks.scaling ?? '—'),
    row('Replication check', s.checks.replication ?? '—'),
    ...s.checks.reasons.map((reason) => row('Reason', reason)),
  ].join('\n');
}

const ms = (value: number | null) => (value === null ? '—' : formatDuration(value));

export function renderReportHtml(report: RunReport): string {
  const s = report.summary;
  const data = reportCharts(report);
  const result = outcome(s);
  const drill = report.drill
    .map((e) => `<tr><td>${clock(e.t)}</td><td>${escapeHtml(e.kind)}</td><td>${escapeHtml(e.text)}</td></tr>`)
    .join('\n');
  const events = (report.events ?? [])
    .map((e) => `<tr><td>${clock(e.t)}</td><td>${escapeHtml(e.kind)}</td><td>${escapeHtml(e.text)}</td></tr>`)
    .join('\n');
  const workflows = report.workflows
    .map(
      (w) =>
        `<tr><td>${escapeHtml(w.workflow)}</td><td>${escapeHtml(w.status)}</td><td>${formatDuration(w.durationMs)}</td><td>${w.cause ? `<b>${escapeHtml(w.error ?? '')}</b>: ${escapeHtml(w.cause)}<br>` : ''}<details><summary>${w.states.length} states entered</summary>${escapeHtml(
          w.states.map((st) => `${st.state} at ${clock(st.t)}`).join(' → '),
        )}</details></td></tr>`,
    )
    .join('\n');
  const charts = data.charts
    .map(
      (c) =>
        `<section id="panel-${c.id.replace(/^chart-/, '')}"><h2>${escapeHtml(c.title)}</h2>\n<p class="muted">${escapeHtml(c.note)}</p>\n<div class="chart"><canvas id="${c.id}"></canvas></div></section>`,
    )
    .join('\n');
  const env = report.environment;
  const took = formatDuration(Date.parse(report.finishedAt) - Date.parse(report.startedAt));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Streamfleet local run — ${escapeHtml(humanTime(report.startedAt))}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 24px auto; max-width: 1180px; color: #111827; padding: 0 16px; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
  .verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; margin: 12px 0; }
  .passed { background: #dcfce7; color: #14532d; } .failed { background: #fee2e2; color: #7f1d1d; } .interrupted { background: #fef3c7; color: #78350f; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #e5e7eb; }
  th { width: 170px; color: #374151; font-weight: 600; }
  .chart { position: relative; height: 340px; margin: 8px 0 20px; }
  section { background: #fff; padding: 1px 4px; }
  .muted { color: #6b7280; } pre { background: #f9fafb; padding: 8px; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body>
<h1>Streamfleet on one machine</h1>
<div class="muted">Started ${escapeHtml(humanTime(report.startedAt))}, ran ${took} · Node ${escapeHtml(env.node)} · ${env.cpus} CPUs · DynamoDB Local ${env.dynamodbLocal ? `with ${env.dynamodbLocal.rolloverMs > 0 ? `a shard rollover every ${env.dynamodbLocal.rolloverMs / 1000} s` : 'no rollovers'}` : '—'}</div>
<div class="verdict ${result.css}" id="verdict">${result.word} — ${escapeHtml(s.verdict)}</div>
<table>${summaryRows(report)}</table>

${charts}

<h2>Fault drill</h2>
${drill ? `<table><tr><th>at</th><th>step</th><th>what happened</th></tr>${drill}</table>` : '<p class="muted">No drill in this run.</p>'}
<h2>Workflows</h2>
<table><tr><th>workflow</th><th>status</th><th>took</th><th>states</th></tr>${workflows}</table>
<h2>Events</h2>
<details><summary>${(report.events ?? []).length} events: pods started, restarted and exited, KEDA's decisions, the drill, the workflows</summary><table><tr><th>at</th><th>kind</th><th>what happened</th></tr>${events}</table></details>
<h2>Cluster log</h2>
<details><summary>${report.clusterEvents.length} lines</summary><pre>${escapeHtml(report.clusterEvents.join('\n'))}</pre></details>
<p class="muted">Every figure is in report.json beside this page.</p>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${chartJsSource()}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
