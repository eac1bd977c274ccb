/**
 * An existing cluster imported by name (the recipe's eksctl cluster), and the other context options: two
 * synths, without and with `installKeda`, sharing their templates across the file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_ACCESS_POLICY } from '../../infra/cluster.js';
import { cdkJsonContext, resourcesOf, type Synthesized, synth } from './support.js';

type Json = Record<string, unknown>;
const fleet = cdkJsonContext().fleet as Json;

let plain: Synthesized;
let withKeda: Synthesized;
beforeAll(() => {
  plain = synth({
    clusterName: 'demo',
    stackName: 'Streamfleet-demo',
    verifyEveryMinutes: '1',
    verifyScheduleEnabled: 'false',
    replicationLagThresholdMs: '5000',
    alertEmail: 'oncall@example.com',
    logRetentionDays: 7,
    consumerImagePlatform: 'linux/arm64',
  });
  withKeda = synth({
    clusterName: 'demo',
    installKeda: 'true',
    kedaVersion: '2.20.0',
    buildConsumerImage: 'false',
    // `-c fleet=...` gives a JSON string; the image is given instead of built.
    fleet: JSON.stringify({ ...fleet, image: 'registry.example.com/streamfleet:1.2.3' }),
  });
});
afterAll(() => {
  plain?.cleanup();
  withKeda?.cleanup();
});

describe('an imported cluster', () => {
  it('creates no cluster, VPC or kubectl provider, and installs no KEDA unless asked', () => {
    plain.template.resourceCountIs('AWS::EKS::Cluster', 0);
    plain.template.resourceCountIs('AWS::EC2::VPC', 0);
    plain.template.resourceCountIs('Custom::AWSCDK-EKS-HelmChart', 0);
    plain.template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
  });

  it('gives the workflow role an access entry on the named cluster', () => {
    plain.template.resourceCountIs('AWS::EKS::AccessEntry', 1);
    plain.template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'demo',
      PrincipalArn: plain.stack.resolve(plain.stack.controlPlane.role.roleArn),
      AccessPolicies: [Match.objectLike({ AccessScope: { Type: 'cluster' } })],
    });
  });

  it('scopes DescribeCluster to that cluster and the OIDC provider to the region’s EKS issuers', () => {
    const statements = resourcesOf(plain.template, 'AWS::IAM::Policy').flatMap(
      ([, p]) =>
        (p.Properties.PolicyDocument as { Statement: { Sid?: string; Resource: unknown }[] }).Statement,
    );
    const describe = statements.find((st) => st.Sid === 'DescribeCluster');
    expect(JSON.stringify(describe?.Resource)).toContain(':cluster/demo"');
    const oidc = statements.find((st) => st.Sid === 'ClusterOidcProvider');
    expect(JSON.stringify(oidc?.Resource)).toContain(':oidc-provider/oidc.eks.');
    expect(JSON.stringify(oidc?.Resource)).toContain('.amazonaws.com/id/*');
  });

  it('fills in fleet.clusterName from the cluster it imports', () => {
    const [[, schedule] = []] = resourcesOf(plain.template, 'AWS::Scheduler::Schedule');
    const target = (schedule?.Properties.Target ?? {}) as Json;
    const input = JSON.parse(String(target.Input));
    expect(input.fleet).toEqual({ ...fleet, clusterName: 'demo' });
  });

  it('with installKeda: a kubectl provider with its own access entry installs the chart after it', () => {
    withKeda.template.resourceCountIs('AWS::EKS::Cluster', 0);
    const entries = resourcesOf(withKeda.template, 'AWS::EKS::AccessEntry');
    expect(entries).toHaveLength(2);
    const providerEntry = entries.find(([id]) => id.includes('KubectlProviderAccess'));
    expect(providerEntry?.[1].Properties).toMatchObject({ ClusterName: 'demo' });
    expect(JSON.stringify(providerEntry?.[1].Properties.AccessPolicies)).toContain(
      CONTROL_PLANE_ACCESS_POLICY,
    );
    const [[, chart] = []] = resourcesOf(withKeda.template, 'Custom::AWSCDK-EKS-HelmChart');
    expect(chart?.Properties).toMatchObject({
      ClusterName: 'demo',
      Chart: 'keda',
      Namespace: 'keda',
      Version: '2.20.0',
    });
    expect(chart?.DependsOn ?? []).toContain(providerEntry?.[0]);
  });
});

describe('context options', () => {
  it('verifyEveryMinutes and verifyScheduleEnabled=false: a disabled schedule at the given rate', () => {
    plain.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'DISABLED',
    });
  });

  it('replicationLagThresholdMs sets the lag alarm; stackName names the alarms and workflows', () => {
    plain.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'Streamfleet-demo-replication-lag',
      MetricName: 'ReplicationLag',
      Threshold: 5000,
    });
    plain.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'Streamfleet-demo-setup',
    });
  });

  it('alertEmail subscribes that address to the alerts topic', () => {
    plain.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    withKeda.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('logRetentionDays sets the retention of the app’s log groups', () => {
    const groups = resourcesOf(plain.template, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(14);
    for (const [, group] of groups) expect(group.Properties.RetentionInDays).toBe(7);
  });

  it('consumerImagePlatform sets the image platform; buildConsumerImage=false uses fleet.image', () => {
    const manifest = (s: Synthesized) =>
      JSON.parse(readFileSync(join(s.outdir, `${s.stack.stackName}.assets.json`), 'utf8')) as {
        dockerImages?: Record<string, { source: { platform?: string } }>;
      };
    expect(Object.values(manifest(plain).dockerImages ?? {})[0]?.source.platform).toBe('linux/arm64');
    expect(Object.keys(manifest(withKeda).dockerImages ?? {})).toHaveLength(0);
    const outputs = withKeda.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.ConsumerImageUri?.Value).toBe('registry.example.com/streamfleet:1.2.3');
    expect(JSON.parse(String(outputs.SetupInput?.Value)).fleet.image).toBe(
      'registry.example.com/streamfleet:1.2.3',
    );
  });
});
