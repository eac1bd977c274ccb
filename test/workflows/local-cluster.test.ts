/**
 * The local cluster's KEDA emulation with FAKE pods (no processes): the same replica arithmetic as KEDA,
 * credentials through the operator's IRSA role and each fleet's scaler role (judged by the strict layer's
 * `iam` rule), the unfinished-shards trigger read from the local CloudWatch stand-in, two fleets on one
 * cluster, rollouts, restarts of crashed workers. DynamoDB Local answers DescribeTable and DescribeStream for
 * the classic trigger.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { parseFleet } from '../../core/fleet/fleet.js';
import {
  deployConsumer,
  installScaler,
  removeConsumer,
  removeScaler,
} from '../../core/fleet/fleet-deploy.js';
import { LocalIam } from '../../core/iam/iam.js';
import { removeIrsa, wireIrsa } from '../../core/irsa.js';
import { LocalMetricsSink } from '../../core/verification/fleet-metrics.js';
import type { ClusterEvent, LaunchedWorker, LaunchSpec, WorkerLauncher } from '../../local/cluster/index.js';
import { ClusterEventKind, LocalCluster } from '../../local/cluster/index.js';
import { createEmailTable, localClient, uniqueName, waitFor } from '../support/fleet.js';

const endpoint = inject('ddbEndpoint');

class FakeWorker implements LaunchedWorker {
  readonly pid = undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done = false;
  private finish!: (value: { code: number | null; signal: NodeJS.Signals | null }) => void;
  readonly signals: NodeJS.Signals[] = [];

  constructor(readonly spec: LaunchSpec) {
    this.exited = new Promise((resolve) => {
      this.finish = resolve;
    });
  }
  hasExited() {
    return this.done;
  }
  kill(signal: NodeJS.Signals) {
    this.signals.push(signal);
    this.crash(signal === 'SIGTERM' ? 0 : null, signal);
  }
  crash(code: number | null, signal: NodeJS.Signals | null = null) {
    if (this.done) return;
    this.done = true;
    this.finish({ code, signal });
  }
  output() {
    return '';
  }
  async probeReady() {
    return !this.done;
  }
}

class FakeLauncher implements WorkerLauncher {
  readonly launched: FakeWorker[] = [];
  launch(spec: LaunchSpec): LaunchedWorker {
    const worker = new FakeWorker(spec);
    this.launched.push(worker);
    return worker;
  }
  running(): FakeWorker[] {
    return this.launched.filter((w) => !w.hasExited());
  }
}

/** A fleet on cluster `c` over a fresh source table with a stream (a replica named after it), `fields` laid over. */
async function newFleet(c: LocalCluster, fields: Record<string, unknown> = {}) {
  const client = localClient(endpoint);
  const tableName = uniqueName('lc-users');
  const streamArn = (await createEmailTable(client, tableName, true)) ?? '';
  client.destroy();
  const fleet = parseFleet({
    name: 'users-replicator',
    clusterName: c.name,
    sourceTableName: tableName,
    replicaTableName: `${tableName}_replica`,
    image: 'streamfleet:local',
    ...fields,
  });
  return { fleet, streamArn, tableName };
}

describe('local cluster (fake pods)', () => {
  let cluster: LocalCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
  });

  function start(
    launcher: FakeLauncher,
    iam: LocalIam,
    metrics: LocalMetricsSink,
    stateFile?: string,
  ): LocalCluster {
    cluster = new LocalCluster({
      ...(stateFile ? { stateFile } : {}),
      name: uniqueName('lc'),
      dynamodbEndpoint: endpoint,
      pollingIntervalMs: 100,
      readinessIntervalMs: 50,
      restartBackoffMs: 50,
      launcher,
      iam,
      metrics,
      register: false,
    });
    return cluster;
  }

  it('runs the Deployment as pods with the manifest env, and scales with KEDA arithmetic on UnfinishedShards', async () => {
    const launcher = new FakeLauncher();
    const iam = new LocalIam();
    const metrics = new LocalMetricsSink();
    const stateFile = join(mkdtempSync(join(tmpdir(), 'streamfleet-')), 'cluster.json');
    const c = start(launcher, iam, metrics, stateFile);
    const { fleet, streamArn, tableName } = await newFleet(c, {
      workerEnv: { LEASE_DURATION_MS: '3000' },
      scaling: {
        mode: 'unfinished-shards',
        shardCount: 2,
        maxReplicaCount: 5,
        scaleDownStabilizationSeconds: 0,
      },
    });
    const irsa = await wireIrsa({ iam, cluster: c }, { fleet, streamArn });
    await deployConsumer(c, { fleet, streamArn, consumerRoleArn: irsa.consumerRoleArn, region: 'us-east-1' });
    await waitFor(() => launcher.running().length === 1, { timeoutMs: 5_000, message: 'one pod' });
    const env = launcher.running()[0]?.spec.env ?? {};
    expect(env).toMatchObject({
      SOURCE_TABLE_STREAM_ARN: streamArn,
      TARGET_TABLE_NAME: `${tableName}_replica`,
      APPLICATION_NAME: 'users-replicator',
      AWS_REGION: 'us-east-1',
      LEASE_DURATION_MS: '3000',
      AWS_ENDPOINT_URL: endpoint,
    });
    expect(env.INSTANCE_NAME).toMatch(/^users-replicator-[0-9a-f]{6}-[0-9a-f]{5}$/);
    expect(env.PORT).toBe(String(launcher.running()[0]?.spec.port));

    const events: ClusterEvent[] = [];
    c.subscribe((event) => events.push(event));
    await installScaler(c, { fleet, streamArn, scalerRoleArn: irsa.scalerRoleArn, region: 'us-east-1' });
    const publish = (value: number) =>
      metrics.put(
        'Streamfleet',
        { ApplicationName: 'users-replicator' },
        [{ name: 'UnfinishedShards', value, unit: 'Count' }],
        new Date(),
      );
    await publish(7);
    await waitFor(() => launcher.running().length === 4, {
      timeoutMs: 5_000,
      message: 'ceil(7 / 2) = 4 pods',
    });
    // KEDA's decision is an event with the numbers it was made with, and a log line saying the same.
    expect(events.find((e) => e.kind === ClusterEventKind.KedaScaled && e.to === 4)).toMatchObject({
      namespace: 'streamfleet',
      name: 'users-replicator',
      from: 1,
      metric: 7,
      reason: 'metric',
      config: { shardCount: 2, maxReplicaCount: 5 },
    });
    expect(
      c.events.some((line) =>
        line.endsWith('KEDA: streamfleet/users-replicator 1 → 4 replicas (metric 7, metric)'),
      ),
    ).toBe(true);
    await publish(2);
    await waitFor(() => launcher.running().length === 1, { timeoutMs: 5_000, message: 'back to 1 pod' });
    const status = await c.scaleStatus({
      namespace: 'streamfleet',
      deploymentName: 'users-replicator',
      scaledObjectName: 'users-replicator',
    });
    expect(status.deployment?.desiredReplicas).toBe(1);
    expect(status.scaledObject).toMatchObject({
      ready: true,
      active: true,
      hpaDesiredReplicas: 1,
      maxReplicaCount: 5,
    });
    const state = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(state.workloads[0]).toMatchObject({
      namespace: 'streamfleet',
      name: 'users-replicator',
      desired: 1,
    });
    expect(state.scalers[0]).toMatchObject({ ready: true, lastDecision: 1 });
    rmSync(dirname(stateFile), { recursive: true, force: true });
    // Scale-down used SIGTERM, so the workers could hand their leases off.
    expect(launcher.launched.filter((w) => w.hasExited()).every((w) => w.signals[0] === 'SIGTERM')).toBe(
      true,
    );
  });

  it('KEDA needs an operator role read when it (re)starts, allowed to assume the fleet’s scaler role, whose policy the layer judges', async () => {
    const launcher = new FakeLauncher();
    const iam = new LocalIam();
    const c = start(launcher, iam, new LocalMetricsSink());
    const { fleet, streamArn } = await newFleet(c, { scaling: { shardCount: 1, minReplicaCount: 2 } });
    const consumerRoleArn = 'arn:aws:iam::000000000000:role/users-replicator-consumer';
    const scalerRoleArn = 'arn:aws:iam::000000000000:role/users-replicator-keda-scaler';
    await c.apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'users-replicator', namespace: 'streamfleet' },
    });
    await deployConsumer(c, { fleet, streamArn, consumerRoleArn, region: 'us-east-1' });
    await installScaler(c, { fleet, streamArn, scalerRoleArn, region: 'us-east-1' });
    const scaledObject = async () =>
      (
        await c.scaleStatus({
          namespace: 'streamfleet',
          deploymentName: 'users-replicator',
          scaledObjectName: 'users-replicator',
        })
      ).scaledObject;
    const messageContains = (text: string, message: string) =>
      waitFor(async () => (await scaledObject())?.message?.includes(text), { timeoutMs: 5_000, message });
    await messageContains('no AWS credentials', 'KEDA without credentials');

    // An operator role that may not assume the scaler role is refused, as STS would refuse it.
    const trust = { Version: '2012-10-17' as const, Statement: [] };
    await iam.ensureRole({
      roleName: 'weak-operator',
      description: '',
      trustPolicy: trust,
      policyName: 'p',
      policy: { Version: '2012-10-17', Statement: [] },
    });
    await c.apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'keda-operator',
        namespace: 'keda',
        annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::000000000000:role/weak-operator' },
      },
    });
    // Annotated but not restarted: the operator still has no credentials.
    await new Promise((r) => setTimeout(r, 300));
    expect((await scaledObject())?.message).toContain('no AWS credentials');
    await c.restartDeployment('keda', 'keda-operator');
    await messageContains('sts:AssumeRole', 'AccessDenied for AssumeRole');
    expect((await scaledObject())?.message).toContain(
      `User: arn:aws:sts::000000000000:assumed-role/weak-operator/keda-operator is not authorized to perform: sts:AssumeRole on resource: ${scalerRoleArn}`,
    );

    // The wiring setup does fixes it: the classic trigger sees 1 shard, minReplicaCount 2 wins.
    const irsa = await wireIrsa({ iam, cluster: c }, { fleet, streamArn });
    expect(irsa.scalerRoleArn).toBe(scalerRoleArn);
    expect(irsa.kedaOperatorRestarted).toBe(true);
    await waitFor(() => launcher.running().length === 2, { timeoutMs: 5_000, message: 'two pods' });
    expect((await scaledObject())?.ready).toBe(true);

    // The scaler role's own policy is judged by the strict layer: without DescribeStream, KEDA is refused.
    await iam.ensureRole({
      roleName: 'users-replicator-keda-scaler',
      description: '',
      trustPolicy: (await iam.getRole('users-replicator-keda-scaler'))?.trustPolicy ?? trust,
      policyName: 'streamfleet-keda-scaler',
      policy: {
        Version: '2012-10-17',
        Statement: [{ Sid: 'T', Effect: 'Allow', Action: ['dynamodb:DescribeTable'], Resource: ['*'] }],
      },
    });
    await messageContains('AccessDeniedException', 'AccessDenied for DescribeStream');
    expect((await scaledObject())?.message).toMatch(
      /assumed-role\/users-replicator-keda-scaler\/.* is not authorized to perform: dynamodb:DescribeStream on resource: arn:aws:dynamodb:ddblocal:000000000000:table\/.*\/stream\//,
    );
  });

  it('two fleets on one cluster scale independently, and tearing one down leaves the other’s scaling intact', async () => {
    const launcher = new FakeLauncher();
    const iam = new LocalIam();
    const metrics = new LocalMetricsSink();
    const c = start(launcher, iam, metrics);
    const pods = (fleet: string) =>
      launcher.running().filter((w) => w.spec.podName.startsWith(`${fleet}-`)).length;
    const setUp = async (name: string, scaling: Record<string, unknown>) => {
      const { fleet, streamArn } = await newFleet(c, {
        name,
        scaling: { scaleDownStabilizationSeconds: 0, ...scaling },
      });
      const irsa = await wireIrsa({ iam, cluster: c }, { fleet, streamArn });
      await deployConsumer(c, {
        fleet,
        streamArn,
        consumerRoleArn: irsa.consumerRoleArn,
        region: 'us-east-1',
      });
      await installScaler(c, { fleet, streamArn, scalerRoleArn: irsa.scalerRoleArn, region: 'us-east-1' });
      return { fleet, irsa };
    };
    const status = async (name: string) =>
      (await c.scaleStatus({ namespace: 'streamfleet', deploymentName: name, scaledObjectName: name }))
        .scaledObject;
    const publish = (value: number) =>
      metrics.put(
        'Streamfleet',
        { ApplicationName: 'orders-replicator' },
        [{ name: 'UnfinishedShards', value, unit: 'Count' }],
        new Date(),
      );

    // users: classic trigger, one shard, at least 2 pods. orders: unfinished shards, 2 per pod.
    const users = await setUp('users-replicator', { shardCount: 1, minReplicaCount: 2 });
    await publish(5);
    const orders = await setUp('orders-replicator', {
      mode: 'unfinished-shards',
      shardCount: 2,
      maxReplicaCount: 5,
    });
    expect(orders.irsa.kedaOperatorRoleArn).toBe(users.irsa.kedaOperatorRoleArn);
    expect(orders.irsa.kedaOperatorRestarted).toBe(false); // the second fleet changes nothing of KEDA's own
    expect(orders.irsa.scalerRoleArn).not.toBe(users.irsa.scalerRoleArn);
    await waitFor(() => pods('users-replicator') === 2 && pods('orders-replicator') === 3, {
      timeoutMs: 5_000,
      message: 'users at 2 pods (minReplicaCount), orders at ceil(5 / 2) = 3',
    });

    // users goes: its scaler, workers and roles, and its policy on the operator role. orders still scales.
    await removeScaler(c, users.fleet);
    await removeConsumer(c, users.fleet);
    expect(await removeIrsa({ iam, cluster: c }, users.fleet)).toEqual({
      deletedRoles: ['users-replicator-consumer', 'users-replicator-keda-scaler'],
      detachedOperatorPolicy: true,
    });
    const kedaAccount = await c.get({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      namespace: 'keda',
      name: 'keda-operator',
    });
    expect(kedaAccount?.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(
      users.irsa.kedaOperatorRoleArn,
    );
    await publish(9);
    await waitFor(() => pods('orders-replicator') === 5 && pods('users-replicator') === 0, {
      timeoutMs: 5_000,
      message: 'orders up to its maximum of 5 pods, users gone',
    });
    await publish(2);
    await waitFor(() => pods('orders-replicator') === 1, {
      timeoutMs: 5_000,
      message: 'orders back to 1 pod',
    });
    expect(await status('orders-replicator')).toMatchObject({ ready: true, hpaDesiredReplicas: 1 });
    expect((await status('orders-replicator'))?.message).toBeUndefined();
  });

  it('restarts a crashed worker in its pod, rolls pods on a template change, and holds pods without their ServiceAccount', async () => {
    const launcher = new FakeLauncher();
    const c = start(launcher, new LocalIam(), new LocalMetricsSink());
    const { fleet, streamArn } = await newFleet(c);
    const consumerRoleArn = 'arn:aws:iam::000000000000:role/users-replicator-consumer';
    // deployConsumer applies the ServiceAccount first; apply the Deployment alone to see the pods held.
    const { consumerManifests } = await import('../../core/fleet/fleet-deploy.js');
    const deployment = consumerManifests({ fleet, streamArn, consumerRoleArn, region: 'us-east-1' }).find(
      (m) => m.kind === 'Deployment',
    );
    await c.apply(deployment as never);
    await new Promise((r) => setTimeout(r, 200));
    expect(launcher.launched).toHaveLength(0);
    expect(c.snapshot().workloads[0]?.failure).toBe('serviceaccount "users-replicator" not found');

    await deployConsumer(c, { fleet, streamArn, consumerRoleArn, region: 'us-east-1' });
    await waitFor(() => launcher.running().length === 1, { timeoutMs: 5_000, message: 'one pod' });
    const first = launcher.running()[0];
    first?.crash(3);
    await waitFor(() => launcher.running().length === 1 && launcher.launched.length === 2, {
      timeoutMs: 5_000,
      message: 'restart',
    });
    expect(launcher.launched[1]?.spec.podName).toBe(first?.spec.podName);
    expect(c.snapshot().workloads[0]?.pods[0]?.restarts).toBe(1);

    await c.restartDeployment('streamfleet', 'users-replicator');
    await waitFor(
      () => launcher.running().length === 1 && launcher.running()[0]?.spec.podName !== first?.spec.podName,
      {
        timeoutMs: 5_000,
        message: 'rollout to a new pod',
      },
    );
  });
});
