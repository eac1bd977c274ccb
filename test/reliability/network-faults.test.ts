/**
 * Network faults between the workers and DynamoDB, injected by a TCP fault proxy: latency, throttling
 * (HTTP 400 ProvisionedThroughputExceededException), 500/503, connections dropped before the request is
 * forwarded and after (the write happened, the answer was lost). The load keeps writing straight to the source
 * table; at the end the replica must equal the source, with no stale write in its history.
 */
import { describe, expect, it } from 'vitest';
import { FaultProxy, type FaultRule, injectedFaults, type ProxiedRequest } from '../support/fault-proxy.js';
import {
  auditFigures,
  auditWhenConverged,
  createAuditedTables,
  FAST_LEASES,
  Fleet,
  Load,
  reliabilitySuite,
  report,
  sleep,
} from './harness.js';

const proxies: FaultProxy[] = [];
const { endpoint, client, streams } = reliabilitySuite(() => Promise.all(proxies.map((p) => p.close())));

const DATA_PLANE = new Set(['GetRecords', 'GetShardIterator', 'TransactWriteItems', 'PutItem', 'DeleteItem']);
const dataPlane = (request: ProxiedRequest) => DATA_PLANE.has(request.operation);

describe('network faults between workers and DynamoDB (fault proxy)', () => {
  it('survives latency, throttling, 5xx and dropped connections with nothing lost and nothing stale', async () => {
    const started = Date.now();
    const tables = await createAuditedTables(client);
    const proxy = await FaultProxy.start({ upstream: endpoint, seed: 42 });
    proxies.push(proxy);
    const fleet = new Fleet({ endpoint: proxy.endpoint, tables, env: FAST_LEASES });
    const load = new Load({ client, table: tables.source, items: 60, concurrency: 3, pauseMs: 15 }).start();
    const workers = [await fleet.start('net-a'), await fleet.start('net-b')];

    const phases: { name: string; ms: number; rules: FaultRule[] }[] = [
      {
        name: 'latency 20-250 ms on every request',
        ms: 5_000,
        rules: [{ action: () => ({ kind: 'delay', ms: 20 + Math.floor(Math.random() * 230) }) }],
      },
      {
        name: 'all reads and replica writes throttled',
        ms: 2_500,
        rules: [{ match: dataPlane, action: { kind: 'throttle' } }],
      },
      { name: '30% throttled', ms: 4_000, rules: [{ probability: 0.3, action: { kind: 'throttle' } }] },
      {
        name: '20% 500/503',
        ms: 4_000,
        rules: [
          { probability: 0.1, action: { kind: 'server-error', status: 500 } },
          { probability: 0.1, action: { kind: 'server-error', status: 503 } },
        ],
      },
      {
        name: 'connections dropped before and after forwarding',
        ms: 5_000,
        rules: [
          { probability: 0.08, action: { kind: 'drop-request' } },
          { probability: 0.08, action: { kind: 'drop-response' } },
        ],
      },
      {
        name: 'everything at once',
        ms: 5_000,
        rules: [
          { probability: 0.05, action: { kind: 'drop-response' } },
          { probability: 0.05, action: { kind: 'drop-request' } },
          { probability: 0.1, action: { kind: 'throttle' } },
          { probability: 0.05, action: { kind: 'server-error' } },
          { probability: 0.3, action: { kind: 'delay', ms: 100 } },
        ],
      },
    ];
    for (const phase of phases) {
      proxy.setRules(phase.rules);
      await sleep(phase.ms);
    }
    proxy.clearRules();
    // DynamoDB unreachable for longer than the lease duration: every connection reset.
    proxy.setRefusing(true);
    await sleep(3_500);
    proxy.setRefusing(false);
    await load.stop();

    const result = await auditWhenConverged({ client, streams, tables, timeoutMs: 45_000 });
    await fleet.scrapeAll();
    const exits = workers.map((w) => w.child.exitCode);
    report({
      scenario: 'network-faults',
      faults: {
        delayed: proxy.stats.delayed,
        throttled: proxy.stats.throttled,
        serverErrors: proxy.stats.serverErrors,
        droppedBeforeForward: proxy.stats.droppedBeforeForward,
        droppedAfterForward: proxy.stats.droppedAfterForward,
        connectionsRefused: proxy.stats.connectionsRefused,
      },
      ...auditFigures(result, fleet),
      durationMs: Date.now() - started,
      requestsThroughProxy: proxy.stats.requests,
      workerThrottlesSeen: fleet.total('streamfleet_throttles_total'),
      workerLeaseLosses: fleet.total('streamfleet_lease_losses_total'),
      workerProcessingErrors: fleet.total('streamfleet_processing_errors_total'),
      staleSkippedWrites: fleet.total('streamfleet_replica_writes_total{outcome="stale-skipped"}'),
      loadWrites: load.writes,
      examples: result.examples,
    });
    expect(injectedFaults(proxy.stats)).toBeGreaterThan(100);
    expect(result.examples).toEqual([]);
    expect(result.lost).toBe(0);
    expect(result.staleOverwrites).toBe(0);
    expect(result.corrupted).toBe(0);
    expect(result.replicated).toBe(result.itemsInSource);
    // The workers rode it out without restarting, and saw the throttling (retried with backoff).
    expect(exits).toEqual([null, null]);
    expect(fleet.total('streamfleet_throttles_total')).toBeGreaterThan(0);
  }, 90_000);
});
