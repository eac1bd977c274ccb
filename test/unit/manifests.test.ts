import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  consumerDeployment,
  type DeploymentInput,
  gracePeriodFor,
} from '../../core/kubernetes/consumer-deployment.js';
import {
  type ConsumerFleetInput,
  consumerFleetManifests,
  renderManifestsYaml,
} from '../../core/kubernetes/fleet-manifests.js';
import { ScalingMode } from '../../core/kubernetes/keda.js';
import {
  consumerDisruptionBudget,
  consumerServiceAccount,
  IRSA_ROLE_ANNOTATION,
} from '../../core/kubernetes/manifests.js';
import {
  consumerScaledObject,
  kedaTriggerAuthentication,
  type ScaledObjectInput,
} from '../../core/kubernetes/scaled-object.js';
import { InvalidInputError } from '../../core/vocabulary/errors.js';

const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-05-01T12:00:00.000';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/streamfleet-consumer';
const SCALER_ROLE_ARN = 'arn:aws:iam::123456789012:role/streamfleet-keda-scaler';

const deploymentInput: DeploymentInput = {
  namespace: 'streamfleet',
  name: 'users-replicator',
  serviceAccountName: 'users-replicator',
  image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/streamfleet:1.0.0',
  sourceTableStreamArn: STREAM_ARN,
  targetTableName: 'users_replica',
  applicationName: 'users-replicator',
  awsRegion: 'us-east-1',
};

const scaledObjectInput: ScaledObjectInput = {
  namespace: 'streamfleet',
  name: 'users-replicator',
  deploymentName: 'users-replicator',
  triggerAuthenticationName: 'users-replicator-aws',
  sourceTableStreamArn: STREAM_ARN,
  applicationName: 'users-replicator',
  awsRegion: 'us-east-1',
};

const fleetInput: ConsumerFleetInput = {
  namespace: 'streamfleet',
  name: 'users-replicator',
  image: deploymentInput.image,
  roleArn: ROLE_ARN,
  scalerRoleArn: SCALER_ROLE_ARN,
  sourceTableStreamArn: STREAM_ARN,
  targetTableName: 'users_replica',
  applicationName: 'users-replicator',
  awsRegion: 'us-east-1',
};

function expectInvalid(fn: () => unknown, field: string): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe(field);
    return error as InvalidInputError;
  }
  throw new Error(`expected InvalidInputError for ${field}`);
}

function firstContainer(input: Partial<DeploymentInput> = {}) {
  const deployment = consumerDeployment({ ...deploymentInput, ...input });
  const container = deployment.spec?.template.spec?.containers[0];
  if (container === undefined) throw new Error('no container');
  return { deployment, container };
}

describe('ServiceAccount', () => {
  it('carries the IRSA role annotation', () => {
    const sa = consumerServiceAccount({
      namespace: 'streamfleet',
      name: 'users-replicator',
      roleArn: ROLE_ARN,
    });
    expect(sa.toJSON()).toEqual({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'users-replicator',
        namespace: 'streamfleet',
        labels: {
          'app.kubernetes.io/name': 'streamfleet',
          'app.kubernetes.io/instance': 'users-replicator',
          'app.kubernetes.io/component': 'consumer',
          'app.kubernetes.io/part-of': 'streamfleet',
        },
        annotations: { 'eks.amazonaws.com/role-arn': ROLE_ARN },
      },
    });
    expect(IRSA_ROLE_ANNOTATION).toBe('eks.amazonaws.com/role-arn');
  });

  it.each([
    [{ namespace: 'Stream_Fleet' }, 'namespace'],
    [{ namespace: 'a'.repeat(64) }, 'namespace'],
    [{ name: '-consumer' }, 'serviceAccountName'],
    [{ name: 'Consumer' }, 'serviceAccountName'],
    [{ roleArn: 'arn:aws:iam::123456789012:user/consumer' }, 'roleArn'],
    [{ roleArn: 'streamfleet-consumer' }, 'roleArn'],
  ])('rejects %o naming %s', (override, field) => {
    const error = expectInvalid(
      () =>
        consumerServiceAccount({
          namespace: 'streamfleet',
          name: 'consumer',
          roleArn: ROLE_ARN,
          ...override,
        }),
      field,
    );
    expect(error.message).toMatch(/expected/);
  });
});

describe('Deployment', () => {
  it('sets the worker environment, INSTANCE_NAME from the pod name, its peers by the pods selector', () => {
    const { container } = firstContainer();
    expect(container.env).toEqual([
      { name: 'SOURCE_TABLE_STREAM_ARN', value: STREAM_ARN },
      { name: 'TARGET_TABLE_NAME', value: 'users_replica' },
      { name: 'APPLICATION_NAME', value: 'users-replicator' },
      { name: 'AWS_REGION', value: 'us-east-1' },
      { name: 'INSTANCE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'PORT', value: '8080' },
      {
        name: 'PEER_POD_SELECTOR',
        value: 'app.kubernetes.io/name=streamfleet,app.kubernetes.io/instance=users-replicator',
      },
      {
        name: 'POD_NAMESPACE',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
      },
    ]);
    // The selector is the Deployment's own: exactly its pods.
    const { deployment } = firstContainer();
    expect(deployment.spec?.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'streamfleet',
      'app.kubernetes.io/instance': 'users-replicator',
    });
    expect(container.image).toBe(deploymentInput.image);
    expect(container.command).toBeUndefined();
    expect(container.args).toBeUndefined();
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  });

  it('probes /readyz and /healthz on 8080', () => {
    const { container } = firstContainer();
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 8080 });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 8080 });
  });

  it('runs locked down', () => {
    const { deployment, container } = firstContainer();
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const pod = deployment.spec?.template.spec;
    expect(pod?.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // A read-only root still needs a scratch /tmp.
    expect(container.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod?.volumes).toEqual([{ name: 'tmp', emptyDir: {} }]);
  });

  it('requests and limits resources sized from the bench (140 MiB fenced, 180 MiB conditional peak RSS)', () => {
    expect(firstContainer().container.resources).toEqual({
      requests: { cpu: '250m', memory: '192Mi' },
      limits: { cpu: '1', memory: '384Mi' },
    });
    const custom = firstContainer({
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
    });
    expect(custom.container.resources).toEqual({
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { memory: '1Gi' },
    });
  });

  it('gives the worker time to drain, uses the service account, leaves replicas to KEDA', () => {
    const { deployment } = firstContainer();
    // The worker's default SHUTDOWN_TIMEOUT_MS (20 s) plus the 10 s margin.
    expect(deployment.spec?.template.spec?.terminationGracePeriodSeconds).toBe(30);
    expect(deployment.spec?.template.spec?.serviceAccountName).toBe('users-replicator');
    expect(deployment.spec?.replicas).toBeUndefined();
    expect(deployment.spec?.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'streamfleet',
      'app.kubernetes.io/instance': 'users-replicator',
    });
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(
      deployment.spec?.selector.matchLabels ?? {},
    );
    expect(firstContainer({ replicas: 3 }).deployment.spec?.replicas).toBe(3);
  });

  it('takes a port and extra environment', () => {
    const { container } = firstContainer({ port: 9090, env: { LEASE_DURATION_MS: '10000' } });
    expect(container.env).toContainEqual({ name: 'PORT', value: '9090' });
    expect(container.env).toContainEqual({ name: 'LEASE_DURATION_MS', value: '10000' });
    expect(container.readinessProbe?.httpGet?.port).toBe(9090);
  });

  it.each([
    [{ namespace: 'Streamfleet' }, 'namespace'],
    [{ name: 'users.replicator' }, 'name'],
    [{ name: 'x'.repeat(64) }, 'name'],
    [{ serviceAccountName: 'SA' }, 'serviceAccountName'],
    [{ image: 'has space:1' }, 'image'],
    [{ image: '' }, 'image'],
    [{ sourceTableStreamArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/users' }, 'sourceTableStreamArn'],
    [{ targetTableName: 'ab' }, 'targetTableName'],
    [{ targetTableName: 'users/replica' }, 'targetTableName'],
    [{ applicationName: 'x'.repeat(256) }, 'applicationName'],
    [{ awsRegion: 'US-EAST-1' }, 'awsRegion'],
    [{ awsRegion: 'eu-west-1' }, 'awsRegion'],
    [{ port: 70000 }, 'port'],
    [{ terminationGracePeriodSeconds: 20 }, 'env.SHUTDOWN_TIMEOUT_MS'],
    [{ terminationGracePeriodSeconds: 0 }, 'terminationGracePeriodSeconds'],
    [{ env: { SHUTDOWN_TIMEOUT_MS: 'soon' } }, 'env.SHUTDOWN_TIMEOUT_MS'],
    [{ env: { SHUTDOWN_TIMEOUT_MS: '500' } }, 'env.SHUTDOWN_TIMEOUT_MS'],
    [
      { resources: { requests: { cpu: 'lots', memory: '1Gi' }, limits: { memory: '1Gi' } } },
      'resources.requests.cpu',
    ],
    [
      { resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '1 GB' } } },
      'resources.limits.memory',
    ],
    [{ env: { AWS_REGION: 'eu-west-1' } }, 'env.AWS_REGION'],
    [{ env: { 'BAD-NAME': 'x' } }, 'env.BAD-NAME'],
  ] as const)('rejects %o naming %s', (override, field) => {
    expectInvalid(() => consumerDeployment({ ...deploymentInput, ...override }), field);
  });

  it('says what is expected', () => {
    const error = expectInvalid(
      () => consumerDeployment({ ...deploymentInput, namespace: 'Bad' }),
      'namespace',
    );
    expect(error.message).toContain('DNS-1123 label');
    expect(error.message).toContain('"Bad"');
    const grace = expectInvalid(
      () => consumerDeployment({ ...deploymentInput, terminationGracePeriodSeconds: 10 }),
      'env.SHUTDOWN_TIMEOUT_MS',
    );
    expect(grace.message).toContain('at least 30');
  });
});

describe('a Deployment that survives a cluster day', () => {
  const podSpec = (override: Partial<DeploymentInput> = {}) =>
    consumerDeployment({ ...deploymentInput, ...override }).spec?.template;

  it('derives the grace period from SHUTDOWN_TIMEOUT_MS with a margin, and keeps a larger one given', () => {
    expect(gracePeriodFor(20_000)).toBe(30);
    expect(gracePeriodFor(5_500)).toBe(16);
    expect(podSpec({ env: { SHUTDOWN_TIMEOUT_MS: '45000' } })?.spec?.terminationGracePeriodSeconds).toBe(55);
    expect(
      podSpec({ env: { SHUTDOWN_TIMEOUT_MS: '5000' }, terminationGracePeriodSeconds: 120 })?.spec
        ?.terminationGracePeriodSeconds,
    ).toBe(120);
    expectInvalid(
      () =>
        consumerDeployment({
          ...deploymentInput,
          env: { SHUTDOWN_TIMEOUT_MS: '60000' },
          terminationGracePeriodSeconds: 60,
        }),
      'env.SHUTDOWN_TIMEOUT_MS',
    );
  });

  it('spreads pods softly over zones, then nodes, counting only the current ReplicaSet', () => {
    const constraints = podSpec()?.spec?.topologySpreadConstraints ?? [];
    expect(constraints.map((c) => c.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
    for (const c of constraints) {
      expect(c).toMatchObject({
        maxSkew: 1,
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: {
          matchLabels: {
            'app.kubernetes.io/name': 'streamfleet',
            'app.kubernetes.io/instance': 'users-replicator',
          },
        },
        matchLabelKeys: ['pod-template-hash'],
      });
    }
  });

  it('is scrapeable by Prometheus: a named port and the scrape annotations on the pod', () => {
    const template = podSpec({ port: 9102 });
    expect(template?.metadata?.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9102',
      'prometheus.io/path': '/metrics',
    });
    expect(template?.spec?.containers[0]?.ports).toEqual([
      { name: 'http', containerPort: 9102, protocol: 'TCP' },
    ]);
  });

  it('has a PodDisruptionBudget: one worker at a time, selecting exactly the Deployment’s pods', () => {
    const budget = consumerDisruptionBudget({ namespace: 'streamfleet', name: 'users-replicator' });
    const deployment = consumerDeployment(deploymentInput);
    expect(budget.toJSON()).toMatchObject({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'users-replicator', namespace: 'streamfleet' },
      spec: { maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });
    expect(budget.spec?.minAvailable).toBeUndefined();
    expect(budget.spec?.selector).toEqual(deployment.spec?.selector);
    expectInvalid(() => consumerDisruptionBudget({ namespace: 'streamfleet', name: 'Bad' }), 'name');
  });
});

describe('TriggerAuthentication', () => {
  it('has the operator’s AWS pod identity assume the fleet’s own scaler role, not the deprecated identityOwner', () => {
    const auth = kedaTriggerAuthentication({
      namespace: 'streamfleet',
      name: 'users-replicator-aws',
      roleArn: SCALER_ROLE_ARN,
    });
    const json = auth.toJSON() as Record<string, unknown>;
    expect(json).toMatchObject({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'TriggerAuthentication',
      metadata: { name: 'users-replicator-aws', namespace: 'streamfleet' },
      spec: { podIdentity: { provider: 'aws', roleArn: SCALER_ROLE_ARN } },
    });
    expect(JSON.stringify(json)).not.toContain('identityOwner');
  });

  it('rejects invalid names and role ARNs', () => {
    expectInvalid(
      () => kedaTriggerAuthentication({ namespace: 'streamfleet', name: 'Aws', roleArn: SCALER_ROLE_ARN }),
      'triggerAuthenticationName',
    );
    expectInvalid(
      () => kedaTriggerAuthentication({ namespace: 'streamfleet', name: 'aws', roleArn: 'scaler' }),
      'roleArn',
    );
  });
});

describe('ScaledObject', () => {
  it('classic: the aws-dynamodb-streams trigger with string metadata', () => {
    const scaled = consumerScaledObject(scaledObjectInput);
    expect(scaled.toJSON()).toMatchObject({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'users-replicator', namespace: 'streamfleet' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'users-replicator' },
        pollingInterval: 30,
        cooldownPeriod: 300,
        minReplicaCount: 0,
        maxReplicaCount: 100,
        triggers: [
          {
            type: 'aws-dynamodb-streams',
            metadata: {
              tableName: 'users',
              awsRegion: 'us-east-1',
              shardCount: '2',
              activationShardCount: '0',
            },
            authenticationRef: { name: 'users-replicator-aws' },
          },
        ],
      },
    });
    expect(scaled.spec.advanced).toBeUndefined();
    expect(scaled.spec.triggers[0]?.metadata).not.toHaveProperty('identityOwner');
  });

  it('classic: takes shardCount, activation, limits and a stabilisation window', () => {
    const scaled = consumerScaledObject({
      ...scaledObjectInput,
      shardCount: 1,
      activationShardCount: 3,
      minReplicaCount: 1,
      maxReplicaCount: 8,
      pollingIntervalSeconds: 15,
      cooldownPeriodSeconds: 600,
      scaleDownStabilizationSeconds: 120,
    });
    expect(scaled.spec).toMatchObject({
      pollingInterval: 15,
      cooldownPeriod: 600,
      minReplicaCount: 1,
      maxReplicaCount: 8,
      advanced: {
        horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 120 } } },
      },
    });
    expect(scaled.spec.triggers[0]?.metadata).toEqual({
      tableName: 'users',
      awsRegion: 'us-east-1',
      shardCount: '1',
      activationShardCount: '3',
    });
  });

  it('unfinished-shards: the aws-cloudwatch trigger on Streamfleet/UnfinishedShards', () => {
    const scaled = consumerScaledObject({
      ...scaledObjectInput,
      mode: ScalingMode.UnfinishedShards,
      shardCount: 4,
    });
    expect(scaled.spec.minReplicaCount).toBe(1);
    expect(scaled.spec.triggers).toEqual([
      {
        type: 'aws-cloudwatch',
        metadata: {
          namespace: 'Streamfleet',
          metricName: 'UnfinishedShards',
          dimensionName: 'ApplicationName',
          dimensionValue: 'users-replicator',
          targetMetricValue: '4',
          activationTargetMetricValue: '0',
          minMetricValue: '0',
          awsRegion: 'us-east-1',
          metricStat: 'Maximum',
          metricStatPeriod: '60',
          metricCollectionTime: '300',
        },
        authenticationRef: { name: 'users-replicator-aws' },
      },
    ]);
    const period = Number(scaled.spec.triggers[0]?.metadata.metricStatPeriod);
    expect(Number(scaled.spec.triggers[0]?.metadata.metricCollectionTime) % period).toBe(0);
  });

  it.each([
    [{ name: 'Users' }, 'name'],
    [{ deploymentName: 'a.b' }, 'deploymentName'],
    [{ triggerAuthenticationName: '' }, 'triggerAuthenticationName'],
    [{ sourceTableStreamArn: 'nope' }, 'sourceTableStreamArn'],
    [{ applicationName: 'a b' }, 'applicationName'],
    [{ awsRegion: 'us-west-2' }, 'awsRegion'],
    [{ shardCount: 0 }, 'shardCount'],
    [{ activationShardCount: -1 }, 'activationShardCount'],
    [{ minReplicaCount: 3, maxReplicaCount: 2 }, 'maxReplicaCount'],
    [{ pollingIntervalSeconds: 0 }, 'pollingIntervalSeconds'],
    [{ mode: ScalingMode.UnfinishedShards, minReplicaCount: 0 }, 'minReplicaCount'],
    [{ mode: 'fastest' as ScalingMode }, 'mode'],
  ] as const)('rejects %o naming %s', (override, field) => {
    expectInvalid(() => consumerScaledObject({ ...scaledObjectInput, ...override }), field);
  });
});

describe('the whole fleet', () => {
  it('builds the seven manifests in apply order with consistent names', () => {
    const [sa, role, binding, deployment, budget, auth, scaled] = consumerFleetManifests(fleetInput);
    expect([sa.kind, role.kind, binding.kind, deployment.kind, budget.kind, auth.kind, scaled.kind]).toEqual([
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'Deployment',
      'PodDisruptionBudget',
      'TriggerAuthentication',
      'ScaledObject',
    ]);
    expect(sa.metadata?.name).toBe('users-replicator');
    expect(deployment.spec?.template.spec?.serviceAccountName).toBe('users-replicator');
    expect(auth.metadata?.name).toBe('users-replicator-aws');
    expect(scaled.spec.triggers[0]?.authenticationRef?.name).toBe('users-replicator-aws');
    expect(scaled.spec.scaleTargetRef.name).toBe(deployment.metadata?.name);
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata?.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata?.name, namespace: 'streamfleet' },
    ]);
    for (const manifest of [sa, role, binding, deployment, budget, auth, scaled]) {
      expect(manifest.metadata?.namespace).toBe('streamfleet');
      expect(manifest.metadata?.labels?.['app.kubernetes.io/instance']).toBe('users-replicator');
    }
  });

  it('passes the scaling mode through', () => {
    const [, , , , , , scaled] = consumerFleetManifests({
      ...fleetInput,
      mode: ScalingMode.UnfinishedShards,
    });
    expect(scaled.spec.triggers[0]?.type).toBe('aws-cloudwatch');
  });

  it('names the bad field', () => {
    expectInvalid(() => consumerFleetManifests({ ...fleetInput, name: 'Users' }), 'name');
    expectInvalid(() => consumerFleetManifests({ ...fleetInput, roleArn: 'x' }), 'roleArn');
  });
});

describe('YAML', () => {
  it('round-trips through multi-document YAML', () => {
    const manifests = consumerFleetManifests(fleetInput);
    const text = renderManifestsYaml(manifests);
    const documents = parseAllDocuments(text);
    expect(documents).toHaveLength(7);
    expect(documents.map((d) => d.toJSON())).toEqual(manifests.map((m) => m.toJSON()));
    expect(text.split('\n').filter((line) => line === '---')).toHaveLength(6);
  });

  it('keeps numeric-looking strings strings and long ARNs on one line', () => {
    const text = renderManifestsYaml([
      consumerScaledObject(scaledObjectInput),
      consumerDeployment(deploymentInput),
    ]);
    expect(text).toMatch(/shardCount: "2"/);
    expect(text).toMatch(/value: "8080"/);
    expect(text).toContain(`value: ${STREAM_ARN}`);
  });

  it('prints plain objects too', () => {
    const text = renderManifestsYaml([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'streamfleet' } },
    ]);
    expect(text).toBe('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: streamfleet\n');
  });
});
