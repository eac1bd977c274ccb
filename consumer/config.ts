/**
 * The worker's settings (one definition for `startWorker`'s options and the container's environment), and the
 * environment door: `node dist/consumer.js` reads the variables, validates them once at start-up, and picks
 * the processor (a module named by PROCESSOR_MODULE, or the built-in replication). Every problem names the
 * setting and says what is expected; nothing is written anywhere before this succeeds.
 */
import { ConfigurationError } from '../core/vocabulary/errors.js';
import {
  REPLICATION_SETTINGS,
  type ReplicationSettings,
  readReplicationSettings,
} from './replication/settings.js';
import {
  integerSetting,
  integerWithDefault,
  oneOfSetting,
  patternSetting,
  readSettings,
  requiredTableName,
  type SettingSpec,
  type SettingsSource,
  settingName,
  tableNameSetting,
} from './settings.js';

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

const STREAM_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):dynamodb:([a-z0-9-]+):(\d{12}):table\/([a-zA-Z0-9_.-]{3,255})\/stream\/([0-9A-Za-z:.\-_]+)$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$|^ddblocal$|^local$/;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** One requirement of a Kubernetes label selector: key, key=value, key!=value, key in (a,b), !key, … */
const SELECTOR_TERM =
  /^!?[A-Za-z0-9][-A-Za-z0-9_./]*(\s*(==?|!=)\s*[-A-Za-z0-9_.]*|\s+(in|notin)\s+\([-A-Za-z0-9_.,\s]*\))?$/;
/** A label selector: its requirements split at the commas that are not inside a set `( … )`. */
const LABEL_SELECTOR = {
  test: (selector: string) =>
    selector
      .split(/,(?![^(]*\))/)
      .map((term) => term.trim())
      .every((term) => SELECTOR_TERM.test(term)),
};
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

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

/** Every setting of the worker, whatever its processor. */
export const WORKER_SETTINGS = {
  applicationName: requiredTableName({
    option: 'applicationName',
    variable: 'APPLICATION_NAME',
    doc: 'name of the application; also the lease table name (required)',
    required: 'a name for this consumer application; it names the lease table',
  }),
  streamArn: patternSetting({
    option: 'streamArn',
    variable: 'SOURCE_TABLE_STREAM_ARN',
    doc: "ARN of the source table's stream (required, unless the table's name is given instead)",
    pattern: STREAM_ARN,
    describe: (value) =>
      `"${value}" is not a DynamoDB stream ARN; expected arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE/stream/LABEL.`,
  }),
  tableName: tableNameSetting({
    option: 'tableName',
    variable: 'SOURCE_TABLE_NAME',
    doc: "the source table, whose current stream is read, instead of the stream's ARN (needs dynamodb:DescribeTable on it)",
  }),
  region: patternSetting({
    option: 'region',
    variable: 'AWS_REGION',
    doc: 'AWS region of the tables (required; startWorker reads AWS_REGION when it is not given)',
    pattern: REGION,
    describe: (value) => `"${value}" is not an AWS region name such as us-east-1.`,
    required: 'the AWS region of the tables, e.g. us-east-1',
  }),
  instanceName: patternSetting({
    option: 'instanceName',
    variable: 'INSTANCE_NAME',
    doc: "this worker's id: the lease owner it writes, stamped into processed_by by replication (default: host name)",
    pattern: /^[\w.:@/-]{1,128}$/,
    describe: (value) => `"${value}" must be 1-128 characters of letters, digits and . _ - : @ /.`,
  }),
  port: integerWithDefault({
    option: 'port',
    variable: 'PORT',
    doc: 'port of /healthz, /readyz and /metrics (default 8080; 0 picks a free one)',
    fallback: 8_080,
    min: 0,
    max: 65_535,
  }),
  leaseDurationMs: integerWithDefault({
    option: 'leaseDurationMs',
    variable: 'LEASE_DURATION_MS',
    doc: 'a lease whose counter has not changed for this long is expired (default 10000)',
    fallback: 10_000,
    min: 1_000,
    max: 600_000,
  }),
  leaseRenewIntervalMs: integerSetting({
    option: 'leaseRenewIntervalMs',
    variable: 'LEASE_RENEW_INTERVAL_MS',
    doc: 'how often held leases are renewed (default lease duration / 3)',
    min: 100,
    max: 600_000,
  }),
  leaseTakerIntervalMs: integerWithDefault({
    option: 'leaseTakerIntervalMs',
    variable: 'LEASE_TAKER_INTERVAL_MS',
    doc: 'how often a worker checks its own leases and its peers (default 1000)',
    fallback: 1_000,
    min: 100,
    max: 600_000,
  }),
  leaseScanIntervalMs: integerWithDefault({
    option: 'leaseScanIntervalMs',
    variable: 'LEASE_SCAN_INTERVAL_MS',
    doc: 'longest time between full reads of the lease table when nothing changes (default 30000)',
    fallback: 30_000,
    min: 100,
    max: 3_600_000,
  }),
  maxLeasesPerWorker: integerWithDefault({
    option: 'maxLeasesPerWorker',
    variable: 'MAX_LEASES_PER_WORKER',
    doc: 'upper bound on leases one worker holds (default unlimited)',
    fallback: 1_000_000,
    min: 1,
    max: 1_000_000,
  }),
  maxLeasesToStealAtOnce: integerWithDefault({
    option: 'maxLeasesToStealAtOnce',
    variable: 'MAX_LEASES_TO_STEAL_AT_ONCE',
    doc: 'leases asked for from a busier peer per taker pass when balancing (default 1; 0 turns balancing off)',
    fallback: 1,
    min: 0,
    max: 1_000,
  }),
  shardSyncIntervalMs: integerWithDefault({
    option: 'shardSyncIntervalMs',
    variable: 'SHARD_SYNC_INTERVAL_MS',
    doc: 'how often the stream is listed for new shards (default 60000)',
    fallback: 60_000,
    min: 1_000,
    max: 86_400_000,
  }),
  idleTimeBetweenReadsMs: integerWithDefault({
    option: 'idleTimeBetweenReadsMs',
    variable: 'IDLE_TIME_BETWEEN_READS_MS',
    doc: 'pause after an empty GetRecords (default 500)',
    fallback: 500,
    min: 0,
    max: 60_000,
  }),
  readsPerSecond: integerWithDefault({
    option: 'readsPerSecond',
    variable: 'READS_PER_SECOND',
    doc: 'GetRecords per second per shard at most, 1..5 (default 4; AWS throttles above 5 per shard, shared by all its readers)',
    fallback: 4,
    min: 1,
    max: 5,
  }),
  maxRecords: integerWithDefault({
    option: 'maxRecords',
    variable: 'MAX_RECORDS',
    doc: 'records per GetRecords, so at most per processRecords call, 1..1000 (default 1000)',
    fallback: 1_000,
    min: 1,
    max: 1_000,
  }),
  initialPosition: oneOfSetting({
    option: 'initialPosition',
    variable: 'INITIAL_POSITION',
    doc: 'TRIM_HORIZON or LATEST for shards without a checkpoint (default TRIM_HORIZON)',
    values: Object.values(InitialPosition),
    fallback: InitialPosition.TRIM_HORIZON,
  }),
  poisonRecordPolicy: oneOfSetting({
    option: 'poisonRecordPolicy',
    variable: 'POISON_RECORD_POLICY',
    doc: 'stop or dead-letter: what happens to a record that cannot be processed (default stop)',
    values: Object.values(PoisonPolicy),
    fallback: PoisonPolicy.STOP,
  }),
  deadLetterTableName: tableNameSetting({
    option: 'deadLetterTableName',
    variable: 'DEAD_LETTER_TABLE_NAME',
    doc: 'table for poison records (required with dead-letter; created on-demand if absent)',
  }),
  processorTimeoutMs: integerWithDefault({
    option: 'processorTimeoutMs',
    variable: 'PROCESSOR_TIMEOUT_MS',
    doc: 'longest a processRecords call may take before it counts as failed and its signal aborts (default 60000)',
    fallback: 60_000,
    min: 100,
    max: 3_600_000,
  }),
  processorMaxAttempts: integerWithDefault({
    option: 'processorMaxAttempts',
    variable: 'PROCESSOR_MAX_ATTEMPTS',
    doc: 'attempts of a failing batch before it is split to find the record at fault, and of that record before the poison-record policy applies (default 3)',
    fallback: 3,
    min: 1,
    max: 100,
  }),
  checkpointIntervalMs: integerWithDefault({
    option: 'checkpointIntervalMs',
    variable: 'CHECKPOINT_INTERVAL_MS',
    doc: 'checkpoints not carried by a transaction are written at most this often; a graceful stop writes the last one (default 1000; 0: after every batch)',
    fallback: 1_000,
    min: 0,
    max: 600_000,
  }),
  shutdownTimeoutMs: integerWithDefault({
    option: 'shutdownTimeoutMs',
    variable: 'SHUTDOWN_TIMEOUT_MS',
    doc: 'longest graceful drain (SIGTERM, or stop()) before the batches in hand are abandoned (default 20000)',
    fallback: 20_000,
    min: 1_000,
    max: 300_000,
  }),
  peerPodSelector: patternSetting({
    option: 'peerPodSelector',
    variable: 'PEER_POD_SELECTOR',
    doc: "label selector of this Deployment's pods: watched through the Kubernetes API, a peer whose pod is deleted or whose container stopped loses its leases at once (default unset: the lease duration alone)",
    pattern: LABEL_SELECTOR,
    describe: (value) =>
      `"${value}" is not a Kubernetes label selector such as app.kubernetes.io/instance=users-replicator.`,
  }),
  podNamespace: patternSetting({
    option: 'podNamespace',
    variable: 'POD_NAMESPACE',
    doc: "namespace of those pods (default: this pod's own)",
    pattern: DNS_LABEL,
    describe: (value) => `"${value}" is not a Kubernetes namespace name.`,
  }),
  logLevel: oneOfSetting({
    option: 'logLevel',
    variable: 'LOG_LEVEL',
    doc: 'trace, debug, info, warn, error, fatal or silent (default info)',
    values: LOG_LEVELS,
    fallback: 'info',
  }),
} as const satisfies Record<string, SettingSpec<unknown>>;

/** Only the container reads it: a library caller passes its processor to startWorker. */
export const PROCESSOR_MODULE = {
  variable: 'PROCESSOR_MODULE',
  doc: 'path or package of a module exporting a record processor (default or `processor` export); unset: replication into TARGET_TABLE_NAME',
} as const;

export type WorkerSettings = {
  -readonly [K in keyof typeof WORKER_SETTINGS]: (typeof WORKER_SETTINGS)[K] extends SettingSpec<infer T>
    ? T
    : never;
} & {
  region: string;
  instanceName: string;
  leaseRenewIntervalMs: number;
  poisonRecordPolicy: PoisonPolicy;
  initialPosition: InitialPosition;
  logLevel: LogLevel;
  /** The stream ARN's parts; undefined until the stream of `tableName` is known. */
  stream: StreamArnParts | undefined;
};

/**
 * Reads and cross-checks the worker's settings from options or the environment. `hostname` is the default
 * instance name.
 */
export function resolveWorkerSettings(
  values: Readonly<Record<string, unknown>>,
  source: SettingsSource,
  hostname: string,
): WorkerSettings {
  const name = (key: keyof typeof WORKER_SETTINGS) => settingName(WORKER_SETTINGS[key], source);
  // The stream comes first: without it nothing else matters (and it is what a new user forgets).
  const given = (key: keyof typeof WORKER_SETTINGS) => {
    const value = values[name(key)];
    return value !== undefined && !(typeof value === 'string' && value.trim() === '');
  };
  if (!given('streamArn') && !given('tableName')) {
    throw new ConfigurationError(
      name('streamArn'),
      source === 'environment'
        ? 'is required: the ARN of the source table stream (aws dynamodb describe-table --query Table.LatestStreamArn).'
        : `is required (or ${name('tableName')}): the ARN of the source table stream, or the table whose stream to read.`,
    );
  }
  const read = readSettings(WORKER_SETTINGS, values, source);
  if (read.streamArn !== undefined && read.tableName !== undefined) {
    throw new ConfigurationError(
      name('tableName'),
      `give either ${name('streamArn')} or ${name('tableName')}, not both.`,
    );
  }
  const stream = read.streamArn === undefined ? undefined : parseStreamArn(read.streamArn);
  const sourceTable = stream?.tableName ?? read.tableName;
  if (read.applicationName === sourceTable) {
    throw new ConfigurationError(
      name('applicationName'),
      `"${read.applicationName}" names the lease table and must differ from the source and target tables.`,
    );
  }
  const leaseRenewIntervalMs = read.leaseRenewIntervalMs ?? Math.floor(read.leaseDurationMs / 3);
  if (leaseRenewIntervalMs * 2 > read.leaseDurationMs) {
    throw new ConfigurationError(
      name('leaseRenewIntervalMs'),
      `must be at most half of ${name('leaseDurationMs')} (${read.leaseDurationMs}) so a lease survives one missed renewal.`,
    );
  }
  if (read.poisonRecordPolicy === PoisonPolicy.DEAD_LETTER && read.deadLetterTableName === undefined) {
    throw new ConfigurationError(
      name('deadLetterTableName'),
      `is required when ${name('poisonRecordPolicy')}=dead-letter.`,
    );
  }
  return {
    ...read,
    region: read.region as string, // required: read() throws when it is missing
    instanceName: read.instanceName ?? hostname,
    leaseRenewIntervalMs,
    logLevel: read.logLevel.toLowerCase() as LogLevel,
    stream,
  };
}

/** The container's configuration: the worker's settings and which processor to run. */
export type EnvironmentConfig = WorkerSettings & {
  /** PROCESSOR_MODULE, or undefined for the built-in replication. */
  processorModule: string | undefined;
  /** Replication's settings when it is the processor. */
  replication: ReplicationSettings | undefined;
};

/** Every variable the worker reads, with its meaning: the docs' tables are checked against this list. */
export const CONFIG_VARIABLES: Readonly<Record<string, string>> = Object.fromEntries([
  ...Object.values(WORKER_SETTINGS).map((spec) => [spec.variable, spec.doc]),
  [PROCESSOR_MODULE.variable, PROCESSOR_MODULE.doc],
  ...Object.values(REPLICATION_SETTINGS).map((spec) => [spec.variable, spec.doc]),
]);

type Env = Record<string, string | undefined>;

export function parseConfig(env: Env, hostname: string): EnvironmentConfig {
  const worker = resolveWorkerSettings(env, 'environment', hostname);
  const module = env[PROCESSOR_MODULE.variable]?.trim() || undefined;
  const replication =
    module === undefined
      ? readReplicationSettings(env, 'environment', { applicationName: worker.applicationName })
      : undefined;
  return { ...worker, processorModule: module, replication };
}
