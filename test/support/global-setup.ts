/**
 * One DynamoDB Local for the whole test run, on a free port; each test uses its own table names.
 * Stopped in teardown; if the runner dies abruptly, the launcher's guard kills Java within a second.
 */
import type { TestProject } from 'vitest/node';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../local/dynamodb-local.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let server: DynamoDbLocal | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await startDynamoDbLocal();
  project.provide('ddbEndpoint', server.endpoint);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    ddbEndpoint: string;
  }
}
