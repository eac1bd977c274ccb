/**
 * Worker configuration from the environment, validated once at start-up. Every problem names the variable
 * and says what is expected; nothing is written anywhere before this succeeds.
 */
import { ConfigurationError } from '../core/errors.js';

export const WriteMode = { FENCED: 'fenced', CONDITIONAL: 'conditional' } as const;
export type WriteMode = (typeof WriteMode)[keyof typeof WriteMode];

export const PoisonPolicy = { STOP: 'stop', DEAD_LETTER: 'dead-letter' } as const;
export type PoisonPolicy = (typeof PoisonPolicy)[keyof typeof PoisonPolicy];

export const InitialPosition = { TRIM_HORIZON: 'TRIM_HORIZON', LATEST: 'LATEST' } as const;
export type InitialPosition = (typeof InitialPosition)[keyof typeof InitialPosition];

export interface StreamArnParts {
  partition: string;
  region: string;
  accountId: string;
  tableName: string;
  label: string;
}

export interface WorkerConfig {
  streamArn: string;
  stream: StreamArnParts;
  targetTableName: string;
  applicationName: string;
  region: string;
  instanceName: string;
  port: number;
  leaseDurationMs: number;
  leaseRenewIntervalMs: number;
  leaseTakerIntervalMs: number;
  leaseScanIntervalMs: number;
  maxLeasesPerWorker: number;
  maxLeasesToStealAtOnce: number;
  shardSyncIntervalMs: number;
  idleTimeBetweenReadsMs: number;
  readsPerSecond: number;
  maxRecords: number;
  initialPosition: InitialPosition;
  writeMode: WriteMode;
  writeConcurrency: number;
  poisonPolicy: PoisonPolicy;
  deadLetterTableName: string | undefined;
  shutdownTimeoutMs: number;
  logLevel: string;
  /** Label selector of this worker's Deployment's pods, watched for peer evidence; undefined: none. */
  peerPodSelector: string | undefined;
  /** Namespace of those pods; undefined: this pod's own. */
  podNamespace: string | undefined;
}

/** Every variable the worker reads, with its meaning: the README table is checked against this list. */
export const CONFIG_VARIABLES = {
  SOURCE_TABLE_STREAM_ARN: 'ARN of the source table stream (required)',
  TARGET_TABLE_NAME: 'table the changes are replicated into (required)',
  APPLICATION_NAME: 'name of the application; also the lease table name (required)',
  AWS_REGION: 'AWS region of the tables (required)',
  INSTANCE_NAME: "this worker's id, stamped into processed_by (default: host name)",
  PORT: 'port of /healthz, /readyz and /metrics (default 8080)',
  LEASE_DURATION_MS: 'a lease whose counter has not changed for this long is expired (default 10000)',
  LEASE_RENEW_INTERVAL_MS: 'how often held leases are renewed (default lease duration / 3)',
  LEASE_TAKER_INTERVAL_MS: 'how often a worker checks its own leases and its peers (default 1000)',
  LEASE_SCAN_INTERVAL_MS:
    'longest time between full reads of the lease table when nothing changes (default 30000)',
  MAX_LEASES_PER_WORKER: 'upper bound on leases one worker holds (default unlimited)',
  MAX_LEASES_TO_STEAL_AT_ONCE:
    'leases asked for from a busier peer per taker pass when balancing (default 1; 0 turns balancing off)',
  SHARD_SYNC_INTERVAL_MS: 'how often the stream is listed for new shards (default 60000)',
  IDLE_TIME_BETWEEN_READS_MS: 'pause after an empty GetRecords (default 500)',
  READS_PER_SECOND:
    'GetRecords per second per shard at most, 1..5 (default 4; AWS throttles above 5 per shard, shared by all its readers)',
  MAX_RECORDS: 'records per GetRecords, 1..1000 (default 1000)',
  INITIAL_POSITION: 'TRIM_HORIZON or LATEST for shards without a checkpoint (default TRIM_HORIZON)',
  REPLICATION_WRITE_MODE: 'fenced (transactions fenced by the lease) or conditional (default fenced)',
  WRITE_CONCURRENCY:
    'conditional mode: puts in flight per shard (default 32); fenced mode writes one transaction at a time per shard (only 1 is accepted)',
  POISON_RECORD_POLICY: 'stop or dead-letter (default stop)',
  DEAD_LETTER_TABLE_NAME: 'table for records the target refuses (required with dead-letter)',
  SHUTDOWN_TIMEOUT_MS: 'longest graceful drain on SIGTERM before exiting anyway (default 20000)',
  LOG_LEVEL: 'trace, debug, info, warn, error or fatal (default info)',
  PEER_POD_SELECTOR:
    "label selector of this Deployment's pods: watched through the Kubernetes API, a peer whose pod is deleted or whose container stopped loses its leases at once (default unset: the lease duration alone)",
  POD_NAMESPACE: "namespace of those pods (default: this pod's own)",
} as const;

type Env = Record<string, string | undefined>;

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$|^ddblocal$|^local$/;
const STREAM_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):dynamodb:([a-z0-9-]+):(\d{12}):table\/([a-zA-Z0-9_.-]{3,255})\/stream\/([0-9A-Za-z:.\-_]+)$/;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
/** One requirement of a Kubernetes label selector: key, key=value, key!=value, key in (a,b), !key, … */
const SELECTOR_TERM =
  /^!?[A-Za-z0-9][-A-Za-z0-9_./]*(\s*(==?|!=)\s*[-A-Za-z0-9_.]*|\s+(in|notin)\s+\([-A-Za-z0-9_.,\s]*\))?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function text(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function required(env: Env, name: keyof typeof CONFIG_VARIABLES, hint: string): string {
  const value = text(env, name);
  if (value === undefined) throw new ConfigurationError(name, `is required: ${hint}.`);
  return value;
}

function integer(
  env: Env,
  name: keyof typeof CONFIG_VARIABLES,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw))
    throw new ConfigurationError(name, `expected a whole number from ${min} to ${max}, got "${raw}".`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigurationError(name, `expected a whole number from ${min} to ${max}, got "${raw}".`);
  }
  return value;
}

function oneOf<T extends string>(
  env: Env,
  name: keyof typeof CONFIG_VARIABLES,
  values: readonly T[],
  fallback: T,
): T {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const match = values.find((v) => v.toLowerCase() === raw.toLowerCase());
  if (!match) throw new ConfigurationError(name, `expected one of ${values.join(', ')}, got "${raw}".`);
  return match;
}

function tableName(env: Env, name: keyof typeof CONFIG_VARIABLES, what: string): string {
  const value = required(env, name, what);
  if (!TABLE_NAME.test(value)) {
    throw new ConfigurationError(
      name,
      `"${value}" is not a valid DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -).`,
    );
  }
  return value;
}

export function parseStreamArn(arn: string): StreamArnParts | undefined {
  const m = STREAM_ARN.exec(arn);
  if (!m) return undefined;
  const [, partition, region, accountId, tableName, label] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return { partition, region, accountId, tableName, label };
}

export function parseConfig(env: Env, hostname: string): WorkerConfig {
  const streamArn = required(
    env,
    'SOURCE_TABLE_STREAM_ARN',
    'the ARN of the source table stream (aws dynamodb describe-table --query Table.LatestStreamArn)',
  );
  const stream = parseStreamArn(streamArn);
  if (!stream) {
    throw new ConfigurationError(
      'SOURCE_TABLE_STREAM_ARN',
      `"${streamArn}" is not a DynamoDB stream ARN; expected arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE/stream/LABEL.`,
    );
  }
  const targetTableName = tableName(
    env,
    'TARGET_TABLE_NAME',
    'the table to replicate into, e.g. users_replica',
  );
  const applicationName = tableName(
    env,
    'APPLICATION_NAME',
    'a name for this consumer application; it names the lease table',
  );
  if (applicationName === targetTableName || applicationName === stream.tableName) {
    throw new ConfigurationError(
      'APPLICATION_NAME',
      `"${applicationName}" names the lease table and must differ from the source and target tables.`,
    );
  }
  const region = required(env, 'AWS_REGION', 'the AWS region of the tables, e.g. us-east-1');
  if (!REGION.test(region))
    throw new ConfigurationError('AWS_REGION', `"${region}" is not an AWS region name such as us-east-1.`);

  const instanceName = text(env, 'INSTANCE_NAME') ?? hostname;
  if (!/^[\w.:@/-]{1,128}$/.test(instanceName)) {
    throw new ConfigurationError(
      'INSTANCE_NAME',
      `"${instanceName}" must be 1-128 characters of letters, digits and . _ - : @ /.`,
    );
  }

  const leaseDurationMs = integer(env, 'LEASE_DURATION_MS', 10_000, 1_000, 600_000);
  const leaseRenewIntervalMs = integer(
    env,
    'LEASE_RENEW_INTERVAL_MS',
    Math.floor(leaseDurationMs / 3),
    100,
    600_000,
  );
  if (leaseRenewIntervalMs * 2 > leaseDurationMs) {
    throw new ConfigurationError(
      'LEASE_RENEW_INTERVAL_MS',
      `must be at most half of LEASE_DURATION_MS (${leaseDurationMs}) so a lease survives one missed renewal.`,
    );
  }
  const poisonPolicy = oneOf(env, 'POISON_RECORD_POLICY', Object.values(PoisonPolicy), PoisonPolicy.STOP);
  const deadLetterTableName = text(env, 'DEAD_LETTER_TABLE_NAME');
  if (poisonPolicy === PoisonPolicy.DEAD_LETTER && deadLetterTableName === undefined) {
    throw new ConfigurationError(
      'DEAD_LETTER_TABLE_NAME',
      'is required when POISON_RECORD_POLICY=dead-letter.',
    );
  }
  if (deadLetterTableName !== undefined) tableName(env, 'DEAD_LETTER_TABLE_NAME', 'the dead-letter table');

  const writeMode = oneOf(env, 'REPLICATION_WRITE_MODE', Object.values(WriteMode), WriteMode.FENCED);
  const writeConcurrency = integer(env, 'WRITE_CONCURRENCY', writeMode === WriteMode.FENCED ? 1 : 32, 1, 256);
  if (writeMode === WriteMode.FENCED && writeConcurrency !== 1) {
    throw new ConfigurationError(
      'WRITE_CONCURRENCY',
      `must be 1 (or unset) with REPLICATION_WRITE_MODE=fenced, got ${writeConcurrency}: every fenced transaction includes the shard's lease item, and AWS cancels a transaction that shares an item with one in flight (TransactionConflict). Use REPLICATION_WRITE_MODE=conditional for parallel writes.`,
    );
  }
  const peerPodSelector = text(env, 'PEER_POD_SELECTOR');
  if (peerPodSelector !== undefined && !selectorTerms(peerPodSelector).every((t) => SELECTOR_TERM.test(t))) {
    throw new ConfigurationError(
      'PEER_POD_SELECTOR',
      `"${peerPodSelector}" is not a Kubernetes label selector such as app.kubernetes.io/instance=users-replicator.`,
    );
  }
  const podNamespace = text(env, 'POD_NAMESPACE');
  if (podNamespace !== undefined && !DNS_LABEL.test(podNamespace))
    throw new ConfigurationError('POD_NAMESPACE', `"${podNamespace}" is not a Kubernetes namespace name.`);
  const logLevel = (text(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigurationError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}".`);

  return {
    streamArn,
    stream,
    targetTableName,
    applicationName,
    region,
    instanceName,
    port: integer(env, 'PORT', 8080, 0, 65_535),
    leaseDurationMs,
    leaseRenewIntervalMs,
    leaseTakerIntervalMs: integer(env, 'LEASE_TAKER_INTERVAL_MS', 1_000, 100, 600_000),
    leaseScanIntervalMs: integer(env, 'LEASE_SCAN_INTERVAL_MS', 30_000, 100, 3_600_000),
    maxLeasesPerWorker: integer(env, 'MAX_LEASES_PER_WORKER', 1_000_000, 1, 1_000_000),
    maxLeasesToStealAtOnce: integer(env, 'MAX_LEASES_TO_STEAL_AT_ONCE', 1, 0, 1_000),
    shardSyncIntervalMs: integer(env, 'SHARD_SYNC_INTERVAL_MS', 60_000, 1_000, 86_400_000),
    idleTimeBetweenReadsMs: integer(env, 'IDLE_TIME_BETWEEN_READS_MS', 500, 0, 60_000),
    readsPerSecond: integer(env, 'READS_PER_SECOND', 4, 1, 5),
    maxRecords: integer(env, 'MAX_RECORDS', 1_000, 1, 1_000),
    initialPosition: oneOf(
      env,
      'INITIAL_POSITION',
      Object.values(InitialPosition),
      InitialPosition.TRIM_HORIZON,
    ),
    writeMode,
    writeConcurrency,
    poisonPolicy,
    deadLetterTableName,
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 20_000, 1_000, 300_000),
    logLevel,
    peerPodSelector,
    podNamespace,
  };
}

/** A selector's requirements: split at the commas that are not inside a set `( … )`. */
function selectorTerms(selector: string): string[] {
  return selector.split(/,(?![^(]*\))/).map((term) => term.trim());
}
