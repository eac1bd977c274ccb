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
import { browserUnavailable, checkReportInBrowser } from '../../local/report/browser.js';
import type { RunReport } from '../../local/report/report.js';
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

  it('prints the live view as lines (no TTY) and the summary table', () => {
    expect(output).toMatch(/^\[00:\d\d\] setup ▸ EnsureTables$/m);
    expect(output).toMatch(
      /\| load \d+\/400 \(\d+%\) \| shards \d+ .*\| KEDA asks \d+, desired .*needed \d+/,
    );
    expect(output).toMatch(/drill: SIGKILL users-replicator-\S+ \(pid \d+\)/);
    expect(output).toMatch(
      /^Result\s+PASSED {2}the verify workflow passed: the replica equals the source \(400 items\)/m,
    );
    expect(output).toMatch(/^Replica\s+400 items for 400 source items · 0 missing · 0 differing · 0 extra$/m);
    expect(output).toMatch(/^Shards\s+\d+ listed \(1 open, \d+ closed\) after \d+ rollovers/m);
    expect(output).toMatch(/^Lag\s+end to end p50 .* · p99 /m);
    expect(output).toContain(join(reportDir, 'report.html'));
    expect(output.includes('\u001b[')).toBe(false); // no cursor movement or colour without a TTY
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

  it('leaves no process behind', async () => {
    const record = readProcesses(reportDir);
    // Every pod it started was recorded (restarts add processes when the SIGKILLed pod's restart came before
    // the drill's scale-in), so the check below covers them all.
    const podsStarted = new Set([...output.matchAll(/Pod (users-replicator-\S+) started/g)].map((m) => m[1]));
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
    expect(report.browserCheck).toMatchObject({ ok: true, charts: 4, chartsWithData: 4, consoleErrors: [] });
    const check = await checkReportInBrowser(html);
    expect(check).toMatchObject({
      ok: true,
      charts: 4,
      chartsWithData: 4,
      consoleErrors: [],
      pageErrors: [],
      failedRequests: [],
    });
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
