/**
 * The CLI's AWS side: the Step Functions client (the SDK honours AWS_ENDPOINT_URL_SFN, which points it at npm
 * start's local endpoint), the state machine of a workflow found by its name `<stack>-<workflow>`, and the
 * fleet of the last successful setup execution.
 */
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { PreconditionError } from '../core/vocabulary/errors.js';
import type { Workflow } from '../core/workflows.js';

export function sfnClient(region: string): SFNClient {
  return new SFNClient({ region });
}

/** The state machine of a workflow: `--state-machine-arn`, else the one named `<stack>-<workflow>`. */
export async function stateMachineArn(
  sfn: SFNClient,
  workflow: Workflow,
  options: { stack: string; arn: string | undefined; region: string },
): Promise<string> {
  if (options.arn) return options.arn;
  const name = `${options.stack}-${workflow}`;
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new ListStateMachinesCommand({ nextToken, maxResults: 1000 }));
    const found = page.stateMachines?.find((m) => m.name === name);
    if (found?.stateMachineArn) return found.stateMachineArn;
    nextToken = page.nextToken;
  } while (nextToken);
  throw new PreconditionError(
    `There is no state machine named ${name} in ${options.region}.`,
    'deploy the stack (npx cdk deploy), pass --stack NAME for a stack named otherwise, or --state-machine-arn ARN; for npm start, run it with -- --keep-running and source the streamfleet.env it writes.',
  );
}

/** The input of the newest successful execution of a state machine, or undefined when there is none. */
export async function lastSucceededInput(sfn: SFNClient, arn: string): Promise<unknown> {
  const { executions } = await sfn.send(
    new ListExecutionsCommand({ stateMachineArn: arn, statusFilter: 'SUCCEEDED', maxResults: 1 }),
  );
  const executionArn = executions?.[0]?.executionArn;
  if (!executionArn) return undefined;
  const { input } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  return input === undefined ? undefined : JSON.parse(input);
}
