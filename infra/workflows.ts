/**
 * The five state machines, from statemachines/*.asl.json as they are: CDK fills the `${XxxFunctionArn}`
 * placeholders with `definitionSubstitutions` built by core/workflows.ts's `functionArnSubstitutions`, the
 * same map the local runner uses. Every execution is logged (ALL, with execution data) and traced in X-Ray.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  functionArnSubstitutions,
  placeholdersIn,
  readWorkflowDefinition,
  Workflow,
  workflowDefinitionPath,
} from '../core/workflows.js';
import type { ControlPlane } from './control-plane.js';

export interface WorkflowsProps {
  controlPlane: ControlPlane;
  logRetention: logs.RetentionDays;
}

export class Workflows extends Construct {
  readonly stateMachines: Record<Workflow, sfn.StateMachine>;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    const substitutions = functionArnSubstitutions((fn) => props.controlPlane.arnOf(fn));
    const machines: Partial<Record<Workflow, sfn.StateMachine>> = {};
    for (const workflow of Object.values(Workflow)) {
      // Only the functions a definition names may be invoked by it.
      const used = placeholdersIn(readWorkflowDefinition(workflow));
      const missing = used.filter((name) => substitutions[name] === undefined);
      if (missing.length > 0) {
        throw new Error(`${workflow}.asl.json uses placeholders no function provides: ${missing.join(', ')}`);
      }
      const logGroup = new logs.LogGroup(this, `${workflow}-logs`, {
        logGroupName: `/aws/vendedlogs/states/${stackName}-${workflow}`,
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const machine = new sfn.StateMachine(this, workflow, {
        stateMachineName: `${stackName}-${workflow}`,
        stateMachineType: sfn.StateMachineType.STANDARD,
        definitionBody: sfn.DefinitionBody.fromFile(workflowDefinitionPath(workflow)),
        definitionSubstitutions: Object.fromEntries(used.map((name) => [name, substitutions[name] ?? ''])),
        logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
        tracingEnabled: true,
      });
      machine.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'InvokeWorkflowFunctions',
          actions: ['lambda:InvokeFunction'],
          resources: used.map((name) => substitutions[name] ?? ''),
        }),
      );
      machines[workflow] = machine;
    }
    this.stateMachines = machines as Record<Workflow, sfn.StateMachine>;
  }
}
