/**
 * Wrong workflow inputs (the reliability issue's bad-input list): missing fields, wrong types, names that
 * break DynamoDB or Kubernetes naming rules. Each execution fails at once with the field named, and nothing
 * is left half-made: no table was created.
 */
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalCluster } from '../../local/cluster/index.js';
import { runWorkflowLocally } from '../../local/workflows/index.js';
import { localClient } from '../support/fleet.js';
import { FAST_RUN, localControlPlane, startTestCluster, testFleet } from './local-fleet.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);

describe('wrong workflow inputs', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await startTestCluster(endpoint);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const cases: [string, (fleet: Record<string, unknown>) => unknown, RegExp][] = [
    [
      'a missing source table name',
      (fleet) => ({ fleet: { ...fleet, sourceTableName: undefined } }),
      /fleet\.sourceTableName/,
    ],
    [
      'a table name DynamoDB refuses',
      (fleet) => ({ fleet: { ...fleet, replicaTableName: 'users replica!' } }),
      /fleet\.replicaTableName/,
    ],
    [
      'a name Kubernetes refuses',
      (fleet) => ({ fleet: { ...fleet, name: 'Users_Replicator' } }),
      /fleet\.name/,
    ],
    [
      'a namespace Kubernetes refuses',
      (fleet) => ({ fleet: { ...fleet, namespace: '-bad-' } }),
      /fleet\.namespace/,
    ],
    [
      'a number where a string belongs',
      (fleet) => ({ fleet: { ...fleet, clusterName: 42 } }),
      /fleet\.clusterName/,
    ],
    ['no fleet at all', () => ({ load: { batches: 2 } }), /fleet: expected/],
    [
      'a negative number of load batches',
      (fleet) => ({ fleet, load: { batches: -1, itemsPerBatch: 10 } }),
      /load\.batches/,
    ],
    [
      'a load without its number of batches',
      (fleet) => ({ fleet, load: { itemsPerBatch: 10 } }),
      /load\.batches/,
    ],
    [
      'a shard count that is not a positive integer',
      (fleet) => ({ fleet: { ...fleet, scaling: { shardCount: 'two' } } }),
      /fleet\.scaling\.shardCount/,
    ],
  ];

  it.each(cases)(
    '%s: a failed execution that names the field, and no table made',
    async (_, makeInput, field) => {
      const fleet = testFleet(cluster.name) as Record<string, unknown>;
      const result = await runWorkflowLocally('setup', makeInput(fleet), {
        ...FAST_RUN,
        controlPlane: localControlPlane(endpoint),
        logLevel: 'SILENT',
      });
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('InvalidInputError');
      expect(result.cause).toMatch(field);
      const { TableNames } = await client.send(new ListTablesCommand({}));
      for (const name of [fleet.sourceTableName, fleet.replicaTableName, fleet.applicationName]) {
        expect(TableNames ?? []).not.toContain(name);
      }
    },
  );

  it.each(['verify', 'teardown'] as const)(
    '%s without a fleet: a failed execution that says what to start it with',
    async (workflow) => {
      const result = await runWorkflowLocally(
        workflow,
        { deleteTables: false },
        {
          ...FAST_RUN,
          controlPlane: localControlPlane(endpoint),
          logLevel: 'SILENT',
        },
      );
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('InvalidInputError');
      expect(result.cause).toMatch(/^fleet: missing\. What to do: start the execution with input \{"fleet"/);
    },
  );
});
