/**
 * The orphan guard preloaded into every local worker (local/worker/orphan-guard.mjs): a worker whose
 * launcher died stops by itself — gracefully first (SIGTERM), outright if that hangs — including when the
 * launcher died before the worker had even started.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pgrep } from './start-process.js';

const GUARD = resolve(import.meta.dirname, '../../local/worker/orphan-guard.mjs');

/** A stand-in worker: says when it got SIGTERM, and (if asked) ignores it the way a stuck drain would. */
const WORKER = `
process.on('SIGTERM', () => {
  console.log('SIGTERM');
  if (!process.env.HANG) process.exit(0);
});
console.log('up');
setInterval(() => {}, 1000);
`;

/**
 * Starts the worker under a bash (the launcher) that exits after `launcherLivesMs`, and returns the worker's
 * pid and output.
 */
async function orphanedWorker(
  env: Record<string, string>,
  launcherLivesMs: number,
): Promise<{ pid: number; out: () => string }> {
  const tag = `orphan-guard-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const script = `node --import "${GUARD}" -e "$WORKER" ${tag} > "$OUT" 2>&1 & sleep ${launcherLivesMs / 1000}; exit 0`;
  const out = `/tmp/${tag}.log`;
  const bash = spawn('bash', ['-c', script], {
    env: { ...process.env, ...env, WORKER, OUT: out },
    stdio: 'ignore',
  });
  await new Promise((r) => bash.once('exit', r));
  let pid: number | undefined;
  for (let i = 0; i < 50 && pid === undefined; i++) {
    pid = pgrep(['-f', `^node .*${tag}`])[0];
    if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  if (pid !== undefined) started.push(pid);
  return {
    pid: pid ?? -1,
    out: () => {
      const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
      rmSync(out, { force: true });
      return text;
    },
  };
}

const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('orphan guard', () => {
  it('stops a worker whose launcher died before the worker started', async () => {
    // The launcher's pid, as the local cluster passes it, names a process that is not (any longer) the parent.
    const worker = await orphanedWorker({ STREAMFLEET_PARENT_PID: '999999' }, 0);
    expect(await goneWithin(worker.pid, 5_000), 'the orphan was still running').toBe(true);
  });

  it('stops a worker whose launcher dies while it runs, gracefully first', async () => {
    const worker = await orphanedWorker({}, 1_000);
    expect(await goneWithin(worker.pid, 5_000)).toBe(true);
    expect(worker.out()).toContain('SIGTERM');
  });

  it('kills a worker that does not finish its graceful stop', async () => {
    const worker = await orphanedWorker({ HANG: '1' }, 1_000);
    expect(await goneWithin(worker.pid, 3_000), 'gone before the force timeout').toBe(false);
    expect(await goneWithin(worker.pid, 10_000), 'still running after the force timeout').toBe(true);
    expect(worker.out()).toContain('SIGTERM');
  });
});
