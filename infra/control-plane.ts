/**
 * The eleven control-plane Lambda functions, from the bundles `npm run build` (esbuild.config.mjs) writes to
 * dist/functions: no second bundler. Each function's asset is a folder holding only its own bundle, its
 * source map and a one-line package.json that marks the folder as ES modules (the bundles are ESM `.js`
 * files, and Lambda loads a `.js` handler as ESM only under `"type": "module"`). The folder is assembled by
 * a local "bundling" step that only copies, so synth needs no Docker, and each asset's hash is its own
 * output's: rebuilding one handler changes one function.
 *
 * Ten share one execution role: they act on one fleet, and Kubernetes sees them as one identity (one
 * EKS access entry). Its grants are scoped to the exact tables, stream pattern, roles, cluster and topic.
 * compare-replicas, which only reads, has a role of its own: DescribeTable, Scan and BatchGetItem on the
 * source and replica tables, and nothing else.
 */
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AssetHashType, DockerImage, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { FleetSpec } from '../core/fleet/fleet.js';
import { MANAGED_BY_TAG } from '../core/iam/iam.js';
import { ControlPlaneFunction } from '../core/workflows.js';

/** The repository root (infra/..), where `npm run build` writes dist/. */
export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const FUNCTIONS_DIST_DIR = join(REPO_ROOT, 'dist', 'functions');

/** The files of one function's asset: the bundle, its source map, and package.json with type module. */
export function stageFunctionBundle(name: ControlPlaneFunction, outputDir: string, distDir: string): void {
  const bundle = join(distDir, `${name}.js`);
  if (!existsSync(bundle)) {
    throw new Error(
      `${bundle} does not exist: run \`npm run build\` before \`cdk synth\` (npm run synth does both).`,
    );
  }
  copyFileSync(bundle, join(outputDir, `${name}.js`));
  if (existsSync(`${bundle}.map`)) copyFileSync(`${bundle}.map`, join(outputDir, `${name}.js.map`));
  writeFileSync(join(outputDir, 'package.json'), `${JSON.stringify({ type: 'module' })}\n`);
}

/** The code of one function: dist/functions/NAME.js (+ map) in a folder of its own, handler `NAME.handler`. */
export function functionCode(name: ControlPlaneFunction, distDir = FUNCTIONS_DIST_DIR): lambda.Code {
  return lambda.Code.fromAsset(distDir, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // The same copy in a container, for a machine where local bundling is not possible. Naming the function in
      // the options also keeps CDK's asset cache (keyed by source path and options) from sharing one asset.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/busybox:1.37'),
      command: [
        'sh',
        '-c',
        `cp /asset-input/${name}.js /asset-input/${name}.js.map /asset-output/ && echo '{"type":"module"}' > /asset-output/package.json`,
      ],
      local: {
        tryBundle(outputDir: string): boolean {
          stageFunctionBundle(name, outputDir, distDir);
          return true;
        },
      },
    },
  });
}

/** Lambda timeouts: the long ones scan or write a whole batch; the workflows give every Task 900 s. */
const TIMEOUT_SECONDS: Record<ControlPlaneFunction, number> = {
  [ControlPlaneFunction.EnsureTables]: 300,
  [ControlPlaneFunction.WireIrsa]: 300,
  [ControlPlaneFunction.DeployConsumer]: 300,
  [ControlPlaneFunction.InstallScaler]: 300,
  [ControlPlaneFunction.GenerateLoad]: 900,
  [ControlPlaneFunction.VerifyScaling]: 300,
  [ControlPlaneFunction.VerifyReplication]: 900,
  [ControlPlaneFunction.PublishMetrics]: 60,
  [ControlPlaneFunction.HandleAlarm]: 60,
  [ControlPlaneFunction.Teardown]: 300,
  // Reads for at most secondsPerInvocation (default 120 s), and stops reading 30 s before this anyway.
  [ControlPlaneFunction.CompareReplicas]: 300,
};

export const METRICS_NAMESPACE = 'Streamfleet';

export interface ControlPlaneProps {
  fleet: FleetSpec;
  alertsTopic: sns.ITopic;
  /** The topic's KMS key, when it has one. */
  alertsKey?: kms.IKey;
  logRetention: logs.RetentionDays;
  /** Where the bundles are; dist/functions by default. */
  distDir?: string;
}

export class ControlPlane extends Construct {
  readonly role: iam.Role;
  /** compare-replicas' own role: reads of the source and replica tables only. */
  readonly compareRole: iam.Role;
  readonly fleet: FleetSpec;
  readonly functions: Record<ControlPlaneFunction, lambda.Function>;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { fleet } = props;
    this.fleet = fleet;

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Streamfleet control plane for fleet ${fleet.name} (the ten workflow functions)`,
    });

    this.compareRole = new iam.Role(this, 'CompareRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Streamfleet compare-replicas for fleet ${fleet.name}: reads the source and replica tables`,
    });
    const roleOf = (name: ControlPlaneFunction) =>
      name === ControlPlaneFunction.CompareReplicas ? this.compareRole : this.role;

    const functions: Partial<Record<ControlPlaneFunction, lambda.Function>> = {};
    for (const name of Object.values(ControlPlaneFunction)) {
      const logGroup = new logs.LogGroup(this, `${name}-logs`, {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // The role is shared and given explicitly, so CDK adds no logging policy: each group, exactly.
      logGroup.grantWrite(roleOf(name));
      functions[name] = new lambda.Function(this, name, {
        description: `Streamfleet ${name} (dist/functions/${name}.js)`,
        code: functionCode(name, props.distDir),
        handler: `${name}.handler`,
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: 512,
        timeout: Duration.seconds(TIMEOUT_SECONDS[name]),
        role: roleOf(name),
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        tracing: lambda.Tracing.ACTIVE,
        environment: {
          CLUSTER_MODE: 'eks',
          METRICS_NAMESPACE,
          POWERTOOLS_SERVICE_NAME: `streamfleet-${name}`,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
          ...(name === ControlPlaneFunction.HandleAlarm
            ? { ALERTS_TOPIC_ARN: props.alertsTopic.topicArn }
            : {}),
        },
      });
    }
    this.functions = functions as Record<ControlPlaneFunction, lambda.Function>;

    const tableArn = (tableName: string) =>
      stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: tableName });
    const sourceTable = tableArn(fleet.sourceTableName);
    // A fleet that runs its own processor has no replica: nothing to create, check, compare or delete there.
    const replicaTable = fleet.replicaTableName === undefined ? undefined : tableArn(fleet.replicaTableName);
    const leaseTable = tableArn(fleet.applicationName);

    // Each table gets what the functions call on it (core/iam-needs.ts says which function, and why).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SourceTable',
        actions: [
          'dynamodb:DescribeTable',
          'dynamodb:CreateTable',
          'dynamodb:UpdateTable',
          'dynamodb:DeleteTable',
          'dynamodb:BatchWriteItem',
          'dynamodb:Scan',
          'dynamodb:BatchGetItem',
        ],
        resources: [sourceTable],
      }),
    );
    if (replicaTable) {
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReplicaTable',
          actions: [
            'dynamodb:DescribeTable',
            'dynamodb:CreateTable',
            'dynamodb:DeleteTable',
            'dynamodb:Scan',
            'dynamodb:BatchGetItem',
          ],
          resources: [replicaTable],
        }),
      );
    }
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LeaseTable',
        // The workers create the lease table; the checks read it, and teardown may delete it.
        actions: ['dynamodb:Scan', 'dynamodb:DeleteTable'],
        resources: [leaseTable],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SourceStream',
        // A listing of shards only: the checks take lag from the lease table and never read records.
        actions: ['dynamodb:DescribeStream'],
        // A stream's label is only known once the table (and its stream) exists: every stream of that one table.
        resources: [`${sourceTable}/stream/*`],
      }),
    );
    this.compareRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CompareReadTables',
        actions: ['dynamodb:DescribeTable', 'dynamodb:Scan', 'dynamodb:BatchGetItem'],
        resources: replicaTable ? [sourceTable, replicaTable] : [sourceTable],
      }),
    );
    // Exactly the IRSA roles of this fleet (fleet.roles, with the workflows' defaults), and the cluster's KEDA
    // operator role (fleet.keda.operatorRoleName), which every fleet on the cluster shares: this fleet may create
    // it and put or delete its own inline policy on it, never delete it.
    const roleArn = (roleName: string) =>
      stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: roleName });
    const fleetRoles = [fleet.roles.consumerRoleName, fleet.roles.scalerRoleName].map(roleArn);
    const operatorRole = roleArn(fleet.keda.operatorRoleName);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CreateIrsaRolesTagged',
        actions: ['iam:CreateRole', 'iam:TagRole'],
        resources: [...fleetRoles, operatorRole],
        // wire-irsa always tags what it creates; anything else it may not create.
        conditions: { StringEquals: { [`aws:RequestTag/${MANAGED_BY_TAG.key}`]: MANAGED_BY_TAG.value } },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageIrsaRoles',
        actions: [
          'iam:GetRole',
          'iam:DeleteRole',
          'iam:UpdateAssumeRolePolicy',
          'iam:PutRolePolicy',
          'iam:DeleteRolePolicy',
          'iam:ListRolePolicies',
          'iam:ListAttachedRolePolicies',
          'iam:DetachRolePolicy',
        ],
        resources: fleetRoles,
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ShareKedaOperatorRole',
        actions: ['iam:GetRole', 'iam:UpdateAssumeRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy'],
        resources: [operatorRole],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishFleetMetrics',
        actions: ['cloudwatch:PutMetricData'],
        // PutMetricData has no resource-level permissions; the namespace condition is the narrowing IAM offers.
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [props.alertsTopic.topicArn],
      }),
    );
    if (props.alertsKey !== undefined) {
      // What SNS needs of a publisher to a topic encrypted with a customer managed key (no wildcard actions).
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'EncryptAlerts',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [props.alertsKey.keyArn],
        }),
      );
    }
  }

  /**
   * The cluster-side grants: DescribeCluster on that one cluster, and the IAM OIDC provider IRSA needs. The
   * provider's ARN is exact when the issuer is known at deploy time (a cluster this app creates); for an
   * imported cluster it is any EKS issuer of this region (`oidc.eks.REGION.amazonaws.com/id/*`).
   */
  grantCluster(input: { clusterArn: string; oidcIssuerHostPath: string | undefined }): void {
    const stack = Stack.of(this);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeCluster',
        actions: ['eks:DescribeCluster'],
        resources: [input.clusterArn],
      }),
    );

    const oidcProvider = stack.formatArn({
      service: 'iam',
      region: '',
      resource: 'oidc-provider',
      resourceName: input.oidcIssuerHostPath ?? `oidc.eks.${stack.region}.amazonaws.com/id/*`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ClusterOidcProvider',
        actions: [
          'iam:GetOpenIDConnectProvider',
          'iam:CreateOpenIDConnectProvider',
          'iam:AddClientIDToOpenIDConnectProvider',
          'iam:TagOpenIDConnectProvider',
        ],
        resources: [oidcProvider],
      }),
    );
  }

  /** The ARN of one function, for `definitionSubstitutions`. */
  arnOf(name: ControlPlaneFunction): string {
    return this.functions[name].functionArn;
  }
}
