/**
 * Clock skew between workers: each worker process runs with its wall clock shifted by hours
 * (test/support/clock-skew.mjs, preloaded with NODE_OPTIONS=--import, shifts Date and performance.timeOrigin).
 * Lease expiry must not depend on synchronised clocks: no worker may think a live peer's lease expired (no
 * steal, no double ownership), and failover after a kill or a freeze must take about the lease duration,
 * whichever way the clocks are off.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLease, type WorkerProcess, waitForOpenLeaseOwner } from '../support/fleet.js';
import {
  type AuditedTables,
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  FAST_LEASES,
  Fleet,
  Load,
  reliabilitySuite,
  report,
  scrapeMetrics,
  sleep,
} from './harness.js';

const { endpoint, client, streams } = reliabilitySuite();

const PRELOAD = resolve(import.meta.dirname, '../support/clock-skew.mjs');
const HOUR = 3_600_000;
const skewed = (ms: number) => ({
  NODE_OPTIONS: `--import=${PRELOAD}`,
  STREAMFLEET_TEST_CLOCK_SKEW_MS: String(ms),
});

/**
 * Watches for `ms`: the lease's owner in the table, and how many live workers say (on /metrics) they hold it.
 * Returns owner changes and the samples where more than one worker claimed the shard.
 */
async function watch(tables: AuditedTables, workers: WorkerProcess[], ms: number) {
  const owners = new Set<string | undefined>();
  let doubleClaims = 0;
  let samples = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    owners.add((await openLease(client, tables.app))?.leaseOwner?.S);
    const held = await Promise.all(
      workers.map(async (w) => (await scrapeMetrics(w.port))?.get('streamfleet_leases_held') ?? 0),
    );
    if (held.reduce((a, b) => a + b, 0) > 1) doubleClaims++;
    samples++;
    await sleep(200);
  }
  return { owners: [...owners], doubleClaims, samples };
}

describe('clock skew between workers', () => {
  it('the preload shifts the clock the worker uses (performance.timeOrigin + performance.now()) and Date', () => {
    const probe = spawnSync(
      process.execPath,
      [
        '-e',
        'process.stdout.write(JSON.stringify([performance.timeOrigin + performance.now(), Date.now()]))',
      ],
      { env: { ...process.env, ...skewed(-3 * HOUR) }, encoding: 'utf8' },
    );
    const [monotonic, wall] = JSON.parse(probe.stdout) as [number, number];
    expect(Math.abs(monotonic - (Date.now() - 3 * HOUR))).toBeLessThan(5_000);
    expect(Math.abs(wall - (Date.now() - 3 * HOUR))).toBeLessThan(5_000);
  });

  it('expiry never depends on synchronised clocks: no steal, no double ownership, failover from the sentinels', async () => {
    const started = Date.now();
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: FAST_LEASES });
    const load = new Load({ client, table: tables.source, items: 40, concurrency: 2, pauseMs: 20 }).start();

    // Ahead by two hours owns the shard; behind by three hours watches it.
    const ahead = await fleet.start('skew-plus-2h', { env: skewed(2 * HOUR) });
    await waitForOpenLeaseOwner(client, tables.app, ahead.name, { intervalMs: 50 });
    expect(ahead.output).toMatch(
      new RegExp(`"time":"${new Date(Date.now() + 2 * HOUR).toISOString().slice(0, 13)}`),
    );
    const behind = await fleet.start('skew-minus-3h', { env: skewed(-3 * HOUR) });
    const steady1 = await watch(tables, [ahead, behind], 7_000);

    // The owner dies: the worker whose clock is 5 h behind it takes over once the owner's lease stood still for
    // the lease duration on its own clock — not hours later, and not before (steady1 saw one owner throughout).
    await fleet.kill(ahead);
    const failoverAfterKillMs = await waitForOpenLeaseOwner(client, tables.app, behind.name, {
      intervalMs: 50,
      timeoutMs: 60_000,
    });

    // A third worker, 6 h ahead, joins; the owner freezes past its lease; the newcomer takes over; the frozen
    // one resumes, notices, and the two settle with one owner.
    const farAhead = await fleet.start('skew-plus-6h', { env: skewed(6 * HOUR) });
    const steady2 = await watch(tables, [behind, farAhead], 4_000);
    await fleet.scrape(behind);
    behind.signal('SIGSTOP');
    const failoverAfterFreezeMs = await waitForOpenLeaseOwner(client, tables.app, farAhead.name, {
      intervalMs: 50,
      timeoutMs: 60_000,
    });
    behind.signal('SIGCONT');
    await behind.waitForEvent('lease.lost', () => true, 30_000);
    await sleep(1_000);
    const steady3 = await watch(tables, [behind, farAhead], 5_000);
    await load.stop();

    const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 30_000 });
    await fleet.scrapeAll();
    report({
      scenario: 'clock-skew',
      faults: { workersWithSkewedClocks: 3, killed: 1, frozenPastLease: 1 },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      skewsHours: [2, -3, 6],
      failoverAfterKillMs,
      failoverAfterFreezeMs,
      ownersWhileSteady: [steady1.owners, steady2.owners, steady3.owners],
      doubleClaimSamples: steady1.doubleClaims + steady2.doubleClaims + steady3.doubleClaims,
      samples: steady1.samples + steady2.samples + steady3.samples,
      leaseTakes: fleet.total('streamfleet_lease_takes_total'),
      examples: result.examples,
    });
    expect(steady1.owners).toEqual([ahead.name]);
    expect(steady2.owners).toEqual([behind.name]);
    expect(steady3.owners).toEqual([farAhead.name]);
    expect(steady1.doubleClaims + steady2.doubleClaims + steady3.doubleClaims).toBe(0);
    // Each take-over followed the taker's judgement that the owner stopped renewing, however far apart the
    // clocks are: the killed owner by the 3 h-behind worker, the frozen one by the 6 h-ahead newcomer.
    for (const [watcher, gone] of [
      [behind, ahead],
      [farAhead, behind],
    ] as const) {
      const dead = watcher.events('peers.dead').find((e) => (e.workers as string[]).includes(gone.name));
      const taken = watcher.events('lease.taken').find((e) => e.previousOwner === gone.name);
      expect(dead, `${watcher.name} judged ${gone.name} dead`).toBeDefined();
      expect(taken?.how).toBe('take');
    }
    expect(result.examples).toEqual([]);
    expect(result.lost).toBe(0);
    expect(result.staleOverwrites).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource);
  }, 90_000);
});
