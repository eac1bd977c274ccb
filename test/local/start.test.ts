/**
 * `npm start` end to end with small options: DynamoDB Local with rollovers, the setup workflow against the
 * local cluster, the fault drill, the verify workflow; exit code 0, the summary, report.json with every
 * figure, and report.html rendering its charts in headless Chromium with no console error.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserUnavailable,
  checkReportInBrowser,
  drawnSeries,
  indistinguishableSeries,
} from '../../local/report/browser.js';
import type { RunReport } from '../../local/report/run-report.js';
import { leftovers, ROOT, readProcesses, START_COMMAND, startNpmStart } from './start-process.js';

const reportDir = mkdtempSync(join(tmpdir(), 'streamfleet-start-'));
const ARGS = ['--items', '400', '--rate', '40', '--max-workers', '2', '--rollover-seconds', '3'];

describe('npm start with small options', () => {
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  let output: string;
  let report: RunReport;
  let group: number;

  beforeAll(async () => {
    const run = startNpmStart([...ARGS, '--report-dir', reportDir]);
    group = run.child.pid as number;
    try {
      exit = await Promise.race([
        run.exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`npm start did not finish:\n${run.output()}`)), 150_000),
        ),
      ]);
    } finally {
      run.kill();
    }
    output = run.output();
    report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as RunReport;
  }, 160_000);

  afterAll(() => {
    rmSync(reportDir, { recursive: true, force: true });
  });

  it('exits 0 after the verify workflow passed', () => {
    expect(exit, output.slice(-4000)).toEqual({ code: 0, signal: null });
    expect(report.summary.passed).toBe(true);
    expect(report.workflows.map((w) => [w.workflow, w.status])).toEqual([
      ['setup', 'SUCCEEDED'],
      ['verify', 'SUCCEEDED'],
    ]);
  });

  it('prints the live view as short lines (no TTY), one fact per line, and the summary table', () => {
    const lines = output.split('\n');
    // 80 columns at most, every line: the summary and the events are wrapped, never cut.
    const long = lines.filter((line) => [...line].length > 80);
    expect(long, long.join('\n')).toEqual([]);
    expect(output).not.toContain('…');
    expect(output).toMatch(/^\[00:\d\d\] setup ▸ EnsureTables$/m);
    // One fact per line: what KEDA's trigger asks as arithmetic, what KEDA decided, what the shards need.
    expect(output).toMatch(
      /^\[\d\d:\d\d\] KEDA: \d+ shards → ceil\(\d+\/2\) = \d+(, capped at 2)?; desired \d+$/m,
    );
    expect(output).toMatch(/^\[\d\d:\d\d\] needed: \d+ unfinished → ceil\(\d+\/2\) = \d+$/m);
    expect(output).toMatch(/^\[\d\d:\d\d\] load: \d+\/400 items \(\d+%\)/m);
    expect(output).toMatch(/^Result\s+PASSED {2}the verify workflow passed/m);
    expect(output).toMatch(/^KEDA\s+\d+ shards → ceil\(\d+\/2\) = \d+, capped at 1 · desired 1$/m);
    expect(output).toContain(join(reportDir, 'report.html'));
    expect(output.includes('\u001b[')).toBe(false); // no cursor movement or colour without a TTY
  });

  it('says the same numbers in the summary, the report and the checks', () => {
    const s = report.summary;
    const last = report.samples[report.samples.length - 1];
    expect(s.scaling.maxReplicaCount).toBe(1); // the drill's scale-in, not the option's 2
    expect(s.scaling.kedaTrigger).toBe(
      `${last?.shards?.total} shards → ceil(${last?.shards?.total}/2) = ${last?.keda.asks}, capped at 1`,
    );
    // The verify workflow was given the ScaledObject as it is after the drill, so its check says "capped at 1" too.
    expect(s.checks.scaling).toMatch(/KEDA's trigger: \d+ shards → ceil\(\d+\/2\) = \d+, capped at 1;/);
  });

  it('writes report.json with every figure over time', () => {
    const s = report.summary;
    expect(s.load).toMatchObject({ target: 400, written: 400, ratePerSecond: 40 });
    expect(s.replica).toMatchObject({
      sourceItems: 400,
      replicaItems: 400,
      missing: 0,
      differing: 0,
      extra: 0,
    });
    expect(s.rollovers).toBeGreaterThan(3);
    expect(s.shards?.total).toBeGreaterThan(3);
    // KEDA counts every shard listed; the unfinished ones need fewer workers.
    expect(s.scaling.kedaAsks).toBeGreaterThan(s.scaling.needed);
    expect(s.scaling.peakWorkers).toBe(2);
    // Sampled once a second from live workers: what the SIGKILLed one did after its last sample is not counted,
    // and replays need not make up for it (the checkpoint moves with every transaction). The replica check above
    // is what proves every item arrived.
    expect(s.throughput.recordsProcessed).toBeGreaterThan(0);
    expect(s.lagMs.p99).not.toBeNull();
    expect(report.samples.length).toBeGreaterThan(15);
    const sample = report.samples[report.samples.length - 1];
    expect(Object.keys(sample ?? {})).toEqual(
      expect.arrayContaining([
        't',
        'load',
        'shards',
        'keda',
        'needed',
        'workers',
        'leases',
        'records',
        'lag',
      ]),
    );
    expect(report.tasks.filter((t) => t.fn === 'generate-load')).toHaveLength(report.loadPlan.batches);
    expect(
      report.clusterEvents.some((e) => /KEDA: streamfleet\/users-replicator 1 → 2 replicas/.test(e)),
    ).toBe(true);
  });

  it('ran the fault drill: SIGKILL, failover, scale in, hand-off', () => {
    expect(report.drill.map((e) => e.kind)).toEqual(['sigkill', 'failover', 'scale-in', 'handoff']);
    for (const step of report.drill.filter((e) => e.kind === 'failover' || e.kind === 'handoff')) {
      expect(step.completed, step.text).toBe(true);
    }
  });

  it('has an event for every pod start, restart and exit', () => {
    const record = readProcesses(reportDir);
    const podEvents = report.events.filter((e) => e.kind === 'pod');
    // Every process the run launched (first start or restart) has its event, with its pid.
    for (const worker of record?.workers ?? []) {
      expect(
        podEvents.some((e) => e.pod === worker.pod && e.pid === worker.pid && e.what !== 'exited'),
        `${worker.pod} pid ${worker.pid}`,
      ).toBe(true);
    }
    const killed = report.drill.find((e) => e.kind === 'sigkill');
    expect(podEvents.some((e) => e.what === 'exited' && e.pid === killed?.pid)).toBe(true);
    // A pod restarted in place is a 'restarted' event with a new pid, never a second 'started'.
    const started = podEvents.filter((e) => e.what === 'started').map((e) => e.pod);
    expect(new Set(started).size).toBe(started.length);
    // KEDA's decisions are said as arithmetic.
    expect(report.events.some((e) => e.kind === 'keda' && /replicas: \d+ shards → ceil/.test(e.text))).toBe(
      true,
    );
  });

  it('leaves no process behind', async () => {
    const record = readProcesses(reportDir);
    // Every pod it started was recorded (restarts add processes when the SIGKILLed pod's restart came before
    // the drill's scale-in), so the check below covers them all.
    const podsStarted = new Set(report.events.filter((e) => e.what === 'started').map((e) => e.pod));
    expect(podsStarted.size).toBeGreaterThanOrEqual(2);
    expect(new Set(record?.workers.map((w) => w.pod))).toEqual(podsStarted);
    expect(await leftovers(group, reportDir)).toEqual({ group: [], java: [], guard: [], workers: [] });
  });

  it('the HTML report renders its charts in headless Chromium with no console errors', async (context) => {
    const html = join(reportDir, 'report.html');
    expect(existsSync(html)).toBe(true);
    expect(readFileSync(html, 'utf8')).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // self-contained
    const missing = browserUnavailable();
    if (missing && !process.env.CI) {
      context.skip(`${missing} Skipping the browser check (it is required when CI is set).`);
    }
    expect(report.browserCheck).toMatchObject({ ok: true, charts: 5, chartsWithData: 5, consoleErrors: [] });
    const check = await checkReportInBrowser(html);
    expect(check).toMatchObject({
      ok: true,
      charts: 5,
      chartsWithData: 5,
      consoleErrors: [],
      pageErrors: [],
      failedRequests: [],
    });
    // As drawn: no series lies on another's pixels unless merged into it or dashed with a legend naming it.
    const drawn = await drawnSeries(html);
    expect(drawn.map((c) => c.id)).toContain('chart-scaling');
    expect(indistinguishableSeries(drawn)).toEqual([]);
  }, 60_000);
});

describe('npm start options', () => {
  it('--help lists every option and exits 0', async () => {
    const run = startNpmStart(['--help']);
    const exit = await run.exited;
    expect(exit.code).toBe(0);
    for (const option of [
      '--items',
      '--rate',
      '--duration',
      '--max-workers',
      '--shard-count',
      '--rollover-seconds',
      '--no-rollovers',
      '--no-drill',
      '--keep-running',
      '--data-dir',
      '--report-dir',
      '--quiet',
      '--json',
    ]) {
      expect(run.output()).toContain(option);
    }
  });

  it('without Java it exits 3 and says how to install it', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'streamfleet-nojava-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const result = spawnSync(process.execPath, START_COMMAND.slice(1), {
      cwd: ROOT,
      env: { ...process.env, PATH: bin },
      encoding: 'utf8',
      timeout: 30_000,
    });
    rmSync(bin, { recursive: true, force: true });
    expect(result.status, result.stderr).toBe(3);
    expect(result.stderr).toContain('DynamoDB Local needs a Java 17+ runtime');
    expect(result.stderr).toContain('apt-get install -y openjdk-17-jdk-headless');
  });

  it("these tests run what package.json's start script runs after its build", () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(scripts.start).toBe(`npm run build --silent && ${START_COMMAND.join(' ')}`);
  });

  it('a bad option exits 2 with a sentence naming it', async () => {
    const run = startNpmStart(['--items', '5', '--rate', '5', '--duration', '5']);
    expect((await run.exited).code).toBe(2);
    expect(run.output()).toContain('Give at most two of --items, --rate and --duration');
  });
});

describe('npm start --processor: an example application instead of replication', () => {
  it('runs the whole story with the example, its own table and grants, IAM enforced and nothing refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'streamfleet-processor-'));
    const run = startNpmStart([
      ...ARGS,
      '--processor',
      'email-domains',
      '--no-browser-check',
      '--quiet',
      '--report-dir',
      dir,
    ]);
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      exit = await Promise.race([
        run.exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`npm start did not finish:\n${run.output()}`)), 150_000),
        ),
      ]);
    } finally {
      run.kill();
    }
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunReport;
    rmSync(dir, { recursive: true, force: true });
    expect(exit, run.output().slice(-4000)).toEqual({ code: 0, signal: null });
    expect(report.summary.processor).toEqual({
      name: 'email-domains',
      module: join(ROOT, 'dist/examples/email-domains.js'),
    });
    expect(report.summary.passed).toBe(true);
    // Every worker signed as the consumer role, whose policy holds the example's grant: nothing refused.
    expect(report.summary.awsRules?.rules).toBe('all');
    expect(report.summary.awsRules?.refused.iam).toBe(0);
    expect(report.summary.throughput.recordsProcessed).toBeGreaterThanOrEqual(400);
    expect(report.summary.checks.replication).toMatch(
      /^processing healthy: the fleet runs its own processor/,
    );
  }, 160_000);
});
