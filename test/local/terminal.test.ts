/**
 * `npm start` in an 80×24 terminal, as a newcomer's first window shows it: run under `script` (util-linux), which
 * gives the program a pseudo-terminal, sized 80 columns by 24 rows with `stty` before it starts. Everything it
 * wrote (the live view redrawn in place, the events, the summary) is read back without its escape codes: no line
 * may be wider than the terminal or cut short with "…", and the last frame of the live view must hold every key
 * number: the load, the shards, what KEDA's trigger asks as arithmetic and what KEDA decided, what the unfinished
 * shards need, the workers, their leases, the replica and the lag.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../local/report/report.js';
import { stripAnsi, visibleWidth } from '../../local/start/layout.js';
import { ROOT, START_COMMAND } from './start-process.js';

const reportDir = mkdtempSync(join(tmpdir(), 'streamfleet-tty-'));
const ARGS = [
  '--items',
  '240',
  '--rate',
  '40',
  '--max-workers',
  '2',
  '--rollover-seconds',
  '3',
  '--no-drill',
  '--no-browser-check',
  '--report-dir',
  reportDir,
];

/** What a terminal shows, line by line: escape codes gone, carriage returns dropped. */
function screenLines(raw: string): string[] {
  return stripAnsi(raw).replace(/\r/g, '').split('\n');
}

describe('npm start in an 80×24 terminal', () => {
  let raw = '';
  let exitCode: number | null = null;

  beforeAll(async () => {
    const command = `stty cols 80 rows 24 && exec ${[...START_COMMAND, ...ARGS].join(' ')}`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Colour on, as in a person's terminal (vitest's own NO_COLOR/FORCE_COLOR are not passed on).
      env: Object.fromEntries(
        Object.entries({ ...process.env, TERM: 'xterm-256color' }).filter(
          ([name]) => name !== 'NO_COLOR' && name !== 'FORCE_COLOR',
        ),
      ),
    });
    child.stdout.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
    });
    const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 170_000);
    exitCode = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    clearTimeout(timer);
  }, 180_000);

  afterAll(() => {
    rmSync(reportDir, { recursive: true, force: true });
  });

  it('passes, and the program saw an 80-column terminal', () => {
    expect(exitCode, raw.slice(-3000)).toBe(0);
    const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as RunReport;
    expect(report.summary.passed).toBe(true);
    expect(raw).toContain('\x1b['); // it drew a live view (cursor movement), not log lines
  });

  it('cuts no line: none is wider than 80 columns and none ends in "…"', () => {
    const lines = screenLines(raw);
    const wide = lines.filter((line) => visibleWidth(line) > 80);
    expect(wide, wide.join('\n')).toEqual([]);
    expect(lines.filter((line) => line.includes('…'))).toEqual([]);
  });

  it('keeps every key number in the last frame of the live view', () => {
    const lines = screenLines(raw);
    const start = lines.map((line) => line.startsWith('Streamfleet ')).lastIndexOf(true);
    expect(start).toBeGreaterThanOrEqual(0);
    const frame = lines.slice(start, start + 14).join('\n');
    expect(frame).toMatch(/^Streamfleet \d\d:\d\d · /m);
    expect(frame).toMatch(/^Load\s+\[[█░]+\] 240\/240 100% /m);
    expect(frame).toMatch(/^Shards\s+\d+ listed · \d+ open · \d+ unfinished/m);
    expect(frame).toMatch(/^KEDA\s+\d+ shards → ceil\(\d+\/2\) = \d+(, capped at 2)? · desired \d+/m);
    expect(frame).toMatch(/^Needed\s+\d+ unfinished → ceil\(\d+\/2\) = \d+/m);
    expect(frame).toMatch(/^Workers\s+\d+ running · \d+ ready/m);
    expect(frame).toMatch(/^Leases\s+\S+ \d/m);
    expect(frame).toMatch(/^Replica\s+240 items · \d+ records/m);
    expect(frame).toMatch(/^Lag\s+now \S+ (ms|s) · p50 \S+ (ms|s) · p99 /m);
  });

  it('ends with the summary, fitted to the terminal', () => {
    const text = screenLines(raw).join('\n');
    expect(text).toMatch(/^Result\s+PASSED {2}the verify workflow passed/m);
    expect(text).toMatch(/^KEDA\s+\d+ shards → ceil\(\d+\/2\) = \d+/m);
    expect(text).toMatch(/^Report\s+\S+report\.html$/m);
  });
});
