/**
 * cdk-nag (AwsSolutions) acknowledgements, each with its reason. cdk-nag 3 reads them from CDK's own
 * `Validations.of(construct).acknowledge()`; every finding is acknowledged by its full id (rule and
 * finding), never by rule prefix, and on the construct that has it, never on the whole stack.
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { FleetCluster } from './cluster.js';
import type { ControlPlane } from './control-plane.js';
import type { Workflows } from './workflows.js';

/** The constructs whose findings are acknowledged: what the stack builds (infra/stack.ts). */
export interface NagSubjects {
  readonly controlPlane: ControlPlane;
  readonly workflows: Workflows;
  readonly fleetCluster: FleetCluster;
}

export interface NagAcknowledgement {
  id: string;
  reason: string;
}

export interface MadeAcknowledgement extends NagAcknowledgement {
  /** The construct it was made on; it covers that construct and everything under it. */
  path: string;
}

/** The acknowledgements made so far, per stack (the infra tests list and check them). */
const made = new WeakMap<Stack, MadeAcknowledgement[]>();

export function acknowledge(scope: IConstruct, ...items: NagAcknowledgement[]): void {
  const stack = Stack.of(scope);
  const list = made.get(stack) ?? [];
  made.set(stack, list);
  for (const item of items) {
    Validations.of(scope).acknowledge(item);
    list.push({ path: scope.node.path, ...item });
  }
}

/** Every acknowledgement made in a stack, with the construct path it applies to. */
export function acknowledgementsOf(stack: Stack): readonly MadeAcknowledgement[] {
  return made.get(stack) ?? [];
}

function find(scope: IConstruct, path: string): IConstruct | undefined {
  let node: IConstruct | undefined = scope;
  for (const id of path.split('/')) node = node?.node.tryFindChild(id);
  return node;
}

function logicalIdOf(construct: IConstruct | undefined): string | undefined {
  const element = construct?.node.defaultChild ?? construct;
  if (element === undefined || !('logicalId' in element)) return undefined;
  return Stack.of(element).resolve((element as CfnElement).logicalId) as string;
}

const managed = (policy: string) =>
  `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`;

/** The kubectl provider of aws-eks-v2 (a Lambda-backed custom resource): what it is made with. */
function acknowledgeKubectlProvider(provider: IConstruct): void {
  const handler = find(provider, 'Handler');
  const handlerRole = find(provider, 'Handler/ServiceRole');
  const frameworkRole = find(provider, 'Provider/framework-onEvent/ServiceRole');
  const providerOwned =
    'Created by aws-eks-v2 for its kubectl provider (the Lambda that runs helm for the KEDA chart); CDK attaches it and offers no option to replace it.';
  if (handler !== undefined) {
    acknowledge(handler, {
      id: 'AwsSolutions-L1',
      reason:
        'The kubectl handler is CDK’s own Python function; CDK chooses its runtime (the latest it supports for that handler), not this app.',
    });
  }
  if (handlerRole !== undefined) {
    acknowledge(
      handlerRole,
      {
        id: managed('service-role/AWSLambdaBasicExecutionRole'),
        reason: `Logging for the kubectl handler. ${providerOwned}`,
      },
      {
        id: managed('AmazonEC2ContainerRegistryReadOnly'),
        reason: `Lets the kubectl handler pull OCI charts from ECR. ${providerOwned}`,
      },
    );
    const condition = logicalIdOf(find(provider, 'Handler/HasEcrPublic'));
    if (condition !== undefined) {
      acknowledge(handlerRole, {
        id: `AwsSolutions-IAM4[Policy::{"Fn::If":["${condition}",{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly"]]},{"Ref":"AWS::NoValue"}]}]`,
        reason: `Lets the kubectl handler pull public OCI charts (only in the aws partition). ${providerOwned}`,
      });
    }
  }
  if (handler instanceof lambda.Function && handler.isBoundToVpc) {
    for (const inVpc of [handlerRole, frameworkRole]) {
      if (inVpc === undefined) continue;
      acknowledge(inVpc, {
        id: managed('service-role/AWSLambdaVPCAccessExecutionRole'),
        reason: `The provider’s functions run in the cluster’s private subnets to reach its API endpoint from inside the VPC (network interfaces need this policy). ${providerOwned}`,
      });
    }
  }
  if (frameworkRole !== undefined) {
    acknowledge(frameworkRole, {
      id: managed('service-role/AWSLambdaBasicExecutionRole'),
      reason: `Logging for the custom-resource framework function. ${providerOwned}`,
    });
    const handlerId = logicalIdOf(handler);
    if (handlerId !== undefined) {
      acknowledge(frameworkRole, {
        id: `AwsSolutions-IAM5[Resource::<${handlerId}.Arn>:*]`,
        reason:
          'The framework may invoke the versions of one function, the kubectl handler, and nothing else (`ARN:*` is that function’s qualifiers).',
      });
    }
  }
}

export function acknowledgeNagFindings(stack: NagSubjects): void {
  const role = stack.controlPlane.role;
  acknowledge(
    role,
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Two statements only: X-Ray PutTraceSegments/PutTelemetryRecords (active tracing; X-Ray has no resource-level permissions) and cloudwatch:PutMetricData, which has none either and is narrowed by the condition cloudwatch:namespace = Streamfleet.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/<SOURCE>/stream/*]'.replace(
        '<SOURCE>',
        stack.controlPlane.fleet.sourceTableName,
      ),
      reason:
        'The streams of exactly one table, the fleet’s source: a stream ARN ends in a label (its creation time) that exists only once ensure-tables has enabled the stream, and changes if the stream is re-enabled.',
    },
  );
  acknowledge(stack.controlPlane.compareRole, {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'One statement only: X-Ray PutTraceSegments/PutTelemetryRecords (active tracing; X-Ray has no resource-level permissions). Its DynamoDB reads are on the two table ARNs.',
  });
  if (stack.fleetCluster.oidcIssuerHostPath === undefined) {
    acknowledge(role, {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:oidc-provider/oidc.eks.<AWS::Region>.amazonaws.com/id/*]',
      reason:
        'The cluster is imported by name, so its OIDC issuer id is unknown at deploy time: EKS issuers of this region only, and only Get/Create/AddClientID/Tag (wire-irsa registers the issuer for IRSA).',
    });
  }

  for (const machine of Object.values(stack.workflows.stateMachines)) {
    acknowledge(machine.role, {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'What CDK grants a state machine for logging and tracing: the CloudWatch Logs delivery actions (CreateLogDelivery, DescribeResourcePolicies, ...) and X-Ray PutTraceSegments/PutTelemetryRecords/GetSampling*, none of which supports resource-level permissions. Lambda invocation is granted on the exact function ARNs.',
    });
  }

  const cluster = find(stack.fleetCluster, 'Cluster');
  const clusterRole = find(stack.fleetCluster, 'Cluster/Role');
  if (clusterRole !== undefined) {
    const autoMode =
      'EKS Auto Mode requires exactly these AWS managed policies on the cluster role (aws-eks-v2 attaches them; AWS keeps them current as Auto Mode gains features).';
    acknowledge(
      clusterRole,
      ...[
        'AmazonEKSClusterPolicy',
        'AmazonEKSComputePolicy',
        'AmazonEKSBlockStoragePolicy',
        'AmazonEKSLoadBalancingPolicy',
        'AmazonEKSNetworkingPolicy',
      ].map((policy) => ({ id: managed(policy), reason: autoMode })),
    );
  }
  const nodeRole = find(stack.fleetCluster, 'Cluster/ClusternodePoolRole');
  if (nodeRole !== undefined) {
    const nodes =
      'The minimum AWS documents for an EKS Auto Mode node role (join the cluster, pull images from ECR); attached by aws-eks-v2.';
    acknowledge(
      nodeRole,
      { id: managed('AmazonEKSWorkerNodePolicy'), reason: nodes },
      { id: managed('AmazonEC2ContainerRegistryReadOnly'), reason: nodes },
    );
  }
  const provider =
    cluster?.node.tryFindChild('KubectlProvider') ?? find(stack.fleetCluster, 'KubectlProvider');
  if (provider !== undefined) acknowledgeKubectlProvider(provider);
}
