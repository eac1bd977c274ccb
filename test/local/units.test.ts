/** The pure parts of `npm start`: options, load plan, metrics parsing, lag, the drill's steps, the view, the page. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { LeaseView } from '../../core/fleet/fleet-state.js';
import { scalingConfig } from '../../core/kubernetes/keda.js';
import { metricValue, parsePrometheusText } from '../../core/vocabulary/prometheus.js';
import { ClusterEventKind, describeClusterEvent } from '../../local/cluster/index.js';
import { renderReportHtml } from '../../local/report/html.js';
import type { RunReport } from '../../local/report/run-report.js';
import { clusterRunEvent } from '../../local/start/cluster-events.js';
import { FaultDrill } from '../../local/start/drill.js';
import { fleetFigures } from '../../local/start/figures.js';
import { factLines, liveBlock, visibleWidth, wrapText } from '../../local/start/layout.js';
import { DEFAULTS, parseStartOptions, planLoad, UsageError } from '../../local/start/options.js';
import { describePodEvent } from '../../local/start/processes.js';
import { endToEndDelayMs, type PodSample, type Sample } from '../../local/start/sampler.js';
import { describeStopOutcome } from '../../local/start/services.js';
import { percentile } from '../../local/start/stats.js';
import { TerminalReporter } from '../../local/start/view.js';
import { screen } from '../support/screen.js';

describe('options', () => {
  it('defaults to a load of rate x duration with rollovers, the drill and the browser check', () => {
    const options = parseStartOptions([]);
    expect(options).toMatchObject({
      items: DEFAULTS.rate * DEFAULTS.durationSeconds,
      rate: DEFAULTS.rate,
      durationSeconds: DEFAULTS.durationSeconds,
      maxWorkers: 4,
      shardCount: 2,
      rolloverMs: 5_000,
      keepRunning: false,
      output: 'live',
      drill: true,
      browserCheck: true,
    });
  });

  it('derives the third of items, rate and duration', () => {
    expect(parseStartOptions(['--items', '300', '--rate', '60'])).toMatchObject({ durationSeconds: 5 });
    expect(parseStartOptions(['--items', '300', '--duration', '10'])).toMatchObject({ rate: 30 });
    expect(parseStartOptions(['--duration', '10'])).toMatchObject({ items: 500, rate: 50 });
  });

  it('turns rollovers off, persists data, and switches output', () => {
    expect(parseStartOptions(['--no-rollovers', '--data-dir', 'd', '--json'])).toMatchObject({
      rolloverMs: 0,
      dataDir: 'd',
      output: 'json',
    });
    expect(parseStartOptions(['--quiet', '--keep-running', '--no-drill'])).toMatchObject({
      output: 'quiet',
      keepRunning: true,
      drill: false,
    });
    expect(parseStartOptions(['-h'])).toBe('help');
  });

  it.each([
    [['--items', '0'], /--items expects a whole number from 1/],
    [['--items', '1', '--rate', '1', '--duration', '1'], /at most two/],
    [['--max-workers', 'many'], /--max-workers expects/],
    [['--no-rollovers', '--rollover-seconds', '3'], /contradict/],
    [['--quiet', '--json'], /exclude each other/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ])('%j is refused', (argv, message) => {
    expect(() => parseStartOptions(argv)).toThrow(UsageError);
    expect(() => parseStartOptions(argv)).toThrow(message);
  });

  it('plans the load as batches the Map state writes two at a time', () => {
    expect(planLoad(4500, 50)).toEqual({ batches: 30, itemsPerBatch: 150, ratePerSecond: 25, total: 4500 });
    expect(planLoad(400, 40)).toEqual({ batches: 4, itemsPerBatch: 100, ratePerSecond: 20, total: 400 });
    expect(planLoad(1, 10)).toEqual({ batches: 1, itemsPerBatch: 1, ratePerSecond: 10, total: 1 });
    const odd = planLoad(1001, 50);
    expect(odd.total).toBeGreaterThanOrEqual(1001);
    expect(odd.total - 1001).toBeLessThan(odd.batches);
  });
});

describe('metrics and lag', () => {
  it('reads counters and gauges from Prometheus text', () => {
    const samples = parsePrometheusText(
      [
        '# HELP streamfleet_records_processed_total x',
        'streamfleet_records_processed_total{event_name="INSERT"} 40',
        'streamfleet_records_processed_total{event_name="MODIFY"} 2',
        'streamfleet_replication_lag_ms 1500',
        'streamfleet_replica_writes_total{outcome="written"} 41',
      ].join('\n'),
    );
    expect(metricValue(samples, 'streamfleet_records_processed_total')).toBe(42);
    expect(metricValue(samples, 'streamfleet_records_processed_total', { event_name: 'MODIFY' })).toBe(2);
    expect(metricValue(samples, 'streamfleet_replication_lag_ms')).toBe(1500);
    expect(metricValue(samples, 'nope')).toBeUndefined();
  });

  it('measures end-to-end lag as the age of the oldest item not yet in the replica', () => {
    const history = [
      { t: 0, items: 0 },
      { t: 1000, items: 100 },
      { t: 2000, items: 200 },
    ];
    expect(endToEndDelayMs(history, 3000, 300, 300)).toBe(0);
    // Item 151 was written half-way between the samples at 1 s and 2 s.
    expect(endToEndDelayMs(history, 3000, 300, 150)).toBeCloseTo(1490, 0);
    expect(endToEndDelayMs(history, 3000, 300, 250)).toBe(1000);
    // With the current count as the last point: 5 items behind at 100 items/s is about 40 ms.
    expect(endToEndDelayMs([...history, { t: 3000, items: 300 }], 3000, 300, 295)).toBeCloseTo(40, 0);
    // One percentile for the report and the bench: linear interpolation between the closest ranks.
    expect(percentile([1, 2, 3, 4, 100], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 100], 99)).toBeCloseTo(96.16, 6);
    expect(percentile([1, 2], 50)).toBe(1.5);
    expect(percentile([], 50)).toBeUndefined();
  });
});

function pod(name: string, over: Partial<PodSample> = {}): PodSample {
  return {
    name,
    pid: 100 + name.length,
    port: 1,
    ready: true,
    restarts: 0,
    stopping: false,
    leasesHeld: 0,
    processed: 0,
    lagMs: 0,
    ...over,
  };
}

function sample(t: number, written: number, pods: PodSample[], desired = pods.length): Sample {
  return {
    t,
    phase: 'setup ▸ GenerateLoad',
    load: { written, target: 100, batchesDone: 0, batches: 4 },
    shards: { total: 9, open: 1, closed: 8, closedFinished: 7, unfinished: 2 },
    keda: { metric: 9, asks: 5, desired },
    scaling: { shardCount: 2, minReplicaCount: 0, maxReplicaCount: 4, activationShardCount: 0 },
    needed: 1,
    workers: { desired, running: pods.filter((p) => !p.stopping).length, ready: pods.length, pods },
    leases: {
      total: 9,
      unfinished: 2,
      byOwner: { 'users-replicator-a': 1, 'users-replicator-bb': 1 },
      unowned: 0,
    },
    records: { processed: written, perSecond: 10 },
    writes: { perSecond: 10 },
    items: { source: written, replica: written - 5 },
    lag: { endToEndMs: 1200, maxMs: 0, byWorker: {} },
    rollovers: 8,
  };
}

const lease = (key: string, owner: string | undefined, checkpoint = '100'): LeaseView => ({
  leaseKey: key,
  leaseOwner: owner,
  leaseCounter: 1,
  checkpoint,
});

describe('the fault drill', () => {
  it('kills the busiest worker, sees its lease taken over, scales in by one and sees the hand-off', async () => {
    const killed: number[] = [];
    const maxes: number[] = [];
    const drill = new FaultDrill(
      { killAt: 0.3, scaleInAt: 0.6, stepTimeoutMs: 60_000, maxReplicaCount: 2, leaseWaitMs: 0 },
      { kill: (pid) => killed.push(pid), setMaxReplicas: async (max) => void maxes.push(max) },
    );
    const a = 'users-replicator-a';
    const b = 'users-replicator-bb';
    await drill.step(sample(1000, 20, [pod(a), pod(b)]), [lease('s1', b)], false);
    expect(killed).toEqual([]); // before 30 %
    await drill.step(
      sample(2000, 40, [pod(a), pod(b)]),
      [lease('s1', b), lease('s0', a, 'SHARD_END')],
      false,
    );
    expect(killed).toEqual([pod(b).pid]);
    // Still owned by the dead worker: not done.
    await drill.step(sample(5000, 50, [pod(a), pod(b, { ready: false })]), [lease('s1', b)], false);
    expect(drill.events.map((e) => e.kind)).toEqual(['sigkill']);
    await drill.step(sample(9000, 55, [pod(a), pod(b, { ready: false })]), [lease('s1', a)], false);
    expect(drill.events[1]).toMatchObject({ kind: 'failover', completed: true, durationMs: 7000 });
    expect(drill.events[1]?.newOwners).toEqual({ s1: a });
    await drill.step(sample(10_000, 70, [pod(a), pod(b, { restarts: 1 })]), [lease('s1', a)], false);
    expect(maxes).toEqual([1]);
    expect(drill.events[2]).toMatchObject({ kind: 'scale-in', pod: b, maxReplicaCount: { from: 2, to: 1 } });
    await drill.step(sample(11_000, 80, [pod(a)], 1), [lease('s1', a)], false);
    expect(drill.events[3]).toMatchObject({ kind: 'handoff', completed: true, pod: b });
    expect(drill.done).toBe(true);
  });

  it('waits a little for the pod it scales in to hold a lease, then goes ahead anyway', async () => {
    const maxes: number[] = [];
    const drill = new FaultDrill(
      { killAt: 0, scaleInAt: 0.5, stepTimeoutMs: 60_000, maxReplicaCount: 2, leaseWaitMs: 5_000 },
      { kill: () => {}, setMaxReplicas: async (max) => void maxes.push(max) },
    );
    const a = 'users-replicator-a';
    const b = 'users-replicator-bb';
    await drill.step(sample(1000, 10, [pod(a), pod(b)]), [lease('s1', a)], false);
    await drill.step(sample(8000, 20, [pod(a), pod(b)]), [lease('s1', b)], false); // failover done
    await drill.step(sample(9000, 60, [pod(a), pod(b)]), [lease('s1', a)], false);
    await drill.step(sample(12_000, 70, [pod(a), pod(b)]), [lease('s1', a)], false);
    expect(maxes).toEqual([]); // b, which would go, holds nothing yet
    await drill.step(sample(14_100, 75, [pod(a), pod(b)]), [lease('s1', a)], false);
    expect(maxes).toEqual([1]);
    expect(drill.events[2]).toMatchObject({ kind: 'scale-in', pod: b, leases: [] });
  });

  it('skips the scale-in when KEDA runs one worker', async () => {
    const drill = new FaultDrill(
      { killAt: 0.3, scaleInAt: 0.6, stepTimeoutMs: 60_000, maxReplicaCount: 4, leaseWaitMs: 0 },
      { kill: () => {}, setMaxReplicas: async () => {} },
    );
    const a = 'users-replicator-a';
    await drill.step(sample(1000, 40, [pod(a)]), [lease('s1', a)], false);
    await drill.step(sample(13_000, 60, [pod(a, { restarts: 1 })]), [lease('s1', a)], false);
    expect(drill.events[1]?.newOwners).toEqual({ s1: `${a} (restarted)` });
    await drill.step(sample(14_000, 100, [pod(a, { restarts: 1 })]), [lease('s1', a)], true);
    expect(drill.events.map((e) => e.kind)).toEqual(['sigkill', 'failover', 'skipped']);
  });
});

describe('the live view', () => {
  const s = sample(72_000, 47, [pod('users-replicator-a'), pod('users-replicator-bb')]);
  const figures = fleetFigures(s, { fleetName: 'users-replicator', lag: { p50: 1000, p99: 4000 } });
  const context = { now: 72_500, rolloverMs: 5000, drill: 'SIGKILL one worker at 35% of the load' };

  it('keeps every key number at 80 columns, each line within the width', () => {
    const block = liveBlock(figures, { ...context, width: 80 });
    for (const line of block) expect(visibleWidth(line), line).toBeLessThanOrEqual(80);
    const text = block.join('\n');
    expect(text).toContain('01:12');
    expect(text).toContain('47/100 47%');
    expect(text).toContain('9 listed · 1 open · 2 unfinished');
    // What KEDA's trigger asks, as arithmetic, and what KEDA decided.
    expect(text).toContain('9 shards → ceil(9/2) = 5, capped at 4 · desired 2');
    expect(text).toContain('2 unfinished → ceil(2/2) = 1');
    expect(text).toContain('2 running · 2 ready');
    expect(text).toContain('a 1 · bb 1');
    expect(text).toContain('now 1.2 s · p50 1.0 s · p99 4.0 s');
    expect(text).toContain('Drill    SIGKILL one worker');
    expect(text).not.toContain('…');
  });

  it('adds detail on a wide terminal, never drops a fact', () => {
    const narrow = liveBlock(figures, { ...context, width: 80 });
    const wide = liveBlock(figures, { ...context, width: 160 }).join('\n');
    expect(wide).toContain('(7 finished)');
    expect(wide).toContain("workers' gauge");
    for (const label of narrow.map((line) => line.slice(0, 9).trim()).filter(Boolean)) {
      expect(wide).toContain(label);
    }
  });

  it('wraps a long line at a separator under its label instead of cutting it', () => {
    const many = {
      ...s,
      leases: {
        ...s.leases,
        byOwner: Object.fromEntries(
          Array.from({ length: 9 }, (_, i) => [`users-replicator-${i}abcde-12345`, i]),
        ),
      },
    };
    const block = liveBlock(fleetFigures(many, { fleetName: 'users-replicator', lag: { p50: 1, p99: 2 } }), {
      ...context,
      width: 80,
    });
    for (const line of block) expect(visibleWidth(line)).toBeLessThanOrEqual(80);
    expect(block.join(' ')).toContain('8abcde-12345 (gone) 8');
    expect(wrapText('word '.repeat(30).trim(), 20, '  ').every((l) => visibleWidth(l) <= 20)).toBe(true);
  });

  it('keeps the summary on screen while the live block goes on being redrawn below it (--keep-running)', () => {
    let written = '';
    const stream = Object.assign(new Writable({ write: (_c, _e, done) => done() }), {
      columns: 80,
      write: (chunk: string) => {
        written += chunk;
        return true;
      },
    });
    const reporter = new TerminalReporter(stream, () => 72_500, false);
    const view = { rolloverMs: 5000, drill: undefined };
    reporter.update(figures, view);
    reporter.event(71_000, 'verify SUCCEEDED in 3.9 s: the fleet is healthy');
    reporter.update(figures, view);
    const summary = Array.from({ length: 30 }, (_, i) => `Summary line ${i + 1}`);
    reporter.print(`\n${summary.join('\n')}`);
    for (let i = 0; i < 3; i++) {
      reporter.update(figures, view);
      reporter.event(73_000 + i, `an event after the summary ${i}`);
    }
    const shown = screen(written);
    const first = shown.indexOf('Summary line 1');
    expect(shown.slice(first, first + summary.length)).toEqual(summary);
    // The events that came after it are below it, and the block is drawn once, last.
    expect(shown.indexOf('[01:13] an event after the summary 2')).toBeGreaterThan(first + summary.length);
    expect(shown.filter((line) => line.startsWith('Streamfleet '))).toHaveLength(1);
    expect(shown.at(-2)?.startsWith('Lag')).toBe(true);
  });

  it('without a TTY: one fact per line, each short', () => {
    const facts = factLines(figures);
    expect(facts.map((f) => f.key)).toEqual([
      'phase',
      'load',
      'shards',
      'keda',
      'needed',
      'workers',
      'leases',
      'replica',
      'lag',
    ]);
    expect(facts.find((f) => f.key === 'keda')?.text).toBe(
      'KEDA: 9 shards → ceil(9/2) = 5, capped at 4; desired 2',
    );
    for (const fact of facts) expect(visibleWidth(fact.text)).toBeLessThanOrEqual(72);
  });
});

describe('the report page', () => {
  it('is self-contained, inlines Chart.js and keeps data from closing its script element', () => {
    const s = sample(1000, 10, [pod('users-replicator-a')]);
    const report = {
      report: 'streamfleet-local-run',
      version: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:01:00.000Z',
      options: {},
      environment: { node: 'v20', platform: 'linux', cpus: 2, java: 'java', dynamodbLocal: null },
      fleetName: 'users-replicator',
      fleet: {},
      loadPlan: { batches: 1, itemsPerBatch: 10, ratePerSecond: 10, total: 10 },
      summary: {
        passed: false,
        verdict: 'a </script><script>alert(1)</script> verdict',
        durationMs: 60_000,
        timings: {},
        load: { target: 10, written: 10, ratePerSecond: 10, durationMs: 1000 },
        replica: { sourceItems: 10, replicaItems: 10, missing: 0, differing: 0, extra: 0, processedBy: {} },
        shards: null,
        rollovers: 0,
        interrupted: null,
        scaling: {
          kedaAsks: 1,
          kedaTrigger: '1 shards → ceil(1/2) = 1',
          kedaDesired: 1,
          needed: 1,
          neededText: '1 unfinished → ceil(1/2) = 1',
          maxReplicaCount: 1,
          peakWorkers: 1,
          finalWorkers: 1,
          readyWorkers: 1,
        },
        lagMs: { p50: 1, p99: 2, max: 3, workersGaugeMax: 0, samples: 1 },
        throughput: { peakRecordsPerSecond: 1, meanRecordsPerSecond: 1, recordsProcessed: 10 },
        checks: { scaling: null, replication: null, reasons: [] },
      },
      workflows: [],
      tasks: [],
      drill: [{ t: 500, kind: 'sigkill', text: 'SIGKILL </script>' }],
      samples: [s],
      clusterEvents: ['</script>'],
    } as unknown as RunReport;
    const html = renderReportHtml(report);
    expect(html).toContain('Chart.js v4');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html.match(/<\/script>/g)).toHaveLength(3); // data, Chart.js, page script
    expect(html).toContain('a &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; verdict');
  });
});

describe('what the run says about pods, KEDA and stopping', () => {
  it('tells KEDA decisions as arithmetic with the numbers in force, leaves pods to the launcher, says anything else as logged', () => {
    const config = scalingConfig({ shardCount: 2, maxReplicaCount: 3 });
    const scaled = {
      kind: ClusterEventKind.KedaScaled,
      namespace: 'streamfleet',
      name: 'users-replicator',
    } as const;
    expect(clusterRunEvent({ ...scaled, from: 2, to: 3, metric: 5, reason: 'metric', config })).toEqual({
      kind: 'keda',
      text: 'KEDA 2 → 3 replicas: 5 shards → ceil(5/2) = 3',
    });
    // The drill's lowered maxReplicaCount travels with the decision.
    const lowered = { ...config, maxReplicaCount: 1 };
    expect(
      clusterRunEvent({ ...scaled, from: 2, to: 1, metric: 5, reason: 'above-maximum', config: lowered })
        ?.text,
    ).toBe('KEDA 2 → 1 replicas: maxReplicaCount is 1 (5 shards → ceil(5/2) = 3, capped at 1)');
    expect(clusterRunEvent({ kind: ClusterEventKind.PodStarted, pod: 'users-replicator-a', port: 1 })).toBe(
      undefined,
    );
    expect(
      clusterRunEvent({ kind: ClusterEventKind.DeploymentCreated, namespace: 'x', name: 'y', replicas: 1 }),
    ).toEqual({ kind: 'cluster', text: 'Deployment x/y created with 1 replicas' });
    // The log line of a decision, as the report's clusterEvents keeps it.
    expect(describeClusterEvent({ ...scaled, from: 2, to: 3, metric: 5, reason: 'metric', config })).toBe(
      'KEDA: streamfleet/users-replicator 2 → 3 replicas (metric 5, metric)',
    );
  });

  it('says every pod start, restart and exit', () => {
    expect(describePodEvent({ kind: 'started', pod: 'p', pid: 7 }, 'a')).toBe('pod a started (pid 7)');
    expect(describePodEvent({ kind: 'restarted', pod: 'p', pid: 8, restart: 1 }, 'a')).toBe(
      'pod a restarted (restart 1, pid 8)',
    );
    expect(describePodEvent({ kind: 'exited', pod: 'p', pid: 7, code: null, signal: 'SIGKILL' }, 'a')).toBe(
      'pod a exited: killed by SIGKILL',
    );
  });

  it('says what Ctrl-C stopped', () => {
    expect(
      describeStopOutcome({
        workers: { running: 3, killed: 1 },
        strictLayer: true,
        dynamodbLocal: { pid: 42, starting: false },
        operatorEndpoints: false,
      }),
    ).toBe('3 workers (SIGTERM, then SIGKILL for 1), the strict layer and DynamoDB Local (pid 42)');
    expect(
      describeStopOutcome({
        workers: { running: 0, killed: 0 },
        strictLayer: false,
        dynamodbLocal: { pid: null, starting: true },
        operatorEndpoints: false,
      }),
    ).toMatch(/^DynamoDB Local \(still starting/);
  });
});
