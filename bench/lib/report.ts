/** The table `npm run bench` prints. */
import type { BenchResults } from './results.js';

const f0 = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
const f1 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(1));
const f2 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(2));

export function printSummary(results: BenchResults, print: (line: string) => void): void {
  if (results.mode === 'quick')
    print('\n(quick run: small loads, one round — a smoke test; verdicts are indicative only)');
  const rows: [string, string, string, string][] = [];
  const d = results.drain;
  if (d) {
    const m = d.median;
    rows.push([
      'drain: worker (fenced), total',
      `${f0(m['worker-fenced'].totalRate)} rec/s`,
      '',
      `${f2(m['worker-fenced'].totalSeconds)} s for ${d.records}`,
    ]);
    rows.push(['drain: worker (fenced), steady', `${f0(m['worker-fenced'].steadyRate)} rec/s`, '', '']);
    rows.push([
      'drain: worker (conditional), steady',
      `${f0(m['worker-conditional'].steadyRate)} rec/s`,
      '',
      `total ${f0(m['worker-conditional'].totalRate)}`,
    ]);
    rows.push([
      `drain: order-safe limit (×${d.limitConcurrency.orderSafe}), steady`,
      `${f0(m['limit-order-safe'].steadyRate)} rec/s`,
      '',
      `total ${f0(m['limit-order-safe'].totalRate)}`,
    ]);
    rows.push([
      `drain: unsafe limit (×${d.limitConcurrency.unsafe}), steady`,
      `${f0(m['limit-unsafe'].steadyRate)} rec/s`,
      '',
      `total ${f0(m['limit-unsafe'].totalRate)}`,
    ]);
    rows.push([
      'drain: worker / order-safe, steady',
      f2(d.ratios.median.workerVsOrderSafeSteady),
      '≥ 0.90',
      verdict(d.ratios.median.workerVsOrderSafeSteady, (v) => v >= 0.9),
    ]);
    rows.push(['drain: worker / order-safe, total', f2(d.ratios.median.workerVsOrderSafeTotal), '', '']);
    rows.push([
      'drain, rules off: worker / order-safe, steady',
      f2(d.ratios.median.rulesOffWorkerVsOrderSafeSteady),
      '',
      `worker ${f0(m['worker-fenced-rules-off'].steadyRate)} vs ${f0(m['limit-order-safe-rules-off'].steadyRate)} rec/s; rules on / off ${f2(d.ratios.median.workerRulesOnVsOffSteady)}`,
    ]);
    const refused = d.runs.flat().reduce((n, run) => n + run.refused.total, 0);
    rows.push([
      'drain: requests the strict layer refused',
      f0(refused),
      '0',
      verdict(refused, (v) => v === 0),
    ]);
    rows.push(['drain: worker / unsafe, steady', f2(d.ratios.median.workerVsUnsafeSteady), '', '']);
    rows.push(['memory: worker peak RSS (VmHWM) in drain', `${f0(d.peakRssMiB)} MiB`, '', '']);
  }
  const l = results.lag;
  if (l) {
    const w = l.median.worker;
    rows.push([
      `lag @${l.ratePerSecond}/s, 2 workers: p50 / p95`,
      `${f0(w.p50)} / ${f0(w.p95)} ms`,
      '',
      `${f0(w.samples)} samples a round`,
    ]);
    rows.push([
      `lag @${l.ratePerSecond}/s, 2 workers: p99`,
      `${f0(w.p99)} ms`,
      '≤ 500 ms',
      verdict(w.p99, (v) => v <= 500),
    ]);
    const rounds = l.rounds.map((r) => r.worker);
    const worst = (pick: (r: (typeof rounds)[number]) => number) => Math.max(...rounds.map(pick));
    const peak = worst((r) => r.layer.peakGetRecordsInOneSecond);
    rows.push([
      'lag: GetRecords in any second, busiest shard',
      f0(peak),
      '≤ 5',
      `${verdict(peak, (v) => v <= 5)} (mean ${f1(worst((r) => r.layer.getRecordsPerSecondBusiestShard))}/s)`,
    ]);
    const throttled = worst((r) => r.layer.refused.throttledReads + r.layer.refused.tooManyReaders);
    const conflicts = worst(
      (r) => r.layer.refused.cancelledTransactions + r.layer.refused.refusedSingleWrites,
    );
    const losses = worst((r) => r.leaseLosses);
    rows.push([
      'lag: throttled reads / conflicts / leases lost',
      `${f0(throttled)} / ${f0(conflicts)} / ${f0(losses)}`,
      '0 / 0 / 0',
      verdict(throttled + conflicts + losses, (v) => v === 0),
    ]);
    rows.push([
      'lag: source PutItem p50 / p99 (inside lag)',
      `${f0(w.sourceWriteP50)} / ${f0(w.sourceWriteP99)} ms`,
      '',
      `${f1(l.emptyReadsPerSecond)} empty GetRecords/s, each + ${l.idleTimeBetweenReadsMs} ms idle`,
    ]);
    rows.push([
      'lag limit (bare loop): p50 / p99',
      `${f0(l.median.limit.p50)} / ${f0(l.median.limit.p99)} ms`,
      '',
      `worker p99 / limit p99 ${f2(l.p99VsLimit)}`,
    ]);
  }
  const fo = results.failover;
  if (fo) {
    const k = fo.median.SIGKILL;
    const t = fo.median.SIGTERM;
    const z = fo.median.SIGSTOP;
    const n = (kind: string) => fo.trials.filter((trial) => trial.kind === kind).length;
    rows.push([
      "failover: pod's container SIGKILLed → peer's first record",
      `${f2(k.firstRecordSeconds)} s`,
      `≤ ${fo.targets.SIGKILL} s`,
      `${verdict(k.firstRecordSeconds, (v) => v <= fo.targets.SIGKILL)} (${n('SIGKILL')} trials; take at ${f2(k.takeSeconds)} s)`,
    ]);
    rows.push([
      "hand-off: pod deleted (SIGTERM) → peer's first record",
      `${f2(t.firstRecordSeconds)} s`,
      `≤ ${fo.targets.SIGTERM} s`,
      `${verdict(t.firstRecordSeconds, (v) => v <= fo.targets.SIGTERM)} (${n('SIGTERM')} trials; owner exit ${f2(t.exitSeconds)} s)`,
    ]);
    if (z) {
      const stale = fo.trials.reduce((sum, trial) => sum + (trial.staleWrites ?? 0), 0);
      rows.push([
        "freeze: owner SIGSTOPped → peer's take",
        `${f2(z.takeSeconds)} s`,
        `≤ ${fo.targets.SIGSTOP} s`,
        `${verdict(z.takeSeconds, (v) => v <= fo.targets.SIGSTOP)} (${n('SIGSTOP')} trials; first record ${f2(z.firstRecordSeconds)} s; stale writes on SIGCONT ${stale})`,
      ]);
    }
    for (const d of fo.duplicates ?? []) {
      rows.push([
        `SIGKILL ${d.kill}: replica writes sent twice`,
        `${d.sentTwice}`,
        '0',
        `${verdict(d.sentTwice, (v) => v === 0)} (of ${d.records}; replica ${d.complete ? 'complete' : 'INCOMPLETE'})`,
      ]);
    }
  }
  const sw = results.kclSwitch;
  if (sw) {
    const overlap = sw.median.overlap;
    const release = sw.median.release;
    const n = sw.trials.length / Object.keys(sw.median).length;
    if (overlap)
      rows.push([
        'KCL 1.x switch, overlap: Java stop → first record',
        `${f2(overlap.pauseSeconds)} s`,
        '',
        `${n} trials; lease taken at ${f2(overlap.takeSeconds)} s (lease ${sw.leaseDurationMs / 1000} s)`,
      ]);
    if (release)
      rows.push([
        'KCL 1.x switch, migrate --apply: stop → first record',
        `${f2(release.pauseSeconds)} s`,
        '',
        `${n} trials; migrate --apply ${f2(release.migrateSeconds)} s (watch ${sw.failoverMs / 1000 + 1} s)`,
      ]);
  }
  const c = results.cost;
  if (c) {
    for (const w of c.workloads) {
      const kcl = w.kcl1.per1000.total;
      rows.push([
        `cost: ${w.name}, stream + lease requests / 1,000 records`,
        f1(w.streamAndLeasePer1000),
        w.name === 'steady' ? `≤ 2 × KCL (${f1(2 * kcl)})` : '',
        `${w.name === 'steady' ? `${verdict(w.streamAndLeasePer1000, (v) => v <= 2 * kcl)}; ` : ''}KCL 1.x ${f1(kcl)}; ${f2(w.writeUnitsPerRecord)} WCU/record`,
      ]);
      rows.push([
        `cost: ${w.name}, requests / 1,000 records`,
        f1(w.per1000.total),
        '',
        `stream ${f1(w.per1000.streamReads)}, lease r ${f1(w.per1000.leaseReads)} w ${f1(w.per1000.leaseWrites)}, replica ${f1(w.per1000.replicaWrites)}, other ${f1(w.per1000.other)}`,
      ]);
      rows.push([
        `cost: ${w.name}, KCL 1.x same work (no replica)`,
        f1(w.kcl1.per1000.total),
        '',
        `stream ${f1(w.kcl1.per1000.streamReads)}, lease r ${f1(w.kcl1.per1000.leaseReads)} w ${f1(w.kcl1.per1000.leaseWrites)}; ours without replica ${f1(w.per1000.total - w.per1000.replicaWrites - w.per1000.other)}`,
      ]);
    }
  }
  const sc = results.scale;
  if (sc) {
    for (const m of sc.ddb) {
      rows.push([
        `scale (DDB Local) ${m.design}, ${m.shards}×${m.workers}`,
        `${f1(m.totalRequestsPerWorkerPerSecond)} req/worker/s`,
        '',
        `~${f1(m.estimatedRcuPerWorkerPerSecond)} RCU/worker/s; balanced ${m.balanced ? `in ${f1(m.balanceSeconds)} s` : 'NOT in time'}; steals ${m.leaseEvents.steals}, losses ${m.leaseEvents.losses}`,
      ]);
    }
    for (const m of sc.memory) {
      rows.push([
        `scale (memory) ${m.design}, ${m.shards}×${m.workers}`,
        `${f1(m.totalRequestsPerWorkerPerSecond)} req/worker/s`,
        '',
        `~${f1(m.estimatedRcuPerWorkerPerSecond)} RCU/worker/s; balanced ${m.balanced ? `in ${f0(m.balanceSeconds)} s sim.` : 'NOT'}`,
      ]);
    }
  }
  const v = results.verify;
  if (v) {
    for (const size of v.scheduled) {
      rows.push([
        `verify: scheduled check, ${size.items.toLocaleString('en-US')} items`,
        `${f0(size.median.durationMs)} ms`,
        '',
        `peak ${f1(size.median.peakRssMiB)} MiB, ${f1(size.median.readUnits)} read units, ${f0(size.median.compared)} compared, bound ${size.median.upperBoundPercent} %`,
      ]);
    }
    rows.push([
      'verify: scheduled, largest / smallest',
      `${f2(v.flatness.durationRatio)} time`,
      'flat',
      `memory ${f2(v.flatness.peakRssRatio)}, read units ${f2(v.flatness.readUnitsRatio)}; stream reads ${(v.scheduledRequests.byOperation.GetRecords ?? 0) + (v.scheduledRequests.byOperation.GetShardIterator ?? 0)}`,
    ]);
    rows.push([
      `verify: full comparison, ${v.full.items.toLocaleString('en-US')} items`,
      `${f1(v.full.wallSeconds)} s`,
      'every difference',
      `${v.full.invocations.length} invocations, max ${f0(v.full.maxInvocation.durationMs)} ms / ${f1(v.full.maxInvocation.peakRssMiB)} MiB; found ${v.full.found.missing}/${v.full.found.differing}/${v.full.found.extra} of ${v.full.planted.missing}/${v.full.planted.differing}/${v.full.planted.extra}: ${v.full.everyPlantedKeyFound ? 'met' : 'MISSED'}`,
    ]);
  }
  const widths = [0, 1, 2, 3].map((i) =>
    Math.max(...rows.map((r) => r[i]?.length ?? 0), ['measure', 'median', 'target', 'note'][i]?.length ?? 0),
  );
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  print('');
  print(line(['measure', 'median', 'target', 'note']));
  print(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) print(line(row));
  print('');
}

function verdict(value: number | undefined, ok: (v: number) => boolean): string {
  if (value === undefined || !Number.isFinite(value)) return '';
  return ok(value) ? 'met' : 'MISSED';
}
