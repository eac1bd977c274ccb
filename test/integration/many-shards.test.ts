import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createScriptedReplication,
  localClient,
  scanAll,
  stopAll,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';
import { waitForConvergence } from '../support/replica.js';
import type { ScriptedStream } from '../support/scripted-stream.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const workers = new Map<string, WorkerProcess>();
let stream: ScriptedStream | undefined;
afterAll(async () => {
  await stopAll(workers.values());
  await stream?.stop();
});

const SHARDS = 64;
const MAX_RECORDS = 100;
const LEASE_DURATION_MS = 5_000;

interface Reading {
  worker: string;
  start: number;
  end: number;
}

/** [initializing, stopped] intervals per shard, from a worker's JSON log lines (pino ISO times). */
function readingIntervals(worker: WorkerProcess, killedAt: number | undefined): Map<string, Reading[]> {
  const byShard = new Map<string, Reading[]>();
  const open = new Map<string, number>();
  for (const line of worker.output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; shardId?: string; time?: string };
    if (!entry.shardId || !entry.time) continue;
    const at = Date.parse(entry.time);
    if (entry.msg === 'shard consumer initializing: reading starts') open.set(entry.shardId, at);
    if (entry.msg === 'shard consumer stopped' && open.has(entry.shardId)) {
      const list = byShard.get(entry.shardId) ?? [];
      list.push({ worker: worker.name, start: open.get(entry.shardId) as number, end: at });
      byShard.set(entry.shardId, list);
      open.delete(entry.shardId);
    }
  }
  for (const [shardId, start] of open) {
    const list = byShard.get(shardId) ?? [];
    list.push({ worker: worker.name, start, end: killedAt ?? Number.POSITIVE_INFINITY });
    byShard.set(shardId, list);
  }
  return byShard;
}

describe('many shards and a changing fleet', () => {
  it('1 → 4 → 2 workers over 64 shards: balanced, nothing lost, one reader per shard, bounded replays', async () => {
    const created = await createScriptedReplication(client, endpoint, SHARDS);
    stream = created.stream;
    const tables = created.tables;
    const scripted = created.stream;
    const start = async (name: string) => {
      const worker = await WorkerProcess.start({
        endpoint,
        tables,
        name,
        env: {
          AWS_ENDPOINT_URL_DYNAMODB_STREAMS: scripted.endpoint,
          MAX_RECORDS: String(MAX_RECORDS),
          LEASE_DURATION_MS: String(LEASE_DURATION_MS),
          LOG_LEVEL: 'info',
        },
      });
      workers.set(name, worker);
      return worker;
    };
    const owners = async () => {
      const counts = new Map<string, number>();
      for (const lease of await scanAll(client, tables.app)) {
        if (lease.checkpoint?.S === 'SHARD_END') continue;
        const owner = lease.leaseOwner?.S ?? '(none)';
        counts.set(owner, (counts.get(owner) ?? 0) + 1);
      }
      return counts;
    };
    const balancedAmong = async (names: string[]) => {
      const counts = await owners();
      const held = names.map((n) => counts.get(n) ?? 0);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      return held.reduce((a, b) => a + b, 0) === total && Math.max(...held) - Math.min(...held) <= 1;
    };

    // A steady load for the whole test: 2,400 changes, some items changed several times.
    let written = 0;
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading && i < 2_400; i++) {
        await scripted.put({ email: `user${i % 1_500}@x`, v: i });
        written++;
        if (i % 40 === 39) await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await start('w1');
    await waitFor(async () => (await owners()).get('w1') === SHARDS, {
      timeoutMs: 20_000,
      message: 'w1 to own every shard',
    });

    const joined = performance.now();
    for (const name of ['w2', 'w3', 'w4']) await start(name);
    await waitFor(() => balancedAmong(['w1', 'w2', 'w3', 'w4']), {
      timeoutMs: 60_000,
      intervalMs: 250,
      message: '4 workers balanced',
    });
    const toFour = performance.now() - joined;
    // Each joiner needs 16 leases, stolen one per taker pass (1 s): about 16 passes.
    expect(toFour).toBeLessThan(40_000);

    const scrape = new Map<string, number>();
    const scrapeAll = async () => {
      for (const [name, worker] of workers) {
        if (worker.child.exitCode === null && worker.child.signalCode === null) {
          scrape.set(
            name,
            await worker.metric('streamfleet_records_processed_total').catch(() => scrape.get(name) ?? 0),
          );
        }
      }
    };
    await scrapeAll();
    const w4Leases = (await owners()).get('w4') ?? 0;
    const w3 = workers.get('w3');
    const w4 = workers.get('w4');
    w3?.signal('SIGTERM');
    await scrapeAll();
    const killedAt = Date.now();
    w4?.signal('SIGKILL');
    expect((await w3?.exited)?.code).toBe(0);
    const shrunk = performance.now();
    await waitFor(() => balancedAmong(['w1', 'w2']), {
      timeoutMs: 60_000,
      intervalMs: 250,
      message: '2 workers balanced',
    });
    const toTwo = performance.now() - shrunk;
    // w3's leases are handed over at once; w4's expire after the lease duration, then one pass each side.
    // (A worker that handed leases to w4 must have chosen a sentinel of w4 since: it rescans after a hand-off.)
    expect(toTwo).toBeLessThan(LEASE_DURATION_MS + 10_000);

    loading = false;
    await load;
    await waitForConvergence(client, tables.source, tables.target, 60_000);
    await scrapeAll();

    // One reader per shard: no two workers' reading intervals overlap on any shard.
    const all = new Map<string, Reading[]>();
    for (const [name, worker] of workers) {
      for (const [shardId, list] of readingIntervals(worker, name === 'w4' ? killedAt : undefined)) {
        all.set(shardId, [...(all.get(shardId) ?? []), ...list]);
      }
    }
    let handovers = 0;
    const gaps: number[] = [];
    for (const [shardId, list] of all) {
      list.sort((a, b) => a.start - b.start);
      for (let i = 1; i < list.length; i++) {
        const before = list[i - 1] as Reading;
        const after = list[i] as Reading;
        if (before.worker === after.worker) continue;
        handovers++;
        gaps.push(after.start - before.end);
        expect(
          after.start,
          `${shardId}: ${after.worker} started before ${before.worker} stopped`,
        ).toBeGreaterThanOrEqual(before.end);
      }
    }
    expect(handovers).toBeGreaterThan(SHARDS / 2);
    // Balancing is cooperative: most hand-overs (the 48 of 1 → 4 and w3's on SIGTERM) pause a shard for about
    // a renew interval, not the lease duration a steal or the crash of w4 costs.
    gaps.sort((a, b) => a - b);
    const medianGap = gaps[Math.floor(gaps.length / 2)] ?? Number.POSITIVE_INFINITY;
    expect(medianGap).toBeLessThan(LEASE_DURATION_MS);
    const handedToBalance = (workers.get('w1')?.output.match(/"msg":"lease handed off to balance"/g) ?? [])
      .length;
    expect(handedToBalance).toBeGreaterThan(0);

    // Replays only after the crash, at most one unfinished batch per shard w4 held.
    const processed = [...scrape.values()].reduce((a, b) => a + b, 0);
    expect(processed).toBeGreaterThanOrEqual(written - MAX_RECORDS * w4Leases);
    expect(processed).toBeLessThanOrEqual(written + MAX_RECORDS * w4Leases);
    console.log(
      JSON.stringify({
        written,
        processed,
        toFourMs: Math.round(toFour),
        toTwoMs: Math.round(toTwo),
        handovers,
        handedToBalance,
        gapMs: { median: medianGap, p90: gaps[Math.floor(gaps.length * 0.9)], max: gaps.at(-1) },
        w4Leases,
      }),
    );
  }, 180_000);
});
