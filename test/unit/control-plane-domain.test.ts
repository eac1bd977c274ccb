/** Pure control-plane domain code: input parsing, the check verdicts, metrics, alarm diagnosis, load items. */
import { describe, expect, it } from 'vitest';
import {
  PROCESSED_BY_ATTRIBUTE,
  SEQUENCE_ATTRIBUTE,
} from '../../consumer/replication/replication-processor.js';
import { fleetDeadLetterTable, parseFleet } from '../../core/fleet/fleet.js';
import type { LeaseView, ShardView } from '../../core/fleet/fleet-state.js';
import { normalizeError } from '../../core/handler.js';
import { LocalIam } from '../../core/iam/iam.js';
import { parseTeardownInput } from '../../core/inputs.js';
import type { ScaleStatus } from '../../core/kubernetes/cluster.js';
import { consumerDeployment } from '../../core/kubernetes/consumer-deployment.js';
import { scalingConfig } from '../../core/kubernetes/keda.js';
import { loadItem, parseLoad } from '../../core/tables/load.js';
import { diagnose, parseAlarmEvent } from '../../core/verification/alarms.js';
import { judgeScaling, REPLICA_BOOKKEEPING, scalingInForce } from '../../core/verification/checks.js';
import { fleetMetricData, LocalMetricsSink } from '../../core/verification/fleet-metrics.js';
import {
  Mismatch,
  mismatchOf,
  RecheckOutcome,
  recheckOutcome,
  suspect,
} from '../../core/verification/item-compare.js';
import { InvalidInputError, PreconditionError, TransientError } from '../../core/vocabulary/errors.js';

const base = {
  name: 'users-replicator',
  clusterName: 'demo',
  sourceTableName: 'users',
  replicaTableName: 'users_replica',
};

function invalidField(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).field;
  }
  throw new Error('expected an InvalidInputError');
}

describe('parseFleet', () => {
  it('fills the defaults', () => {
    const fleet = parseFleet(base);
    expect(fleet).toMatchObject({
      namespace: 'streamfleet',
      applicationName: 'users-replicator',
      tables: { create: false },
      scaling: { mode: 'classic' },
      keda: {
        namespace: 'keda',
        serviceAccountName: 'keda-operator',
        deploymentName: 'keda-operator',
        operatorRoleName: 'keda-operator-demo',
      },
      roles: {
        consumerRoleName: 'users-replicator-consumer',
        scalerRoleName: 'users-replicator-keda-scaler',
      },
      checks: {
        leaseSampleMs: 5000,
        maxLagMs: 60000,
        replicationMode: 'sample',
        readBudget: 250,
        recheckAfterMs: 5000,
        maxSampleSeconds: 60,
      },
      // The worker's default SHUTDOWN_TIMEOUT_MS (20 s) plus the 10 s margin.
      terminationGracePeriodSeconds: 30,
    });
  });

  it('names three distinct roles, says what replaced kedaOperatorRoleName, and needs a dead-letter table to use one', () => {
    expect(
      invalidField(() =>
        parseFleet({ ...base, roles: { kedaOperatorRoleName: 'users-replicator-keda-operator' } }),
      ),
    ).toBe('fleet.roles.kedaOperatorRoleName');
    expect(
      invalidField(() => parseFleet({ ...base, roles: { scalerRoleName: 'users-replicator-consumer' } })),
    ).toBe('fleet.roles');
    expect(invalidField(() => parseFleet({ ...base, clusterName: 'c'.repeat(60) }))).toBe(
      'fleet.keda.operatorRoleName',
    );
    expect(
      parseFleet({ ...base, clusterName: 'c'.repeat(60), keda: { operatorRoleName: 'keda' } }).keda
        .operatorRoleName,
    ).toBe('keda');
    expect(
      invalidField(() => parseFleet({ ...base, workerEnv: { POISON_RECORD_POLICY: 'dead-letter' } })),
    ).toBe('fleet.workerEnv.DEAD_LETTER_TABLE_NAME');
    const withDeadLetters = parseFleet({
      ...base,
      workerEnv: { POISON_RECORD_POLICY: 'dead-letter', DEAD_LETTER_TABLE_NAME: 'users_dlq' },
    });
    expect(fleetDeadLetterTable(withDeadLetters)).toBe('users_dlq');
    expect(
      fleetDeadLetterTable(parseFleet({ ...base, workerEnv: { DEAD_LETTER_TABLE_NAME: 'users_dlq' } })),
    ).toBe(undefined);
  });

  it('derives the grace period from the workers’ SHUTDOWN_TIMEOUT_MS and refuses one it would exceed', () => {
    expect(
      parseFleet({ ...base, workerEnv: { SHUTDOWN_TIMEOUT_MS: '50000' } }).terminationGracePeriodSeconds,
    ).toBe(60);
    expect(parseFleet({ ...base, terminationGracePeriodSeconds: 90 }).terminationGracePeriodSeconds).toBe(90);
    const input = { ...base, workerEnv: { SHUTDOWN_TIMEOUT_MS: '60000' }, terminationGracePeriodSeconds: 45 };
    expect(invalidField(() => parseFleet(input))).toBe('fleet.workerEnv.SHUTDOWN_TIMEOUT_MS');
    const error = (() => {
      try {
        parseFleet(input);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toContain('at least 70');
  });

  it.each([
    [{ ...base, name: 'Users' }, 'fleet.name'],
    [{ ...base, clusterName: '' }, 'fleet.clusterName'],
    [{ ...base, replicaTableName: 'users' }, 'fleet.replicaTableName'],
    [{ ...base, applicationName: 'users' }, 'fleet.applicationName'],
    [{ ...base, tables: { create: 'yes' } }, 'fleet.tables.create'],
    [{ ...base, tables: { partitionKey: { name: 'id', type: 'X' } } }, 'fleet.tables.partitionKey.type'],
    [{ ...base, scaling: { mode: 'fast' } }, 'fleet.scaling.mode'],
    [{ ...base, scaling: { shardCount: 0 } }, 'fleet.scaling.shardCount'],
    [{ ...base, scaling: { minReplicaCount: 5, maxReplicaCount: 2 } }, 'fleet.scaling.maxReplicaCount'],
    [{ ...base, workerEnv: { LEASE_DURATION_MS: 3000 } }, 'fleet.workerEnv.LEASE_DURATION_MS'],
    [{ ...base, workerEnv: { SHUTDOWN_TIMEOUT_MS: '20s' } }, 'fleet.workerEnv.SHUTDOWN_TIMEOUT_MS'],
    [{ ...base, terminationGracePeriodSeconds: 'long' }, 'fleet.terminationGracePeriodSeconds'],
    [{ ...base, name: 'a'.repeat(60) }, 'fleet.roles.consumerRoleName'],
    [{ ...base, checks: { replicationMode: 'some' } }, 'fleet.checks.replicationMode'],
    // Never a full comparison on the schedule: that is the compare workflow's.
    [{ ...base, checks: { replicationMode: 'full' } }, 'fleet.checks.replicationMode'],
    [{ ...base, checks: { sampleSize: 200 } }, 'fleet.checks.sampleSize'],
    [{ ...base, checks: { readBudget: 5 } }, 'fleet.checks.readBudget'],
    [undefined, 'fleet'],
  ])('names the field of a bad value (%#)', (input, field) => {
    expect(invalidField(() => parseFleet(input))).toBe(field);
  });

  it('teardown deletes tables only for a literal true', () => {
    expect(parseTeardownInput({ fleet: base, step: 'tables' }).deleteTables).toBe(false);
    expect(invalidField(() => parseTeardownInput({ fleet: base, step: 'tables', deleteTables: 'yes' }))).toBe(
      'deleteTables',
    );
    expect(invalidField(() => parseTeardownInput({ fleet: base, step: 'everything' }))).toBe('step');
  });
});

describe('judgeScaling', () => {
  const fleet = parseFleet({ ...base, scaling: { shardCount: 2 }, checks: { leaseSampleMs: 1000 } });
  const shards: ShardView[] = [
    { shardId: 's1', parentShardId: undefined, closed: true },
    { shardId: 's2', parentShardId: 's1', closed: false },
    { shardId: 's3', parentShardId: undefined, closed: false },
    { shardId: 's4', parentShardId: undefined, closed: false },
  ];
  const lease = (
    leaseKey: string,
    leaseOwner: string | undefined,
    leaseCounter = 1,
    checkpoint = '100',
  ): LeaseView => ({
    leaseKey,
    leaseOwner,
    leaseCounter,
    checkpoint,
  });
  const healthyLeases = [
    lease('s1', 'w1', 5, 'SHARD_END'),
    lease('s2', 'w1'),
    lease('s3', 'w2'),
    lease('s4', 'w2'),
  ];
  const status = (desired: number, ready: string[], extra: Partial<ScaleStatus> = {}): ScaleStatus => ({
    deployment: { desiredReplicas: desired, readyReplicas: ready.length },
    scaledObject: { ready: true, active: true, hpaDesiredReplicas: desired },
    pods: ready.map((name) => ({ name, ready: true, restarts: 0 })),
    ...extra,
  });

  it('is healthy when every unfinished shard is leased by a ready worker and the counts agree', () => {
    const later = healthyLeases.map((l) => ({ ...l, leaseCounter: l.leaseCounter + 1 }));
    const verdict = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards,
      leases: healthyLeases,
      laterLeases: later,
      status: status(2, ['w1', 'w2']),
    });
    expect(verdict.reasons).toEqual([]);
    expect(verdict.healthy).toBe(true);
    expect(verdict.figures).toMatchObject({
      shards: { total: 4, open: 3, closed: 1, closedFinished: 1, unfinished: 3 },
      keda: { metric: 4, steadyStateReplicas: 2 },
      needed: { replicas: 2 },
      cluster: { desiredReplicas: 2, readyReplicas: 2 },
      leases: { total: 4, unfinished: 3, unowned: 0, expired: 0, spread: 1, byOwner: { w1: 1, w2: 2 } },
    });
  });

  it('gives a new lease the grace (fleet.checks.leaseSampleMs): leased by nobody in the later read only is awaited, in both a failure', () => {
    // s5 rolled over just before the first read: no lease then; created, and not yet taken, at the second.
    const grown = [...shards, { shardId: 's5', parentShardId: 's4', closed: false }];
    const renewed = healthyLeases.map((l) => ({ ...l, leaseCounter: l.leaseCounter + 1 }));
    const fresh = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards: grown,
      leases: healthyLeases,
      laterLeases: [...renewed, lease('s5', undefined)],
      status: status(2, ['w1', 'w2']),
    });
    expect(fresh.reasons).toEqual([]);
    expect(fresh.figures.leases).toMatchObject({ unowned: 0, awaitingOwner: 1 });
    // Listed at the first read and still without a lease a grace later: shard sync has not seen it.
    const unleased = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards: grown,
      leases: healthyLeases,
      laterLeases: renewed,
      status: status(2, ['w1', 'w2']),
    });
    expect(unleased.reasons).toEqual([
      expect.stringContaining('1 open shard(s) have no lease after 1000 ms (e.g. s5)'),
    ]);
    // Leased by nobody in both reads, a grace apart: no worker takes it.
    const stuck = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards: grown,
      leases: [...healthyLeases, lease('s5', undefined)],
      laterLeases: [...renewed, lease('s5', undefined)],
      status: status(2, ['w1', 'w2']),
    });
    expect(stuck.healthy).toBe(false);
    expect(stuck.figures.leases).toMatchObject({ unowned: 1, awaitingOwner: 0 });
    expect(stuck.reasons.join(' ')).toContain('s5');
    // One read alone cannot tell: everything it sees counts.
    const once = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards: grown,
      leases: healthyLeases,
      status: status(2, ['w1', 'w2']),
    });
    expect(once.healthy).toBe(false);
  });

  it('reports each problem with a reason', () => {
    const leases = [
      lease('s1', 'w1', 5, '90'),
      lease('s2', undefined),
      lease('s3', 'gone'),
      lease('s4', 'w1'),
    ];
    const later = leases.map((l) => (l.leaseKey === 's4' ? l : { ...l, leaseCounter: l.leaseCounter + 1 }));
    const verdict = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards,
      leases,
      laterLeases: later,
      status: status(1, ['w1', 'w2', 'w3'], {
        scaledObject: { ready: false, active: false, message: 'AccessDenied' },
      }),
    });
    expect(verdict.healthy).toBe(false);
    const text = verdict.reasons.join('\n');
    expect(text).toContain(
      'KEDA reports the ScaledObject streamfleet/users-replicator not ready (AccessDenied)',
    );
    expect(text).toContain('3 of 1 replicas are ready');
    expect(text).toContain('The cluster runs 1 replicas but the 4 unfinished shards need 2');
    expect(text).toContain('1 unfinished shard(s) are leased by nobody for 1000 ms or more (e.g. s2)');
    expect(text).toContain('1 unfinished leases are held by workers that are not running and ready (gone)');
    expect(text).toContain('1 leases were not renewed within 1000 ms (e.g. s4 held by w1)');
    expect(verdict.summary.startsWith('scaling unhealthy: ')).toBe(true);
  });

  it('judges by the live ScaledObject’s maxReplicaCount when it was lowered after the fleet’s input', () => {
    // Three unfinished shards need 2 pods at shardCount 2, but the ScaledObject now says at most 1.
    const leases = [
      lease('s1', 'w1', 5, 'SHARD_END'),
      lease('s2', 'w1'),
      lease('s3', 'w1'),
      lease('s4', 'w1'),
    ];
    const lowered = status(1, ['w1'], {
      scaledObject: { ready: true, active: true, hpaDesiredReplicas: 1, maxReplicaCount: 1 },
    });
    const verdict = judgeScaling({ fleet, streamArn: 'arn', shards, leases, status: lowered });
    expect(verdict.reasons).toEqual([]);
    expect(verdict.figures.needed.replicas).toBe(1);
    expect(verdict.figures.keda.arithmetic).toBe('4 shards → ceil(4/2) = 2, capped at 1');
    // Without the live value, the fleet's own maxReplicaCount (100) applies and 1 pod is too few.
    const stale = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards,
      leases,
      status: status(1, ['w1']),
    });
    expect(stale.reasons.join('\n')).toContain(
      'The cluster runs 1 replicas but the 3 unfinished shards need 2',
    );
    expect(scalingInForce(scalingConfig({ minReplicaCount: 2 }), lowered).maxReplicaCount).toBe(100);
  });

  it('says what is missing when nothing is deployed', () => {
    const verdict = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards,
      leases: undefined,
      status: { deployment: undefined, scaledObject: undefined, pods: [] },
    });
    expect(verdict.reasons).toEqual([
      'The Deployment streamfleet/users-replicator does not exist: run the setup workflow (DeployConsumer).',
      'The ScaledObject streamfleet/users-replicator does not exist: run the setup workflow (InstallScaler).',
      'The lease table users-replicator does not exist yet: no worker has started.',
    ]);
  });

  it('flags unbalanced leases', () => {
    const leases = [lease('s2', 'w1'), lease('s3', 'w1'), lease('s4', 'w1')];
    const verdict = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards,
      leases,
      status: status(2, ['w1', 'w2']),
    });
    expect(verdict.reasons).toEqual([
      expect.stringContaining('Leases are unbalanced across workers (w1: 3, w2: 0)'),
    ]);
  });
});

describe('comparing a source item with its replica', () => {
  const item = (email: string, city: string) => ({ email: { S: email }, city: { S: city } });
  const replica = (email: string, city: string, by: string) => ({
    ...item(email, city),
    [REPLICA_BOOKKEEPING.processedBy]: { S: by },
    [REPLICA_BOOKKEEPING.sequence]: { N: '42' },
  });

  it('tells missing, differing and extra pairs apart, ignoring the bookkeeping attributes', () => {
    expect(mismatchOf(item('a', 'Lisbon'), replica('a', 'Lisbon', 'w1'))).toBeUndefined();
    expect(mismatchOf(undefined, undefined)).toBeUndefined();
    expect(mismatchOf(item('b', 'Porto'), replica('b', 'Berlin', 'w1'))).toBe(Mismatch.Differing);
    expect(mismatchOf(item('c', 'Madrid'), undefined)).toBe(Mismatch.Missing);
    expect(mismatchOf(undefined, replica('z', 'Tokyo', 'w2'))).toBe(Mismatch.Extra);
  });

  it('counts a suspect only when the re-read still disagrees and the replica did not move', () => {
    const key = { email: { S: 'b' } };
    const first = suspect(key, Mismatch.Differing, item('b', 'Porto'), replica('b', 'Lima', 'w1'));
    // The fleet applied the change meanwhile.
    expect(recheckOutcome(first, item('b', 'Porto'), replica('b', 'Porto', 'w1'))).toBe(
      RecheckOutcome.Settled,
    );
    // The replica moved, but the source moved again: a change in flight.
    expect(recheckOutcome(first, item('b', 'Oslo'), replica('b', 'Porto', 'w2'))).toBe(
      RecheckOutcome.InFlight,
    );
    // Nothing moved on the replica: it is wrong.
    expect(recheckOutcome(first, item('b', 'Porto'), replica('b', 'Lima', 'w1'))).toBe(Mismatch.Differing);
    // A replica item deleted meanwhile moved too.
    expect(recheckOutcome(first, item('b', 'Porto'), undefined)).toBe(RecheckOutcome.InFlight);
    const missing = suspect(key, Mismatch.Missing, item('b', 'Porto'), undefined);
    expect(recheckOutcome(missing, item('b', 'Porto'), undefined)).toBe(Mismatch.Missing);
    expect(recheckOutcome(missing, undefined, undefined)).toBe(RecheckOutcome.Settled);
  });

  it('names the same bookkeeping attributes as the worker writes', () => {
    expect(REPLICA_BOOKKEEPING).toEqual({
      processedBy: PROCESSED_BY_ATTRIBUTE,
      sequence: SEQUENCE_ATTRIBUTE,
    });
  });
});

describe('fleet metrics', () => {
  it('publishes UnfinishedShards for the unfinished-shards mode and the health flags for alarms', async () => {
    const fleet = parseFleet(base);
    const scaling = judgeScaling({
      fleet,
      streamArn: 'arn',
      shards: [{ shardId: 's1', parentShardId: undefined, closed: false }],
      leases: [{ leaseKey: 's1', leaseOwner: 'w1', leaseCounter: 1, checkpoint: '1' }],
      status: {
        deployment: { desiredReplicas: 1, readyReplicas: 1 },
        scaledObject: { ready: true, active: true },
        pods: [{ name: 'w1', ready: true, restarts: 0 }],
      },
    });
    const data = fleetMetricData({ scaling });
    expect(data).toContainEqual({ name: 'UnfinishedShards', value: 1, unit: 'Count' });
    expect(data).toContainEqual({ name: 'ScalingHealthy', value: 1, unit: 'None' });
    const sink = new LocalMetricsSink();
    await sink.put('Streamfleet', { ApplicationName: 'app' }, data, new Date(1_000));
    expect(sink.latest('Streamfleet', 'UnfinishedShards', { ApplicationName: 'app' }, { nowMs: 2_000 })).toBe(
      1,
    );
    expect(
      sink.latest(
        'Streamfleet',
        'UnfinishedShards',
        { ApplicationName: 'app' },
        { nowMs: 400_000, withinMs: 300_000 },
      ),
    ).toBeUndefined();
    expect(sink.latest('Streamfleet', 'UnfinishedShards', { ApplicationName: 'other' })).toBeUndefined();
  });
});

describe('alarms', () => {
  const event = {
    'detail-type': 'CloudWatch Alarm State Change',
    time: '2026-01-01T00:00:00Z',
    resources: ['arn:aws:cloudwatch:us-east-1:123456789012:alarm:lag'],
    detail: {
      alarmName: 'lag',
      state: { value: 'ALARM', reason: 'Threshold Crossed' },
      previousState: { value: 'OK' },
    },
  };

  it('parses the EventBridge event and rejects anything else by field', () => {
    expect(parseAlarmEvent(event)).toMatchObject({
      alarmName: 'lag',
      state: 'ALARM',
      previousState: 'OK',
      reason: 'Threshold Crossed',
    });
    expect(
      invalidField(() =>
        parseAlarmEvent({ ...event, 'detail-type': 'EC2 Instance State-change Notification' }),
      ),
    ).toBe('event.detail-type');
  });

  it('diagnoses: what fired, what the checks see, what to do', () => {
    const fleet = parseFleet(base);
    const unhealthy = {
      check: 'replication' as const,
      healthy: false,
      reasons: ['3 of 10 source items are missing'],
      summary: 'replication unhealthy: 3 of 10 source items are missing',
      figures: {} as never,
      checkedAt: '',
    };
    const alert = diagnose({ fleet, alarm: parseAlarmEvent(event), replication: unhealthy });
    expect(alert.healthy).toBe(false);
    expect(alert.subject).toBe('[Streamfleet] users-replicator: lag alarm confirmed');
    expect(alert.message).toContain('replication unhealthy: 3 of 10 source items are missing');
    expect(alert.message).toContain(
      'kubectl -n streamfleet logs -l app.kubernetes.io/instance=users-replicator',
    );
  });
});

describe('load', () => {
  it('bounds a batch by size and by time at its rate', () => {
    expect(parseLoad({ batches: 2 })).toEqual({
      batches: 2,
      itemsPerBatch: 100,
      ratePerSecond: 100,
      prefix: 'user',
    });
    expect(invalidField(() => parseLoad({ itemsPerBatch: 10 }))).toBe('load.batches');
    expect(invalidField(() => parseLoad({ batches: 0 }))).toBe('load.batches');
    expect(invalidField(() => parseLoad({ batches: 1, itemsPerBatch: 5001 }))).toBe('load.itemsPerBatch');
    expect(invalidField(() => parseLoad({ batches: 1, itemsPerBatch: 5000, ratePerSecond: 1 }))).toBe(
      'load.ratePerSecond',
    );
  });

  it('makes the recipe items, deterministic per index', () => {
    const item = loadItem(7, 'user', { partitionKey: { name: 'email', type: 'S' } });
    expect(item).toEqual({
      email: { S: 'user-7@example.com' },
      name: { S: 'Donald 7' },
      city: { S: 'Austin' },
    });
    expect(loadItem(7, 'user', { partitionKey: { name: 'id', type: 'N' } }).id).toEqual({ N: '7' });
  });
});

describe('errors at the handler edge', () => {
  it('keeps Streamfleet errors, turns retriable AWS errors into TransientError', () => {
    const precondition = new PreconditionError('KEDA is missing.', 'install it.');
    expect(normalizeError(precondition)).toBe(precondition);
    expect(precondition.message).toBe('KEDA is missing. What to do: install it.');
    const throttled = normalizeError(
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
    );
    expect(throttled).toBeInstanceOf(TransientError);
    expect(throttled.name).toBe('TransientError');
    expect(throttled.message).toBe('ThrottlingException: Rate exceeded');
    const other = new Error('boom');
    expect(normalizeError(other)).toBe(other);
  });
});

describe('the local IAM', () => {
  it('keeps roles like IAM does and refuses to touch roles it does not manage', async () => {
    const iam = new LocalIam();
    const doc = { Version: '2012-10-17' as const, Statement: [] };
    const role = await iam.ensureRole({
      roleName: 'r',
      description: '',
      trustPolicy: doc,
      policyName: 'p',
      policy: doc,
    });
    expect(role).toEqual({ arn: 'arn:aws:iam::000000000000:role/r', created: true, trustUpdated: false });
    expect(
      (
        await iam.ensureRole({
          roleName: 'r',
          description: '',
          trustPolicy: doc,
          policyName: 'p',
          policy: doc,
        })
      ).created,
    ).toBe(false);
    iam.roles.set('theirs', { arn: 'x', trustPolicy: doc, policies: {}, tags: {} });
    await expect(iam.deleteRole('theirs')).rejects.toBeInstanceOf(PreconditionError);
    await expect(iam.deleteRolePolicy('theirs', 'p')).resolves.toBe(false);
    expect(await iam.deleteRole('r')).toBe(true);
    expect(await iam.deleteRole('r')).toBe(false);
  });

  it('keeps one inline policy per name, deletes one alone, and tells listeners of every change', async () => {
    const iam = new LocalIam();
    const doc = { Version: '2012-10-17' as const, Statement: [] };
    const changes: [string, string[] | undefined][] = [];
    const stop = iam.onChange((name, role) => changes.push([name, role && Object.keys(role.policies)]));
    const spec = { roleName: 'op', description: '', trustPolicy: doc, policy: doc };
    await iam.ensureRole({ ...spec, policyName: 'fleet-a' });
    await iam.ensureRole({ ...spec, policyName: 'fleet-b' });
    expect(await iam.deleteRolePolicy('op', 'fleet-a')).toBe(true);
    expect(await iam.deleteRolePolicy('op', 'fleet-a')).toBe(false);
    await iam.deleteRole('op');
    stop();
    await iam.ensureRole({ ...spec, policyName: 'fleet-c' });
    expect(changes).toEqual([
      ['op', ['fleet-a']],
      ['op', ['fleet-a', 'fleet-b']],
      ['op', ['fleet-b']],
      ['op', undefined],
    ]);
  });
});

describe('manifests for DynamoDB Local', () => {
  it('accept a ddblocal stream with any AWS region for the workers (DynamoDB Local ignores it)', () => {
    const deployment = consumerDeployment({
      namespace: 'streamfleet',
      name: 'users-replicator',
      serviceAccountName: 'users-replicator',
      image: 'streamfleet:local',
      sourceTableStreamArn:
        'arn:aws:dynamodb:ddblocal:000000000000:table/users/stream/2026-01-01T00:00:00.000',
      targetTableName: 'users_replica',
      applicationName: 'users-replicator',
      awsRegion: 'us-east-1',
    });
    expect(JSON.stringify(deployment.toJSON())).toContain('"name":"AWS_REGION","value":"us-east-1"');
  });
});
