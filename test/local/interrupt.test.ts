/**
 * Ctrl-C at any moment leaves nothing behind: `npm start`'s program is interrupted the way a terminal does it
 * (SIGINT to its whole process group) while DynamoDB Local starts, once a worker runs, and during the load.
 * Then no process of its group, no Java it started (found by the port it recorded before starting Java) and
 * no worker it launched (by the pids it recorded) may remain, and the run has said what it stopped and written a
 * partial report marked interrupted at the path it printed. Other test files run in parallel, so nothing is
 * looked up globally.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../local/report/run-report.js';
import { leftovers, pgrep, readProcesses, type StartProcess, startNpmStart } from './start-process.js';

const SMALL = [
  '--items',
  '3000',
  '--rate',
  '100',
  '--max-workers',
  '2',
  '--rollover-seconds',
  '3',
  '--no-browser-check',
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('npm start stopped with Ctrl-C', () => {
  let run: StartProcess | undefined;
  const dirs: string[] = [];

  afterEach(() => {
    run?.kill();
    run = undefined;
  });

  const points: [string, (r: StartProcess, reportDir: string) => Promise<void>][] = [
    [
      'while DynamoDB Local starts',
      async (r, reportDir) => {
        await r.waitFor(/Starting DynamoDB Local/, 30_000);
        // Java is running but not yet answering.
        for (let i = 0; i < 100; i++) {
          const port = readProcesses(reportDir)?.dynamodbLocal?.port;
          if (port && pgrep(['-f', '--', `-port ${port} -sharedDb`]).length > 0) break;
          await sleep(100);
        }
        expect(r.output()).not.toMatch(/DynamoDB Local on http/);
      },
    ],
    ['once a worker runs', (r) => r.waitFor(/pod \S+ started/, 60_000)],
    [
      'during the load, with several workers',
      async (r) => {
        await r.waitFor(/GenerateLoad: \d+ batches/, 60_000);
        await sleep(4_000);
      },
    ],
  ];

  it.each(points)(
    '%s: exits 130, writes a partial report and leaves no Java, worker or other process',
    async (_point, waitUntil) => {
      const reportDir = mkdtempSync(join(tmpdir(), 'streamfleet-start-int-'));
      dirs.push(reportDir);
      run = startNpmStart([...SMALL, '--report-dir', reportDir]);
      const group = run.child.pid as number;
      await waitUntil(run, reportDir);
      const record = readProcesses(reportDir);
      expect(record?.dynamodbLocal?.port, 'the port is recorded before Java starts').toBeGreaterThan(0);
      run.interrupt();
      const exit = await Promise.race([
        run.exited,
        sleep(40_000).then(() => ({ code: -1, signal: null, timeout: true })),
      ]);
      expect(exit, run.output().slice(-2000)).not.toHaveProperty('timeout');
      // npm passes the child's fate on: killed by SIGINT, or exit code 130 from our handler.
      expect(exit.code === 130 || exit.signal === 'SIGINT', JSON.stringify(exit)).toBe(true);
      // The run's own handler said what it stopped and where the partial report is (npm may exit a moment
      // before its child's last words).
      await run.waitFor(/partial report \(marked interrupted\): \S+report\.html/, 5_000);
      expect(run.output()).toMatch(/^stopped .*DynamoDB Local/m);
      const printed = /partial report \(marked interrupted\): (\S+)/.exec(run.output())?.[1];
      expect(printed).toBe(join(reportDir, 'report.html'));
      const partial = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as RunReport;
      expect(partial.summary).toMatchObject({ passed: false, interrupted: { signal: 'SIGINT' } });
      expect(partial.summary.interrupted?.stopped?.dynamodbLocal).not.toBeUndefined();
      expect(readFileSync(join(reportDir, 'report.html'), 'utf8')).toContain('INTERRUPTED');
      expect(await leftovers(group, reportDir), run.output().slice(-2000)).toEqual({
        group: [],
        java: [],
        guard: [],
        workers: [],
      });
      rmSync(reportDir, { recursive: true, force: true });
    },
    120_000,
  );

  it('killed outright (SIGKILL, no handler runs): its workers and DynamoDB Local still go within seconds', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'streamfleet-start-kill-'));
    run = startNpmStart([...SMALL, '--report-dir', reportDir]);
    const group = run.child.pid as number;
    await run.waitFor(/pod \S+ started/, 60_000);
    const record = readProcesses(reportDir);
    expect(record?.workers.length, 'a worker was recorded').toBeGreaterThan(0);
    process.kill(record?.main as number, 'SIGKILL');
    await run.exited;
    // The workers' orphan guard checks every second and forces an exit after 8 s; Java's guard every second.
    expect(await leftovers(group, reportDir, 20_000), run.output().slice(-2000)).toEqual({
      group: [],
      java: [],
      guard: [],
      workers: [],
    });
    rmSync(reportDir, { recursive: true, force: true });
  }, 120_000);
});
