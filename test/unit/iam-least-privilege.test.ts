/**
 * The IRSA policies as properties, evaluated as IAM evaluates them (core/iam/iam-evaluation.ts), never compared
 * with a copy of themselves:
 * - each principal may do every call its code makes (core/iam-needs.ts), on the exact ARNs;
 * - over every DynamoDB action and every resource of the fleet (and its neighbours), it may do nothing else;
 * - `"Resource": "*"` only for an action without resource-level permissions;
 * - the needs are the code's: every command the worker's code sends is a need, and every need is sent.
 * The functions' roles (from the CDK app) are held to the same properties in test/infra/iam.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, PoisonPolicy } from '../../consumer/config.js';
import { LEASE_OWNER_INDEX } from '../../consumer/leases/lease-refresher.js';
import {
  DEAD_LETTER_SETTINGS,
  type FleetSpec,
  fleetDeadLetterTable,
  parseFleet,
} from '../../core/fleet/fleet.js';
import { Decision, evaluatePolicies, type NamedPolicy, trustAllows } from '../../core/iam/iam-evaluation.js';
import {
  assumedByRoleTrustPolicy,
  consumerPolicy,
  kedaOperatorAssumePolicy,
  kedaScalerPolicy,
  LEASE_OWNER_INDEX_NAME,
  type PolicyDocument,
} from '../../core/iam/iam-policies.js';
import {
  COMPARE_NEEDS,
  CONSUMER_NEEDS,
  CONTROL_PLANE_NEEDS,
  KEDA_OPERATOR_NEEDS,
  KEDA_SCALER_NEEDS,
} from '../../core/iam-needs.js';
import { ScalingMode } from '../../core/kubernetes/keda.js';
import {
  allowed,
  expectExactlyTheNeeds as expectExactly,
  expectStarOnlyWithoutResourceLevel,
  type Principal,
  resourceUniverse,
  tableArnIn,
} from '../support/iam-properties.js';

const WHERE = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' } as const;
const STREAM_LABEL = '2024-05-01T12:00:00.000';
const arn = (name: string) => tableArnIn(WHERE, name);

function fleetOf(name: string, workerEnv: Record<string, string> = {}): FleetSpec {
  return parseFleet({
    name,
    clusterName: 'demo',
    sourceTableName: `${name}-users`,
    replicaTableName: `${name}-users_replica`,
    workerEnv,
  });
}

const users = fleetOf('users', {
  [DEAD_LETTER_SETTINGS.policyVariable]: DEAD_LETTER_SETTINGS.policy,
  [DEAD_LETTER_SETTINGS.tableVariable]: 'users-dead_letters',
});
const orders = fleetOf('orders');
const streamOf = (fleet: FleetSpec) => `${arn(fleet.sourceTableName)}/stream/${STREAM_LABEL}`;
const named = (document: PolicyDocument): NamedPolicy[] => [{ name: 'policy', document }];
const expectExactlyTheNeeds = (p: Principal) =>
  expectExactly(p, resourceUniverse(WHERE, [users, orders], ['users-dead_letters']));

function consumer(fleet: FleetSpec): Principal {
  const deadLetterTableName = fleetDeadLetterTable(fleet);
  const policy = consumerPolicy({
    streamArn: streamOf(fleet),
    leaseTableName: fleet.applicationName,
    targetTableName: fleet.replicaTableName,
    ...(deadLetterTableName ? { deadLetterTableName } : {}),
  });
  return {
    policies: named(policy),
    needs: CONSUMER_NEEDS.filter((n) => deadLetterTableName || n.on !== 'dead-letter table'),
    where: { ...WHERE, streamArn: streamOf(fleet), ...(deadLetterTableName ? { deadLetterTableName } : {}) },
    fleet,
  };
}

describe('the consumer’s role', () => {
  it('may make every call of the worker, on the exact ARNs, and nothing else — with a dead-letter table', async () => {
    await expectExactlyTheNeeds(consumer(users));
  });

  it('… and without one, nothing on a dead-letter table', async () => {
    const p = consumer(orders);
    await expectExactlyTheNeeds(p);
    expect(await allowed(p, 'dynamodb:PutItem', arn('users-dead_letters'))).toBe(false);
  });

  it('authorises BatchGetItem on the lease table as its own action (not as GetItem)', async () => {
    const p = consumer(users);
    expect(await allowed(p, 'dynamodb:BatchGetItem', arn(users.applicationName))).toBe(true);
    expect(await allowed(p, 'dynamodb:BatchGetItem', arn(`${users.replicaTableName}`))).toBe(false);
  });

  it('fences in transactions with the item actions IAM checks per item, and calls no CloudWatch', async () => {
    const p = consumer(users);
    for (const action of ['dynamodb:PutItem', 'dynamodb:DeleteItem'])
      expect(await allowed(p, action, arn(`${users.replicaTableName}`))).toBe(true);
    // The fence is the checkpoint's Update in every transaction: no bare ConditionCheck is ever sent.
    expect(await allowed(p, 'dynamodb:UpdateItem', arn(users.applicationName))).toBe(true);
    expect(await allowed(p, 'dynamodb:ConditionCheckItem', arn(users.applicationName))).toBe(false);
    expect(await allowed(p, 'cloudwatch:PutMetricData', '*')).toBe(false);
  });

  it('puts nothing on "*"', () => {
    const policy = consumerPolicy({
      streamArn: streamOf(users),
      leaseTableName: users.applicationName,
      targetTableName: users.replicaTableName,
    });
    expect(policy.Statement.flatMap((st) => st.Resource ?? []).filter((r) => r.includes('*'))).toEqual([]);
  });

  it('needs what the worker’s code sends: every command the worker’s code sends is a need, and every need is sent', () => {
    // The worker's code is every file consumer/main.ts reaches through relative imports (consumer/ and the
    // parts of core/ it uses), as the bundle is built.
    const reached = new Set<string>();
    const visit = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)\.js'/g))
        visit(resolve(dirname(file), `${spec}.ts`));
    };
    visit(resolve(import.meta.dirname, '../../consumer/main.ts'));
    const sent = new Set<string>();
    for (const file of reached) {
      const text = readFileSync(file, 'utf8');
      for (const [, command] of text.matchAll(/new (\w+)Command\(/g)) sent.add(command ?? '');
      for (const [, command] of text.matchAll(/paginate(\w+)\(/g)) sent.add(command ?? '');
    }
    // IAM checks a transaction's items, each as its own action: replication's Puts and Deletes, and the
    // lease item's Update (the checkpoint, which is also the fence).
    const actions = [...sent].flatMap((command) =>
      command === 'TransactWriteItems'
        ? ['PutItem', 'DeleteItem', 'UpdateItem'].map((a) => `dynamodb:${a}`)
        : [`dynamodb:${command}`],
    );
    expect([...new Set(actions)].sort()).toEqual([...new Set(CONSUMER_NEEDS.map((n) => n.action))].sort());
  });

  it('names the owner index and the dead-letter settings as the worker does', () => {
    expect(LEASE_OWNER_INDEX_NAME).toBe(LEASE_OWNER_INDEX);
    expect(DEAD_LETTER_SETTINGS.policy).toBe(PoisonPolicy.DEAD_LETTER);
    expect(Object.keys(CONFIG_VARIABLES)).toEqual(
      expect.arrayContaining([DEAD_LETTER_SETTINGS.policyVariable, DEAD_LETTER_SETTINGS.tableVariable]),
    );
  });
});

describe('the needs', () => {
  it('name code that exists (docs/iam.md points people at it)', () => {
    const needs = [
      ...CONSUMER_NEEDS,
      ...Object.values(KEDA_SCALER_NEEDS).flat(),
      ...KEDA_OPERATOR_NEEDS,
      ...CONTROL_PLANE_NEEDS,
      ...COMPARE_NEEDS,
    ];
    const root = resolve(import.meta.dirname, '../..');
    const missing = needs.flatMap((need) =>
      [...need.code.matchAll(/\b(?:consumer|core|local|functions)\/[\w/.-]+\.ts\b/g)]
        .map(([path]) => path)
        .filter((path) => !existsSync(resolve(root, path))),
    );
    expect(missing).toEqual([]);
  });
});

describe('KEDA’s roles, one scaler role per fleet', () => {
  const operatorArn = 'arn:aws:iam::123456789012:role/keda-operator-demo';
  const scalerArn = (fleet: FleetSpec) => `arn:aws:iam::123456789012:role/${fleet.roles.scalerRoleName}`;
  const scaler = (fleet: FleetSpec, mode: ScalingMode = ScalingMode.Classic): Principal => ({
    policies: named(
      kedaScalerPolicy({ streamArn: streamOf(fleet), scalingMode: mode, anyStreamOfTable: true }),
    ),
    needs: KEDA_SCALER_NEEDS[mode],
    where: WHERE,
    fleet,
  });

  it('classic: the scaler role reads its own fleet’s table and streams, nothing of another fleet', async () => {
    await expectExactlyTheNeeds(scaler(users));
    expect(await allowed(scaler(users), 'dynamodb:DescribeStream', streamOf(orders))).toBe(false);
  });

  it('unfinished-shards: GetMetricData only, on "*" because it has no resource-level permissions', async () => {
    const p = scaler(users, ScalingMode.UnfinishedShards);
    await expectExactlyTheNeeds(p);
    expect(await allowed(p, 'cloudwatch:GetMetricData', '*')).toBe(true);
    expectStarOnlyWithoutResourceLevel(p.policies);
  });

  it('the operator may assume exactly the scaler roles of the fleets that added theirs, which trust only it', async () => {
    const operator: NamedPolicy[] = [users, orders].map((fleet) => ({
      name: `assume-${fleet.name}`,
      document: kedaOperatorAssumePolicy(scalerArn(fleet)),
    }));
    for (const fleet of [users, orders]) {
      for (const need of KEDA_OPERATOR_NEEDS) {
        expect(
          (await evaluatePolicies(operator, { action: need.action, resource: scalerArn(fleet) })).decision,
        ).toBe(Decision.Allow);
      }
    }
    // Without orders' policy (orders torn down), orders' role can no longer be assumed; users' still can.
    const [usersOnly] = operator;
    const assume = async (fleet: FleetSpec) =>
      (
        await evaluatePolicies(usersOnly ? [usersOnly] : [], {
          action: 'sts:AssumeRole',
          resource: scalerArn(fleet),
        })
      ).decision;
    expect([await assume(users), await assume(orders)]).toEqual([Decision.Allow, Decision.ImplicitDeny]);
    expect(
      (await evaluatePolicies(operator, { action: 'dynamodb:DescribeStream', resource: streamOf(users) }))
        .decision,
    ).toBe(Decision.ImplicitDeny);
    const trust = assumedByRoleTrustPolicy(operatorArn);
    expect(trustAllows(trust, operatorArn)).toBe(true);
    expect(trustAllows(trust, 'arn:aws:iam::123456789012:role/users-consumer')).toBe(false);
  });
});
