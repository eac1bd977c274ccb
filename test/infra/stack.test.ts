/**
 * The stack `npx cdk synth` makes from cdk.json (a new cluster with KEDA): every resource the deployment
 * relies on, asserted on the synthesized template. One synth for the whole file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPlaneFunction,
  FUNCTION_ARN_PLACEHOLDERS,
  placeholdersIn,
  readWorkflowDefinition,
  Workflow,
} from '../../core/workflows.js';
import { AlarmKey } from '../../infra/alerts.js';
import { CONTROL_PLANE_ACCESS_POLICY } from '../../infra/cluster.js';
import { DEFAULT_KEDA_VERSION, KEDA_CHART } from '../../infra/config.js';
import { cdkJsonContext, fileAssetPath, REPO_ROOT, resourcesOf, type Synthesized, synth } from './support.js';

type Json = Record<string, unknown>;
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

/** cdk.json's fleet with the cluster the app creates (`streamfleet` unless the fleet names one). */
const fleetFromContext = () => ({ clusterName: 'streamfleet', ...(cdkJsonContext().fleet as Json) });

let s: Synthesized;
const OPERATOR_ROLE = 'arn:aws:iam::123456789012:role/Operator';
beforeAll(() => {
  // cdk.json as it is, plus an operator role for kubectl on the new cluster.
  s = synth({ clusterAdminRoleArn: OPERATOR_ROLE });
});
afterAll(() => s?.cleanup());

const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Logical id of the function with handler `NAME.handler`. */
function functionId(name: ControlPlaneFunction): string {
  const found = resourcesOf(s.template, 'AWS::Lambda::Function').find(
    ([, r]) => r.Properties.Handler === `${name}.handler`,
  );
  if (!found) throw new Error(`no function ${name}`);
  return found[0];
}

function controlPlaneStatements(): Statement[] {
  const roleId = s.stack.resolve(s.stack.controlPlane.role.roleName) as { Ref: string };
  const policies = resourcesOf(s.template, 'AWS::IAM::Policy').filter(([, p]) =>
    list(p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify(roleId)),
  );
  return policies.flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** A template value with tokens rendered as `<AWS::Region>` / `<Logical.Arn>` for easy comparison. */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Json;
    if ('Ref' in v) return `<${String(v.Ref)}>`;
    if ('Fn::GetAtt' in v) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(flat).join(sep);
    }
  }
  return JSON.stringify(value);
}

describe('Lambda functions', () => {
  it('one function per handler, from its own bundle, Node.js 24 on arm64 with the shared defaults', () => {
    const functions = resourcesOf(s.template, 'AWS::Lambda::Function').filter(([id]) =>
      id.startsWith('ControlPlane'),
    );
    const names = Object.values(ControlPlaneFunction);
    expect(functions.map(([, r]) => r.Properties.Handler).sort()).toEqual(
      names.map((n) => `${n}.handler`).sort(),
    );
    for (const name of names) {
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Handler: `${name}.handler`,
        Runtime: Match.stringLikeRegexp('^nodejs(2[2-9]|[3-9]\\d)\\.x$'),
        Architectures: ['arm64'],
        MemorySize: 512,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: Match.objectLike({ LogFormat: 'JSON', LogGroup: Match.anyValue() }),
        Environment: {
          Variables: Match.objectLike({
            CLUSTER_MODE: 'eks',
            POWERTOOLS_SERVICE_NAME: `streamfleet-${name}`,
            POWERTOOLS_METRICS_NAMESPACE: 'Streamfleet',
            METRICS_NAMESPACE: 'Streamfleet',
          }),
        },
      });
    }
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'handle-alarm.handler',
      Environment: { Variables: Match.objectLike({ ALERTS_TOPIC_ARN: Match.anyValue() }) },
    });
  });

  it("each asset holds only that function's bundle, its source map and package.json (type module)", () => {
    const functions = s.template.findResources('AWS::Lambda::Function');
    for (const name of Object.values(ControlPlaneFunction)) {
      const resource = functions[functionId(name)] as { Properties: { Code: { S3Key: string } } };
      const assetDir = fileAssetPath(s, resource.Properties.Code.S3Key);
      expect(readdirSync(assetDir).sort()).toEqual([`${name}.js`, `${name}.js.map`, 'package.json'].sort());
      expect(JSON.parse(readFileSync(join(assetDir, 'package.json'), 'utf8'))).toEqual({ type: 'module' });
      expect(readFileSync(join(assetDir, `${name}.js`), 'utf8')).toBe(
        readFileSync(join(REPO_ROOT, 'dist', 'functions', `${name}.js`), 'utf8'),
      );
    }
  });

  it("the app's log groups (functions, workflows, VPC flow logs) keep 30 days by default", () => {
    const logGroups = resourcesOf(s.template, 'AWS::Logs::LogGroup').filter(([id]) =>
      /^(ControlPlane|Workflows|ClusterVpcFlowLogs)/.test(id),
    );
    expect(logGroups).toHaveLength(
      Object.values(ControlPlaneFunction).length + Object.values(Workflow).length + 1,
    );
    for (const [, group] of logGroups) expect(group.Properties.RetentionInDays).toBe(30);
  });
});

describe('state machines', () => {
  it('each definition is the .asl.json file, with every placeholder substituted by its function ARN', () => {
    const machines = resourcesOf(s.template, 'AWS::StepFunctions::StateMachine');
    expect(machines).toHaveLength(Object.values(Workflow).length);
    for (const workflow of Object.values(Workflow)) {
      const [, machine] =
        machines.find(([, m]) => m.Properties.StateMachineName === `Streamfleet-${workflow}`) ?? [];
      expect(machine, workflow).toBeDefined();
      const props = machine?.Properties as Json;
      const text = readWorkflowDefinition(workflow);
      // The definition is uploaded as a file asset: the same text, placeholders and all.
      const key = String((props.DefinitionS3Location as Json).Key);
      expect(readFileSync(fileAssetPath(s, key), 'utf8')).toBe(text);
      const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
      expect(Object.keys(substitutions).sort()).toEqual(placeholdersIn(text));
      for (const [placeholder, value] of Object.entries(substitutions)) {
        const fn = FUNCTION_ARN_PLACEHOLDERS[placeholder];
        expect(fn, placeholder).toBeDefined();
        expect(value).toEqual({ 'Fn::GetAtt': [functionId(fn as ControlPlaneFunction), 'Arn'] });
      }
      expect(props.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
      expect(props.TracingConfiguration).toEqual({ Enabled: true });
    }
  });

  it('a state machine may invoke exactly the functions its definition names', () => {
    for (const workflow of Object.values(Workflow)) {
      const machine = s.stack.workflows.stateMachines[workflow];
      const roleRef = s.stack.resolve(machine.role.roleName);
      const statements = resourcesOf(s.template, 'AWS::IAM::Policy')
        .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([roleRef]))
        .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
      const invoke = statements.filter((st) => list(st.Action).includes('lambda:InvokeFunction'));
      expect(invoke).toHaveLength(1);
      const expected = placeholdersIn(readWorkflowDefinition(workflow)).map((p) => ({
        'Fn::GetAtt': [functionId(FUNCTION_ARN_PLACEHOLDERS[p] as ControlPlaneFunction), 'Arn'],
      }));
      expect(list(invoke[0]?.Resource)).toEqual(expect.arrayContaining(expected));
      expect(list(invoke[0]?.Resource)).toHaveLength(expected.length);
    }
  });
});

describe('control-plane IAM', () => {
  // What each role may do on DynamoDB and IAM is tested as properties against what the functions call, in
  // iam.test.ts; these are the cluster, logging, alerting and wildcard grants.
  it('the cluster and its OIDC provider by exact ARN (the app made the cluster)', () => {
    const statements = controlPlaneStatements();
    const cluster = statements.find((st) => st.Sid === 'DescribeCluster');
    expect(list(cluster?.Resource).map(flat)[0]).toMatch(/^<Cluster[A-Z0-9]+\.Arn>$/);
    const oidc = statements.find((st) => st.Sid === 'ClusterOidcProvider');
    expect(JSON.stringify(oidc?.Resource)).toContain('OpenIdConnectIssuerUrl');
    expect(JSON.stringify(oidc?.Resource)).not.toContain('*');
  });

  it('"*" only where the service has no resource-level permissions', () => {
    const wildcard = controlPlaneStatements().filter((st) => list(st.Resource).includes('*'));
    expect(wildcard.flatMap((st) => list(st.Action)).sort()).toEqual([
      'cloudwatch:PutMetricData',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    const metrics = wildcard.find((st) => list(st.Action).includes('cloudwatch:PutMetricData'));
    expect(metrics?.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': 'Streamfleet' } });
  });

  it('writes only its own log groups, publishes only to the alerts topic', () => {
    const statements = controlPlaneStatements();
    const logs = statements.filter((st) => list(st.Action).includes('logs:PutLogEvents'));
    expect(logs.flatMap((st) => list(st.Resource))).toHaveLength(10);
    const publish = statements.find((st) => st.Sid === 'PublishAlerts');
    expect(publish?.Resource).toEqual(s.stack.resolve(s.stack.alerts.topic.topicArn));
    const kms = statements.find((st) => st.Sid === 'EncryptAlerts');
    expect(list(kms?.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
  });
});

describe('schedule, alerts and alarms', () => {
  it('EventBridge Scheduler starts verify every 5 minutes with the fleet from context', () => {
    const verifyRef = s.stack.resolve(s.stack.workflows.stateMachines.verify.stateMachineArn);
    const [[, schedule] = []] = resourcesOf(s.template, 'AWS::Scheduler::Schedule');
    const props = schedule?.Properties as Json;
    expect(props.ScheduleExpression).toBe('rate(5 minutes)');
    expect(props.State).toBe('ENABLED');
    const target = props.Target as Json;
    expect(target.Arn).toEqual(verifyRef);
    expect(JSON.parse(String(target.Input))).toEqual({ fleet: fleetFromContext() });
  });

  it('the alerts topic is encrypted with a rotating customer managed key and refuses plain HTTP', () => {
    s.template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertsKey'), 'Arn'] },
    });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('alarms on verify and setup failures, lag, unowned shards and both health checks', () => {
    const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    expect(alarms.map((a) => a.AlarmName).sort()).toEqual(
      Object.values(AlarmKey)
        .map((k) => `Streamfleet-${k}`)
        .sort(),
    );
    const byName = (key: AlarmKey) => alarms.find((a) => a.AlarmName === `Streamfleet-${key}`) as Json;
    const stateMachineRef = (w: Workflow) =>
      s.stack.resolve(s.stack.workflows.stateMachines[w].stateMachineArn);
    expect(byName(AlarmKey.VerifyFailed)).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: stateMachineRef(Workflow.Verify) }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(byName(AlarmKey.SetupFailed)).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: stateMachineRef(Workflow.Setup) }],
    });
    const fleetDims = [{ Name: 'ApplicationName', Value: 'users-replicator' }];
    expect(byName(AlarmKey.ReplicationLag)).toMatchObject({
      Namespace: 'Streamfleet',
      MetricName: 'ReplicationLag',
      Dimensions: fleetDims,
      Statistic: 'Maximum',
      Threshold: 60000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(byName(AlarmKey.UnownedLeases)).toMatchObject({
      Namespace: 'Streamfleet',
      MetricName: 'UnownedLeases',
      Dimensions: fleetDims,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    for (const [key, metric] of [
      [AlarmKey.ScalingUnhealthy, 'ScalingHealthy'],
      [AlarmKey.ReplicationUnhealthy, 'ReplicationHealthy'],
    ] as const) {
      expect(byName(key)).toMatchObject({
        Namespace: 'Streamfleet',
        MetricName: metric,
        Dimensions: fleetDims,
        Statistic: 'Minimum',
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
      });
    }
  });

  it('an EventBridge rule starts alarm-reaction on those alarms with { fleet, event }', () => {
    const [[, rule] = []] = resourcesOf(s.template, 'AWS::Events::Rule');
    const props = rule?.Properties as Json;
    const pattern = props.EventPattern as Json;
    expect(pattern.source).toEqual(['aws.cloudwatch']);
    expect(pattern['detail-type']).toEqual(['CloudWatch Alarm State Change']);
    const alarmIds = resourcesOf(s.template, 'AWS::CloudWatch::Alarm').map(([id]) => id);
    expect(pattern.resources).toEqual(alarmIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })));
    const [target] = props.Targets as Json[];
    expect(target?.Arn).toEqual(
      s.stack.resolve(s.stack.workflows.stateMachines[Workflow.AlarmReaction].stateMachineArn),
    );
    const transformer = target?.InputTransformer as { InputPathsMap: Json; InputTemplate: string };
    expect(transformer.InputPathsMap).toEqual({ f1: '$' });
    // The template with the whole event in place is the input the workflow documents.
    const input = JSON.parse(transformer.InputTemplate.replace('<f1>', '{"detail-type":"x"}'));
    expect(input.event).toEqual({ 'detail-type': 'x' });
    expect(input.fleet).toEqual(fleetFromContext());
  });
});

describe('cluster', () => {
  it('a new EKS cluster with every control-plane log type', () => {
    s.template.hasResourceProperties('AWS::EKS::Cluster', {
      Name: 'streamfleet',
      Version: '1.35',
      Logging: {
        ClusterLogging: {
          EnabledTypes: Match.arrayWith(
            ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'].map((type) => ({
              Type: type,
            })),
          ),
        },
      },
    });
    s.template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
  });

  it('the workflow role reaches Kubernetes through an EKS access entry', () => {
    s.template.hasResourceProperties('AWS::EKS::AccessEntry', {
      PrincipalArn: s.stack.resolve(s.stack.controlPlane.role.roleArn),
      AccessPolicies: [
        {
          AccessScope: { Type: 'cluster' },
          PolicyArn: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                `:eks::aws:cluster-access-policy/${CONTROL_PLANE_ACCESS_POLICY}`,
              ],
            ],
          },
        },
      ],
    });
  });

  it('clusterAdminRoleArn gets cluster admin on the new cluster', () => {
    s.template.hasResourceProperties('AWS::EKS::AccessEntry', {
      PrincipalArn: OPERATOR_ROLE,
      AccessPolicies: [Match.objectLike({ AccessScope: { Type: 'cluster' } })],
    });
  });

  it('KEDA from its Helm chart in namespace keda', () => {
    s.template.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Repository: KEDA_CHART.repository,
      Chart: 'keda',
      Release: 'keda',
      Namespace: 'keda',
      CreateNamespace: true,
      Version: DEFAULT_KEDA_VERSION,
    });
  });
});

describe('consumer image and outputs', () => {
  it('consumer/Dockerfile is a Docker image asset whose context holds only what the build needs', () => {
    const manifest = JSON.parse(readFileSync(join(s.outdir, 'Streamfleet.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]?.source).toMatchObject({ dockerFile: 'consumer/Dockerfile', platform: 'linux/amd64' });
    const context = join(s.outdir, images[0]?.source.directory ?? '');
    expect(readdirSync(context).sort()).toEqual(
      [
        '.dockerignore',
        'consumer',
        'core',
        'esbuild.config.mjs',
        'functions',
        'package-lock.json',
        'package.json',
        'tsconfig.json',
      ].sort(),
    );
    expect(existsSync(join(context, 'consumer', 'Dockerfile'))).toBe(true);
  });

  it('outputs the workflow ARNs and a ready setup input with the image filled in', () => {
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const key of [
      'SetupStateMachineArn',
      'VerifyStateMachineArn',
      'AlarmReactionStateMachineArn',
      'TeardownStateMachineArn',
      'AlertsTopicArn',
      'ClusterName',
      'ConsumerImageUri',
      'LeaseTableName',
      'SetupInput',
      'VerifyInput',
    ]) {
      expect(outputs[key], key).toBeDefined();
    }
    const setupInput = flat(outputs.SetupInput?.Value);
    expect(setupInput).toContain('"image":"');
    expect(setupInput).toContain('"load":{"batches":10');
  });

  it('README and docs/deploy.md read only outputs the stack has', () => {
    const doc = ['README.md', 'docs/deploy.md']
      .map((f) => readFileSync(join(REPO_ROOT, f), 'utf8'))
      .join('\n');
    const outputs = Object.keys(s.template.toJSON().Outputs as Json);
    const used = [...doc.matchAll(/OutputKey=='([A-Za-z]+)'/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const key of used) expect(outputs, `the docs use output ${key}`).toContain(key);
  });
});
