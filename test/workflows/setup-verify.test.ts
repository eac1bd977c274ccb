/**
 * End to end on one machine: the real setup and verify state machines, run by aws-local-stepfunctions with
 * their Task states bound to the real handlers, against DynamoDB Local and the local-process cluster (real
 * workers from dist/consumer.js, scaled by the local KEDA).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localServices } from '../../core/ports.js';
import { describeTable } from '../../core/tables/tables.js';
import type { LocalCluster } from '../../local/cluster/index.js';
import { exampleAlarmEvent } from '../../local/workflows/examples.js';
import { runWorkflowLocally } from '../../local/workflows/index.js';
import { localClient } from '../support/fleet.js';
import { FAST_RUN, localControlPlane, startTestCluster, testFleet } from './local-fleet.js';

const endpoint = inject('ddbEndpoint');

const ALARM_EVENT = exampleAlarmEvent('users-replicator-replication');

describe('setup, verify, alarm reaction and teardown, locally', () => {
  let cluster: LocalCluster;
  const run = (workflow: Parameters<typeof runWorkflowLocally>[0], input: unknown) =>
    runWorkflowLocally(workflow, input, { ...FAST_RUN, controlPlane: localControlPlane(endpoint) });

  beforeAll(async () => {
    cluster = await startTestCluster(endpoint);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  let fleet: ReturnType<typeof testFleet>;

  it('setup provisions, loads and verifies a fleet; verify passes', async () => {
    fleet = testFleet(cluster.name);
    fleet.scaling = { ...fleet.scaling, minReplicaCount: 2 };
    const setup = await run('setup', { fleet, load: { batches: 3, itemsPerBatch: 40, ratePerSecond: 500 } });
    if (setup.status !== 'SUCCEEDED') {
      console.error(
        setup.error,
        setup.cause,
        JSON.stringify(cluster.snapshot(), null, 2),
        cluster.events.join('\n'),
      );
    }
    expect(setup.status).toBe('SUCCEEDED');
    const output = setup.output as {
      streamArn: string;
      irsa: { consumerRoleArn: string; kedaOperatorRestarted: boolean };
      scaling: { healthy: boolean; figures: { cluster: { readyReplicas: number } } };
      replication: {
        healthy: boolean;
        figures: {
          compared: number;
          missing: number;
          processedBy: Record<string, number>;
          sample: { source: { census: boolean } };
          lag: { boundMs: number | null; byStatus: Record<string, number> };
          readUnits: { total: number };
        };
      };
    };
    expect(output.streamArn).toMatch(/\/stream\//);
    expect(output.irsa.consumerRoleArn).toBe('arn:aws:iam::000000000000:role/users-replicator-consumer');
    expect(output.irsa.kedaOperatorRestarted).toBe(true);
    expect(output.scaling.healthy).toBe(true);
    // One shard, but minReplicaCount 2: the local KEDA scaled the Deployment from 1 to 2 real workers.
    expect(output.scaling.figures.cluster.readyReplicas).toBe(2);
    expect(output.replication.healthy).toBe(true);
    expect(output.replication.figures.compared).toBe(120);
    // A table the read budget covers is compared whole; the lag comes from the workers' lease items.
    expect(output.replication.figures.sample.source.census).toBe(true);
    expect(output.replication.figures.lag.byStatus.measured).toBeGreaterThan(0);
    expect(output.replication.figures.lag.boundMs).not.toBeNull();
    expect(output.replication.figures.readUnits.total).toBeGreaterThan(0);
    expect(
      Object.keys(output.replication.figures.processedBy).every((w) => w.startsWith('users-replicator-')),
    ).toBe(true);

    // Verify is a point-in-time check that runs on a schedule; on a loaded machine a pod may still be
    // (re)starting right after setup, so allow the next two scheduled runs to see it settled.
    let verify = await run('verify', { fleet });
    for (let attempt = 1; verify.status !== 'SUCCEEDED' && attempt < 3; attempt++) {
      console.error(`verify run ${attempt}:`, verify.error, verify.cause);
      await new Promise((r) => setTimeout(r, 5_000));
      verify = await run('verify', { fleet });
    }
    expect(verify.status).toBe('SUCCEEDED');
    expect((verify.output as { healthy: boolean }).healthy).toBe(true);
  }, 180_000);

  it('alarm reaction runs the checks and publishes a diagnosis to the (local) alerts topic', async () => {
    const before = localServices.alerts.alerts.length;
    const result = await run('alarm-reaction', { fleet, event: ALARM_EVENT });
    expect(result.status).toBe('SUCCEEDED');
    const alert = localServices.alerts.alerts[before];
    expect(alert?.subject).toBe(
      '[Streamfleet] users-replicator: users-replicator-replication alarm, checks now healthy',
    );
    expect(alert?.message).toContain('went OK → ALARM');
    expect(alert?.message).toContain('replication healthy: 120 items compared');
    expect(result.output).toMatchObject({ alarm: 'users-replicator-replication', healthy: true });
  });

  it('teardown removes the scaler, the workers and the roles, and the tables only when asked', async () => {
    const kept = await run('teardown', { fleet });
    expect(kept.status).toBe('SUCCEEDED');
    expect(cluster.snapshot().workloads).toEqual([]);
    expect(await localServices.iam.getRole('users-replicator-consumer')).toBeUndefined();
    const client = localClient(endpoint);
    expect(await describeTable(client, fleet.sourceTableName)).toBeDefined();

    const deleted = await run('teardown', { fleet, deleteTables: true });
    expect(deleted.status).toBe('SUCCEEDED');
    expect((deleted.output as { removed: { tables: { deleted: string[] } } }).removed.tables.deleted).toEqual(
      [fleet.sourceTableName, fleet.replicaTableName, fleet.applicationName],
    );
    expect(await describeTable(client, `${fleet.replicaTableName}`)).toBeUndefined();
    client.destroy();
  });
});
