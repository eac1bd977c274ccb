/**
 * Executions that cannot succeed end FAILED, with an Error naming the kind of problem and a Cause that says
 * what to do — run by the real state machines and handlers, locally.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TransientError } from '../../core/vocabulary/errors.js';
import type { LocalCluster } from '../../local/cluster/index.js';
import { type LambdaLike, runWorkflowLocally } from '../../local/workflows/index.js';
import { FAST_RUN, localControlPlane, startTestCluster, testFleet } from './local-fleet.js';

const endpoint = inject('ddbEndpoint');

describe('failure paths', () => {
  let cluster: LocalCluster;
  let withoutKeda: LocalCluster;
  const run = (workflow: Parameters<typeof runWorkflowLocally>[0], input: unknown, extra = {}) =>
    runWorkflowLocally(workflow, input, {
      ...FAST_RUN,
      controlPlane: localControlPlane(endpoint),
      logLevel: 'SILENT',
      ...extra,
    });

  beforeAll(async () => {
    [cluster, withoutKeda] = await Promise.all([
      startTestCluster(endpoint),
      startTestCluster(endpoint, { keda: false }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([cluster?.stop(), withoutKeda?.stop()]);
  });

  it('an unknown table with create disabled stops at EnsureTables and says how to fix it', async () => {
    const fleet = testFleet(cluster.name, { tables: { create: false } });
    const result = await run('setup', { fleet });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PreconditionError');
    expect(result.cause).toContain(
      `ensure-tables: The source table ${fleet.sourceTableName} does not exist.`,
    );
    expect(result.cause).toContain('What to do:');
    expect(result.cause).toContain('"create": true');
    expect(result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state)).not.toContain(
      'WireIrsa',
    );
  });

  it('a wrong cluster stops at WireIrsa and names the clusters that run', async () => {
    const fleet = testFleet('no-such-cluster');
    const result = await run('setup', { fleet });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PreconditionError');
    expect(result.cause).toContain('wire-irsa: No local cluster named "no-such-cluster" is running');
    expect(result.cause).toContain(`What to do: set fleet.clusterName to one of`);
    expect(result.cause).toContain(cluster.name);
  });

  it('a cluster without KEDA stops before anything is deployed and says how to install it', async () => {
    const fleet = testFleet(withoutKeda.name);
    const result = await run('setup', { fleet });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PreconditionError');
    expect(result.cause).toContain(`KEDA is not installed on cluster ${withoutKeda.name}`);
    expect(result.cause).toContain('helm install keda kedacore/keda');
    expect(withoutKeda.snapshot().workloads).toEqual([]);

    // The scheduled check of that half-built fleet fails too, listing every reason.
    const verify = await run('verify', { fleet });
    expect(verify.status).toBe('FAILED');
    expect(verify.error).toBe('FleetUnhealthy');
    expect(verify.cause).toContain('Deployment streamfleet/users-replicator does not exist');
    expect(verify.cause).toContain('ScaledObject streamfleet/users-replicator does not exist');
    expect(verify.cause).toContain('lease table');
  });

  it('bad input fails with the field named', async () => {
    const fleet = testFleet(cluster.name, { name: 'Not_A_Label', scaling: { shardCount: 0 } });
    const result = await run('setup', { fleet });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInputError');
    expect(result.cause).toContain('fleet.name: expected a DNS-1123 label');
  });

  it('retries a transient error by its name, then goes on', async () => {
    let calls = 0;
    const flaky: LambdaLike = async (event) => {
      calls++;
      if (calls === 1) throw new TransientError('ThrottlingException: slow down');
      return { step: (event as { step: string }).step, deleted: [] };
    };
    const fleet = testFleet(cluster.name);
    const result = await run('teardown', { fleet }, { handlers: { teardown: flaky } });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.history.filter((e) => e.type === 'StateRetried').map((e) => e.state)).toEqual([
      'RemoveScaler',
    ]);
    expect(calls).toBe(4);
  });
});
