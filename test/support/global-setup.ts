/**
 * One DynamoDB Local for the whole test run, on a free port, behind the strict layer (local/aws-rules): every
 * test's clients and workers meet AWS's transaction conflicts and DynamoDB Streams read limits, which the
 * emulator alone does not enforce. Each test uses its own table names. Stopped in teardown; if the runner
 * dies abruptly, the launcher's guard kills Java within a second.
 *
 * `STREAMFLEET_AWS_RULES` switches rules for a comparison run (e.g. `none`, or `-transactionConflicts`); all
 * are on by default. `ddbDirectEndpoint` is the emulator itself, for the few tests that must not be counted.
 */
import type { TestProject } from 'vitest/node';
import { AwsRulesProxy, parseRuleSwitches } from '../../local/aws-rules/index.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb-local.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let server: DynamoDbLocal | undefined;
let layer: AwsRulesProxy | undefined;

export async function setup(project: TestProject): Promise<void> {
  const spec = process.env.STREAMFLEET_AWS_RULES;
  const rules = spec ? parseRuleSwitches(spec) : undefined;
  server = await startDynamoDbLocal();
  layer = await AwsRulesProxy.start({ upstream: server.endpoint, ...(rules ? { rules } : {}) });
  project.provide('ddbEndpoint', layer.endpoint);
  project.provide('ddbDirectEndpoint', server.endpoint);
}

export async function teardown(): Promise<void> {
  await layer?.close();
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** DynamoDB Local behind the strict layer: what tests and workers use. */
    ddbEndpoint: string;
    /** DynamoDB Local itself. */
    ddbDirectEndpoint: string;
  }
}
