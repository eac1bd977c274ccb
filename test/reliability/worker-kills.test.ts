/**
 * Workers killed with SIGKILL, over and over, while a load runs and the stream's shards roll over (a DynamoDB
 * Local of this file's own, driven to close its shards every few seconds, so kills also land across parent and
 * child shards). Each worker talks to DynamoDB through a fault proxy of its own, which lets a kill land exactly:
 *
 * - mid-batch: the worker's replica transaction (which also moves the checkpoint, in the fenced mode) is held
 *   in the proxy, the worker is killed, and the transaction is then delivered (it lands after its writer died)
 *   or dropped;
 * - mid-checkpoint: the same with a checkpoint written on its own (SHARD_END as a shard rolls over), or a
 *   transaction that carries one;
 * - anywhere: a plain SIGKILL of the shard's owner at a random moment.
 *
 * Killed workers come back, half of them under the same name (they find leases that say they own them), half
 * under a new one. At the end the replica must equal the source and its history hold no stale write.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { listShards } from '../../core/vocabulary/shard.js';
import { type DynamoDbLocal, rolloverSupport, startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { startAwsRules } from '../support/aws-rules.js';
import { FaultProxy, type ProxiedRequest, seededRandom } from '../support/fault-proxy.js';
import { localClient, scanAll, type WorkerProcess } from '../support/fleet.js';
import {
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  FAST_LEASES,
  Fleet,
  Load,
  report,
  sleep,
  streamsClient,
} from './harness.js';

const ROLLOVER_MS = 4_000;
/** Kills in one run, by intended mode (a trap that catches nothing within 4 s falls back to a plain kill). */
const CHAOS_BUDGET_MS = 40_000;
const PLAN: KillMode[] = [
  'mid-batch',
  'mid-checkpoint',
  'anywhere',
  'mid-batch',
  'mid-checkpoint',
  'anywhere',
  'mid-batch',
  'mid-checkpoint',
  'anywhere',
  'mid-batch',
];

let server: DynamoDbLocal | undefined;
const proxies: FaultProxy[] = [];
afterAll(async () => {
  await Fleet.stopEverything();
  await Promise.all(proxies.map((p) => p.close()));
  await server?.stop();
});

const isCheckpoint = (app: string) => (request: ProxiedRequest) =>
  (request.operation === 'UpdateItem' || request.operation === 'TransactWriteItems') &&
  request.tables.includes(app) &&
  request.body.includes(':checkpoint');
const isReplicaWrite = (request: ProxiedRequest) => request.operation === 'TransactWriteItems';

type KillMode = 'mid-batch' | 'mid-checkpoint' | 'anywhere';

describe('workers killed with SIGKILL during a load', () => {
  it('loses nothing and writes nothing stale across repeated kills mid-batch and mid-checkpoint', async () => {
    const started = Date.now();
    const rolling = rolloverSupport().available;
    server = rolling ? await startDynamoDbLocal({ rolloverIntervalMs: ROLLOVER_MS }) : undefined;
    const endpoint = server
      ? (await startAwsRules({ upstream: server.endpoint })).endpoint
      : inject('ddbEndpoint');
    const client = localClient(endpoint);
    // The audit reads the streams behind the layer's back (see reliabilitySuite).
    const streams = streamsClient(server?.endpoint ?? inject('ddbDirectEndpoint'));
    const tables = await createAuditedTables(client);
    const fleet = new Fleet({ endpoint, tables, env: { ...FAST_LEASES, MAX_RECORDS: '40' } });
    const proxyOf = new Map<WorkerProcess, FaultProxy>();
    const random = seededRandom(2024);

    let serial = 0;
    const startWorker = async (name = `kill-${++serial}`, waitForStart = true) => {
      const proxy = await FaultProxy.start({ upstream: endpoint });
      proxies.push(proxy);
      const worker = await fleet.start(name, { endpoint: proxy.endpoint, waitForStart });
      proxyOf.set(worker, proxy);
      return worker;
    };
    /** Owners of the shards being read now: unfinished leases whose parents are finished (or gone). */
    const owners = async (): Promise<string[]> => {
      const leases = await scanAll(client, tables.app);
      const finished = (key: string) => {
        const parent = leases.find((lease) => lease.leaseKey?.S === key);
        return parent === undefined || parent.checkpoint?.S === 'SHARD_END';
      };
      return leases
        .filter((lease) => lease.checkpoint?.S !== 'SHARD_END' && lease.leaseOwner?.S)
        .filter((lease) => (lease.parentShardId?.SS ?? []).every(finished))
        .map((lease) => lease.leaseOwner?.S ?? '');
    };

    const load = new Load({ client, table: tables.source, items: 100, concurrency: 3, pauseMs: 30 }).start();
    await Promise.all([startWorker(), startWorker(), startWorker()]);

    const kills: Record<
      KillMode | 'restartedSameName' | 'restartedNewName' | 'trapDelivered' | 'trapDropped',
      number
    > = {
      'mid-batch': 0,
      'mid-checkpoint': 0,
      anywhere: 0,
      restartedSameName: 0,
      restartedNewName: 0,
      trapDelivered: 0,
      trapDropped: 0,
    };
    const chaosStarted = Date.now();
    // Ten kills, or as many as fit in the chaos budget when the machine is slow (other test files run too).
    for (const planned of PLAN) {
      if (Date.now() - chaosStarted > CHAOS_BUDGET_MS) break;
      await sleep(600 + random() * 1_400);
      const mode = planned;
      // A trap needs the worker that is reading: after a kill, wait (a little) for the takeover.
      const readerDeadline = Date.now() + (mode === 'anywhere' ? 0 : 5_000);
      let reader: WorkerProcess | undefined;
      do {
        const owning = new Set(await owners().catch(() => []));
        reader = fleet.live().find((w) => owning.has(w.name));
        if (!reader && Date.now() < readerDeadline) await sleep(200);
      } while (!reader && Date.now() < readerDeadline);
      const live = fleet.live();
      const victim = reader ?? live[Math.floor(random() * live.length)];
      if (!victim) continue;
      const proxy = proxyOf.get(victim);
      if (mode === 'anywhere' || !proxy) {
        await fleet.kill(victim);
        kills.anywhere++;
      } else {
        let release: (verdict: 'deliver' | 'drop') => void = () => undefined;
        const released = new Promise<'deliver' | 'drop'>((resolve) => {
          release = resolve;
        });
        let fired: () => void = () => undefined;
        const caught = new Promise<boolean>((resolve) => {
          fired = () => resolve(true);
          setTimeout(() => resolve(false), 4_000);
        });
        proxy.addRule({
          match: mode === 'mid-batch' ? isReplicaWrite : isCheckpoint(tables.app),
          times: 1,
          action: { kind: 'hold', release: released },
          onFire: () => fired(),
        });
        const inFlight = await caught;
        await fleet.kill(victim);
        if (inFlight) {
          kills[mode]++;
          const verdict = random() < 0.6 ? 'deliver' : 'drop';
          kills[verdict === 'deliver' ? 'trapDelivered' : 'trapDropped']++;
          release(verdict);
        } else {
          kills.anywhere++; // nothing was in flight in time: an ordinary kill
          release('drop');
        }
      }
      const sameName = random() < 0.5;
      kills[sameName ? 'restartedSameName' : 'restartedNewName']++;
      // Not waiting for "worker started": the next kill may land while it is still starting, as in life.
      await startWorker(sameName ? victim.name : undefined, false);
    }
    const chaosMs = Date.now() - chaosStarted;
    await load.stop();

    const convergeStarted = Date.now();
    const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 45_000 });
    const convergeMs = Date.now() - convergeStarted;
    await fleet.scrapeAll();
    const shards = (await listShards(streams, tables.streamArn)).length;
    report({
      scenario: 'worker-sigkill',
      faults: {
        killedMidBatch: kills['mid-batch'],
        killedMidCheckpoint: kills['mid-checkpoint'],
        killedAnywhere: kills.anywhere,
      },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      chaosMs,
      convergeMs,
      heldWritesDeliveredAfterKill: kills.trapDelivered,
      heldWritesDroppedWithKill: kills.trapDropped,
      restartedSameName: kills.restartedSameName,
      restartedNewName: kills.restartedNewName,
      workerIncarnations: fleet.incarnations.length,
      shardsInLineage: shards,
      rollovers: server?.rollovers() ?? 0,
      staleSkippedWrites: fleet.total('streamfleet_replica_writes_total{outcome="stale-skipped"}'),
      examples: result.examples,
    });
    expect(kills['mid-batch'] + kills['mid-checkpoint'] + kills.anywhere).toBeGreaterThanOrEqual(6);
    expect(kills['mid-batch'] + kills['mid-checkpoint']).toBeGreaterThanOrEqual(3);
    expect(result.examples).toEqual([]);
    expect(result.lost).toBe(0);
    expect(result.staleOverwrites).toBe(0);
    expect(result.corrupted).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource);
  }, 110_000);
});
