/**
 * What `npm start -- --keep-running` serves so the `streamfleet` CLI drives the local run as it drives AWS:
 * the local Step Functions endpoint (the real workflows on the local cluster), and in the run's folder a
 * `kubeconfig` for the local cluster's own Kubernetes API (HTTPS, its CA and the operator's token: what
 * `streamfleet status` and kubectl use), a `setup-input.json` for `streamfleet setup --input`, and
 * `streamfleet.env` with the variables that point the AWS SDK and the CLI at all of it
 * (`. <dir>/streamfleet.env`).
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalIam } from '../../core/iam/iam.js';
import type { LocalKubernetesApi } from '../cluster/kubernetes-api.js';
import type { LocalCluster } from '../cluster/local-cluster.js';
import type { LocalStepFunctions } from './server.js';

export interface OperatorEndpointsInput {
  cluster: LocalCluster;
  /** DynamoDB Local, for the CLI's own reads (status, manifests). */
  dynamodbEndpoint: string;
  region: string;
  /** Where the kubeconfig, setup-input.json and streamfleet.env are written. */
  dir: string;
  /** Written to setup-input.json. */
  setupInput: unknown;
  /** The run's Step Functions endpoint, which holds its own executions; it starts listening here. */
  stepFunctions: LocalStepFunctions;
}

export interface OperatorEndpoints {
  stepFunctions: LocalStepFunctions;
  kubernetes: LocalKubernetesApi;
  envFile: string;
  /** The variables streamfleet.env exports. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startOperatorEndpoints(input: OperatorEndpointsInput): Promise<OperatorEndpoints> {
  const { stepFunctions } = input;
  await stepFunctions.start();
  // The cluster's own API (the one its pods and kubectl talk to); started here if it was not yet.
  const kubernetes = input.cluster.kubernetesApi;
  await input.cluster.startApi();
  const dir = resolve(input.dir);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubernetes.kubeconfig(), { mode: 0o600 });
  writeFileSync(join(dir, 'setup-input.json'), `${JSON.stringify(input.setupInput, null, 2)}\n`);
  const env = {
    AWS_ENDPOINT_URL_SFN: stepFunctions.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: input.dynamodbEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: input.dynamodbEndpoint,
    AWS_REGION: input.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    KUBECONFIG: kubeconfig,
    STREAMFLEET_ACCOUNT_ID: LocalIam.ACCOUNT_ID,
  };
  const envFile = join(dir, 'streamfleet.env');
  writeFileSync(
    envFile,
    `# The streamfleet CLI against this npm start run: . ${envFile}\n${Object.entries(env)
      .map(([k, v]) => `export ${k}=${v}`)
      .join('\n')}\n`,
  );
  return {
    stepFunctions,
    kubernetes,
    envFile,
    env,
    async stop() {
      // The Kubernetes API is the cluster's own: it stops with the cluster.
      await stepFunctions.stop();
    },
  };
}
