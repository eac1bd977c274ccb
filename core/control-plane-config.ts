/**
 * The control plane's own configuration (the Lambda functions' environment, or the local runtime's), read
 * once and validated, and the AWS clients built from it. Handlers never read `process.env` themselves.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { EKSClient } from '@aws-sdk/client-eks';
import { IAMClient } from '@aws-sdk/client-iam';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import { ConfigurationError } from './vocabulary/errors.js';

/** Which `Cluster` adapter the handlers drive. */
export const ClusterMode = {
  /** Amazon EKS through the Kubernetes API, with IAM for IRSA. */
  Eks: 'eks',
  /** Worker processes on this machine (local/cluster), with an in-memory IAM stand-in. */
  Local: 'local',
} as const;
export type ClusterMode = (typeof ClusterMode)[keyof typeof ClusterMode];

export interface ControlPlaneConfig {
  clusterMode: ClusterMode;
  region: string;
  /** AWS_ENDPOINT_URL: DynamoDB Local in the local mode; absent on AWS. */
  endpoint: string | undefined;
  /** ALERTS_TOPIC_ARN: where handle-alarm publishes its diagnosis (eks mode). */
  alertsTopicArn: string | undefined;
  /** METRICS_NAMESPACE: where publish-metrics writes. Default `Streamfleet`. */
  metricsNamespace: string;
}

/** The variables the control plane reads, with their meaning (docs/workflows.md lists them). */
export const CONTROL_PLANE_VARIABLES = {
  CLUSTER_MODE: 'eks (default) or local: which Cluster adapter the handlers drive',
  AWS_REGION: 'region of the tables, the cluster and the roles (set by Lambda)',
  AWS_ENDPOINT_URL: 'endpoint override for the AWS SDK, e.g. DynamoDB Local (local mode only)',
  ALERTS_TOPIC_ARN: 'SNS topic handle-alarm publishes its diagnosis to (eks mode)',
  METRICS_NAMESPACE: 'CloudWatch namespace publish-metrics writes to (default Streamfleet)',
} as const;

type Env = Record<string, string | undefined>;

export function controlPlaneConfig(env: Env = process.env): ControlPlaneConfig {
  const mode = (env.CLUSTER_MODE ?? ClusterMode.Eks).trim().toLowerCase();
  if (mode !== ClusterMode.Eks && mode !== ClusterMode.Local) {
    throw new ConfigurationError('CLUSTER_MODE', `expected eks or local, got "${env.CLUSTER_MODE}".`);
  }
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim();
  if (!region) throw new ConfigurationError('AWS_REGION', 'is required, e.g. us-east-1.');
  const namespace = env.METRICS_NAMESPACE?.trim() || 'Streamfleet';
  return {
    clusterMode: mode,
    region,
    endpoint: env.AWS_ENDPOINT_URL?.trim() || undefined,
    alertsTopicArn: env.ALERTS_TOPIC_ARN?.trim() || undefined,
    metricsNamespace: namespace,
  };
}

/** Credentials the local mode signs with (DynamoDB Local ignores them; the strict layer reads the key id). */
export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** One set of SDK clients per configuration; created lazily so a handler pays only for what it uses. */
export class AwsClients {
  private cache = new Map<string, unknown>();

  /**
   * `credentials` (local mode only): the role session the local runtime runs this invocation as (see
   * `withInvocationCredentials` in core/ports.ts); the dummy `local` ones otherwise.
   */
  constructor(
    private readonly config: Pick<ControlPlaneConfig, 'region' | 'endpoint' | 'clusterMode'>,
    private readonly credentials?: LocalCredentials,
  ) {}

  private base(): {
    region: string;
    endpoint?: string;
    credentials?: LocalCredentials;
  } {
    if (this.config.clusterMode === ClusterMode.Local) {
      // DynamoDB Local accepts any credentials and the local mode never reaches AWS; the strict layer in front
      // of it reads the access key id to know which role's policies to judge the call by.
      return {
        region: this.config.region,
        ...(this.config.endpoint === undefined ? {} : { endpoint: this.config.endpoint }),
        credentials: this.credentials ?? { accessKeyId: 'local', secretAccessKey: 'local' },
      };
    }
    return { region: this.config.region };
  }

  private get<T>(key: string, make: () => T): T {
    let client = this.cache.get(key) as T | undefined;
    if (client === undefined) {
      client = make();
      this.cache.set(key, client);
    }
    return client;
  }

  dynamodb(): DynamoDBClient {
    return this.get('dynamodb', () => new DynamoDBClient(this.base()));
  }
  streams(): DynamoDBStreamsClient {
    return this.get('streams', () => new DynamoDBStreamsClient(this.base()));
  }
  eks(): EKSClient {
    return this.get('eks', () => new EKSClient({ region: this.config.region }));
  }
  iam(): IAMClient {
    return this.get('iam', () => new IAMClient({ region: this.config.region }));
  }
  sts(): STSClient {
    return this.get('sts', () => new STSClient({ region: this.config.region }));
  }
  sns(): SNSClient {
    return this.get('sns', () => new SNSClient({ region: this.config.region }));
  }
  cloudwatch(): CloudWatchClient {
    return this.get('cloudwatch', () => new CloudWatchClient({ region: this.config.region }));
  }

  destroy(): void {
    for (const client of this.cache.values()) (client as { destroy(): void }).destroy();
    this.cache.clear();
  }
}
