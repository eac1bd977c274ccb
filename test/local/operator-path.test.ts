/**
 * The operator's path as a newcomer takes it: `npm start -- --keep-running` in an 80×24 terminal (under
 * `script` (util-linux), which gives the program a pseudo-terminal, sized with `stty` before it starts), then,
 * from another shell, every command npm start's hint prints, run exactly as printed, and the commands those
 * print in turn (`--no-follow`'s `follow`). Then Ctrl-C.
 *
 * What it holds the run to: the summary stays on screen while the live block goes on being redrawn below it
 * (read through a small terminal model, test/support/screen.ts); no line is wider than the terminal or cut
 * with "…"; the last frame keeps every key number; each printed command exits 0; `status --json` is healthy
 * right after verify (the grace for a new shard) and takes its fleet from npm start's own setup, which is an
 * execution `follow` can tell; Ctrl-C exits with the verdict's code and leaves nothing running. Exit codes
 * and JSON are asserted, not wording, except where the wording is the command to run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../local/report/run-report.js';
import { stripAnsi, visibleWidth } from '../../local/start/layout.js';
import { screen } from '../support/screen.js';
import { leftovers, ROOT, readProcesses, START_COMMAND } from './start-process.js';

const reportDir = mkdtempSync(join(tmpdir(), 'streamfleet-path-'));
// As docs/cli.md runs it (npm start -- --keep-running --no-drill …), smaller.
const ARGS = [
  '--keep-running',
  '--no-drill',
  '--items',
  '240',
  '--rate',
  '40',
  '--max-workers',
  '2',
  '--rollover-seconds',
  '3',
  '--no-browser-check',
  '--report-dir',
  reportDir,
];

interface Shell {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A shell of the person's, in the repository: no AWS or Kubernetes variable of the test run leaks in. */
function shellEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries({ ...process.env, NO_COLOR: '1' }).filter(
      ([name]) => !name.startsWith('AWS_') && name !== 'KUBECONFIG' && name !== 'STREAMFLEET_ACCOUNT_ID',
    ),
  );
}

function sh(script: string, timeoutMs = 120_000): Promise<Shell> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: ROOT,
      env: shellEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The commands under the hint's first line, each rejoined from the lines the 80 columns wrapped it into. */
function hintCommands(lines: readonly string[]): string[] {
  const start = lines.findIndex((l) => /^\[\d\d:\d\d\] streamfleet CLI: in another terminal/.test(l));
  if (start < 0) return [];
  const commands: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const command = /^\[\d\d:\d\d\] {3}(\S.*)$/.exec(line);
    if (command) commands.push(command[1] as string);
    else if (/^ {8}\S/.test(line) && commands.length > 0) commands.push(`${commands.pop()} ${line.trim()}`);
    else break;
  }
  return commands;
}

describe('the operator’s path against npm start -- --keep-running in an 80×24 terminal', () => {
  let raw = '';
  let child: ChildProcess;
  let closed: Promise<number | null>;
  let commands: string[] = [];
  let sourceEnv = '';
  let report: RunReport;
  const ran: { command: string; result: Shell }[] = [];

  /** A command as the hint printed it, after the hint's `. …/streamfleet.env`. */
  const run = async (command: string) => {
    const result = await sh(`${sourceEnv} && ${command}`);
    ran.push({ command, result });
    return result;
  };

  beforeAll(async () => {
    const command = `stty cols 80 rows 24 && exec ${[...START_COMMAND, ...ARGS].join(' ')}`;
    child = spawn('script', ['-qfec', command, '/dev/null'], {
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
    const collect = (chunk: Buffer) => {
      raw += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    closed = new Promise((resolve) => child.once('close', (code) => resolve(code)));
    // The hint comes once verify passed and the endpoints listen; its last command ends with setup-input.json.
    const deadline = Date.now() + 170_000;
    while (Date.now() < deadline) {
      commands = hintCommands(screen(raw));
      if (commands.some((c) => c.includes('setup-input.json'))) break;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as RunReport;
    sourceEnv = commands.find((c) => c.startsWith('. ')) ?? '';
  }, 180_000);

  afterAll(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // gone
    }
    rmSync(reportDir, { recursive: true, force: true });
  });

  it('verifies, then prints whole commands to drive it: the environment, status, verify and setup', () => {
    expect(report.summary.passed, raw.slice(-3000)).toBe(true);
    expect(raw).toContain('\x1b['); // it drew a live view (cursor movement), not log lines
    expect(commands).toEqual([
      `. ${join(reportDir, 'streamfleet.env')}`,
      'npx streamfleet status',
      'npx streamfleet verify',
      `npx streamfleet setup --input ${join(reportDir, 'setup-input.json')}`,
    ]);
  });

  it('keeps the whole summary on screen while the live view goes on below it', () => {
    const shown = screen(raw);
    const result = shown.findIndex((l) => /^Result\s+PASSED/.test(l));
    const reportLine = shown.findIndex((l) => /^Report\s+\S+report\.html$/.test(l));
    expect(result).toBeGreaterThanOrEqual(0);
    expect(reportLine).toBeGreaterThan(result);
    expect(shown[reportLine + 1]?.trim()).toBe(join(reportDir, 'report.json'));
    // Between them every row of the summary, the checks included; the live block is drawn below, once.
    for (const label of ['Load', 'Replica', 'Shards', 'KEDA', 'Needed', 'Workers', 'Lag', 'Checks']) {
      const row = shown.slice(result, reportLine).findIndex((l) => l.startsWith(label));
      expect(row, label).toBeGreaterThanOrEqual(0);
    }
    expect(shown.slice(reportLine).some((l) => l.startsWith('Streamfleet '))).toBe(true);
  });

  it('status, as printed, finds npm start’s own setup and is healthy right after verify', async () => {
    expect((await run('npx streamfleet status')).code).toBe(0);
    const json = await run('npx streamfleet status --json');
    expect(json.code, json.stderr).toBe(0);
    const status = JSON.parse(json.stdout) as {
      healthy: boolean;
      fleet: { name: string };
      scaling: { figures: { leases: { unowned: number } } };
    };
    expect(status).toMatchObject({ healthy: true, fleet: { name: report.fleetName } });
    expect(status.scaling.figures.leases.unowned).toBe(0);
  }, 120_000);

  it('npm start’s setup is an execution the CLI follows to the same end', async () => {
    const setup = report.workflows.find((w) => w.workflow === 'setup');
    expect(setup?.executionArn).toMatch(/:execution:Streamfleet-setup:npm-start-setup-/);
    const followed = await run(`npx streamfleet follow ${setup?.executionArn} --json`);
    expect(followed.code, followed.stderr).toBe(0);
    expect(JSON.parse(followed.stdout)).toMatchObject({ workflow: 'setup', status: 'SUCCEEDED' });
  }, 120_000);

  it('verify, as printed, succeeds; --no-follow prints a follow command that follows it to the same end', async () => {
    expect((await run('npx streamfleet verify')).code).toBe(0);
    const started = await run('npx streamfleet verify --no-follow');
    expect(started.code, started.stderr).toBe(0);
    const arn = started.stdout.trim();
    const follow = /^follow it with: (npx streamfleet follow \S+)$/m.exec(started.stderr)?.[1];
    expect(follow).toBe(`npx streamfleet follow ${arn}`);
    expect((await run(follow as string)).code).toBe(0);
    const json = await run(`${follow} --json`);
    expect(JSON.parse(json.stdout)).toMatchObject({
      executionArn: arn,
      workflow: 'verify',
      status: 'SUCCEEDED',
      output: { healthy: true },
    });
  }, 180_000);

  it('setup, as printed, succeeds again on the running fleet', async () => {
    const setup = commands.find((c) => c.includes(' setup --input '));
    const result = await run(setup as string);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  }, 180_000);

  it('fits the terminal: no line wider than 80 columns, none cut with "…"', () => {
    const lines = stripAnsi(raw).replace(/\r/g, '').split('\n');
    const wide = lines.filter((line) => visibleWidth(line) > 80);
    expect(wide, wide.join('\n')).toEqual([]);
    expect(lines.filter((line) => line.includes('…'))).toEqual([]);
  });

  it('keeps every key number in the last frame of the live view', () => {
    const shown = screen(raw);
    const start = shown.map((line) => line.startsWith('Streamfleet ')).lastIndexOf(true);
    expect(start).toBeGreaterThanOrEqual(0);
    const frame = shown.slice(start, start + 14).join('\n');
    expect(frame).toMatch(/^Streamfleet \d\d:\d\d · /m);
    expect(frame).toMatch(/^Load\s+\[[█░]+\] 240\/240 100% /m);
    expect(frame).toMatch(/^Shards\s+\d+ listed · \d+ open · \d+ unfinished/m);
    expect(frame).toMatch(/^KEDA\s+\d+ shards → ceil\(\d+\/2\) = \d+(, capped at 2)? · desired \d+/m);
    expect(frame).toMatch(/^Needed\s+\d+ unfinished → ceil\(\d+\/2\) = \d+/m);
    expect(frame).toMatch(/^Workers\s+\d+ running · \d+ ready/m);
    expect(frame).toMatch(/^Leases\s+\S+ \d/m);
    // After the CLI's setup the source holds its items too: the replica row says both counts.
    expect(frame).toMatch(/^Replica\s+\d+ items \(source \d+\) · \d+ records/m);
    expect(frame).toMatch(/^Lag\s+now \S+ (ms|s) · p50 \S+ (ms|s) · p99 /m);
  });

  it('Ctrl-C exits with the verdict’s code (0) and leaves nothing running', async () => {
    const record = readProcesses(reportDir);
    expect(record?.main).toBeGreaterThan(0);
    process.kill(record?.main as number, 'SIGINT');
    expect(await closed).toBe(0);
    expect(await leftovers(child.pid as number, reportDir)).toEqual({
      group: [],
      java: [],
      guard: [],
      workers: [],
    });
  }, 60_000);
});
