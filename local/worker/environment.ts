/**
 * The environment of one local worker process (`node dist/consumer.js`), built in one place for the three
 * that start workers: the local cluster's pods, the tests' WorkerProcess and the bench's BenchWorker. Nothing
 * is started here; only PATH is read from this process.
 *
 * Layers, later ones winning where they name the same variable:
 * 1. what every worker needs from this machine: PATH, the SDK's Node-version warning switched off;
 * 2. the AWS connection when no session is given: AWS_ENDPOINT_URL and the unchecked local credentials
 *    (so a test may still override AWS_ACCESS_KEY_ID in `settings`);
 * 3. `container`: what the container declares (a Deployment's env);
 * 4. this worker's own: the tables (SOURCE_TABLE_STREAM_ARN, TARGET_TABLE_NAME, APPLICATION_NAME),
 *    AWS_REGION, INSTANCE_NAME and PORT, each when given;
 * 5. `settings`: anything else (tuning knobs, per-service endpoints); an undefined value unsets the variable;
 * 6. the AWS connection when a `session` is given: AWS_ENDPOINT_URL and the session's keys, last, as the
 *    pod identity webhook injects them on EKS.
 */
import { type SessionCredentials, UNCHECKED_CREDENTIALS } from '../identities/sts.js';

/** The tables a worker replicates between, and its application (also its lease table's) name. */
export interface WorkerTables {
  streamArn: string;
  target: string;
  app: string;
}

export interface WorkerEnvironmentInput {
  /** AWS_ENDPOINT_URL: DynamoDB Local, or the strict layer in front of it. */
  endpoint: string;
  /** The role session the worker signs as; it wins over every other layer. Default: unchecked credentials. */
  session?: Pick<SessionCredentials, 'accessKeyId' | 'secretAccessKey'>;
  /** The container's own variables (a Deployment's env), below everything that names this worker. */
  container?: Record<string, string>;
  tables?: WorkerTables;
  region?: string;
  instanceName?: string;
  port?: number;
  settings?: Record<string, string | undefined>;
}

function connection(
  endpoint: string,
  credentials: Pick<SessionCredentials, 'accessKeyId' | 'secretAccessKey'>,
): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  };
}

export function workerEnvironment(input: WorkerEnvironmentInput): Record<string, string> {
  const own: Record<string, string | undefined> = {
    SOURCE_TABLE_STREAM_ARN: input.tables?.streamArn,
    TARGET_TABLE_NAME: input.tables?.target,
    APPLICATION_NAME: input.tables?.app,
    AWS_REGION: input.region,
    INSTANCE_NAME: input.instanceName,
    PORT: input.port === undefined ? undefined : String(input.port),
  };
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(input.session ? {} : connection(input.endpoint, UNCHECKED_CREDENTIALS)),
    ...input.container,
  };
  for (const [key, value] of Object.entries(own)) if (value !== undefined) env[key] = value;
  Object.assign(env, input.settings, input.session ? connection(input.endpoint, input.session) : {});
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
