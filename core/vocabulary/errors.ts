/**
 * Every error class of the domain code lives here (the KafkaJS habit): callers branch on the class or
 * on `code`, and retry helpers branch on `retriable`, never on message text.
 */

/** Base class: `code` is stable for machines, `retriable` tells a retry helper whether to try again. */
export class StreamfleetError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(message: string, options: { code?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code =
      options.code ??
      new.target.name
        .replace(/Error$/, '')
        .replace(/([a-z])([A-Z])/g, '$1_$2')
        .toUpperCase();
    this.retriable = options.retriable ?? false;
  }
}

/**
 * A caller handed the domain code a value it cannot use. `field` names the input (dotted path for nested
 * values, e.g. `resources.limits.memory`); the message says what was expected and what was given.
 * Never retriable: the same input fails the same way.
 */
export class InvalidInputError extends StreamfleetError {
  readonly field: string;

  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(`${field}: ${message}`, { code: 'INVALID_INPUT', retriable: false, cause: options.cause });
    this.field = field;
  }
}

/**
 * A setting is missing or malformed. Fatal at start-up. `setting` names it as the caller wrote it: the
 * option of `startWorker` (`leaseDurationMs`) or the environment variable (`LEASE_DURATION_MS`).
 */
export class ConfigurationError extends StreamfleetError {
  readonly setting: string;
  constructor(setting: string, message: string, options: { cause?: unknown } = {}) {
    super(`${setting}: ${message}`, options);
    this.setting = setting;
  }

  /** The setting's name (the older word for it, kept for callers that read it). */
  get variable(): string {
    return this.setting;
  }
}

/** A resource the worker needs (stream, target table) does not exist or cannot be used. Fatal. */
export class ResourceError extends StreamfleetError {}

/**
 * A condition that clears up by itself (throttling, a 5xx, a resource still being created): the same call
 * may succeed later. Control-plane handlers throw it so Step Functions can retry on its name.
 */
export class TransientError extends StreamfleetError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: 'TRANSIENT', retriable: true, cause: options.cause });
  }
}

/**
 * Something the operation relies on is not in place (KEDA not installed, no such cluster, a table that must
 * exist). Not retriable: a person has to act; the message says what to do.
 */
export class PreconditionError extends StreamfleetError {
  /** What to do about it, in one or two sentences. Also part of `message`. */
  readonly remedy: string;
  constructor(problem: string, remedy: string, options: { cause?: unknown } = {}) {
    super(`${problem} What to do: ${remedy}`, {
      code: 'PRECONDITION',
      retriable: false,
      cause: options.cause,
    });
    this.remedy = remedy;
  }
}

/** A `Status` object the API server answered with. */
export interface KubernetesStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

/** The API server refused a request for a reason no retry fixes. `status` is the HTTP status. */
export class KubernetesApiError extends StreamfleetError {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(method: string, path: string, status: number, body: KubernetesStatus | undefined) {
    super(
      `Kubernetes API ${method} ${path} answered ${status}${body?.reason ? ` ${body.reason}` : ''}: ${body?.message ?? 'no message'}`,
      { code: 'KUBERNETES_API', retriable: false },
    );
    this.status = status;
    this.reason = body?.reason;
  }
}

/** A shard the stream no longer lists or serves (closed shards expire 24 hours after closing). */
export class ShardGoneError extends StreamfleetError {
  readonly shardId: string;
  constructor(shardId: string, cause?: unknown) {
    super(`Shard ${shardId} no longer exists in the stream; records not read before it expired are lost.`, {
      cause,
    });
    this.shardId = shardId;
  }
}

/**
 * The stream keeps refusing to start reading a shard at a position (e.g. a checkpoint edited beyond the shard
 * by hand). Not retriable where it is thrown: the shard consumer restarts and reads its checkpoint afresh.
 */
export class UnreadablePositionError extends StreamfleetError {
  readonly shardId: string;
  readonly position: string;
  constructor(shardId: string, position: string, attempts: number, cause: unknown) {
    super(
      `GetShardIterator for shard ${shardId} at ${position} failed ${attempts} times (${errorName(cause)}). ` +
        'What to do: if this checkpoint was edited by hand, set it back to a sequence number of the shard or to TRIM_HORIZON; the worker picks it up within seconds.',
      { code: 'UNREADABLE_POSITION', retriable: false, cause },
    );
    this.shardId = shardId;
    this.position = position;
  }
}

/**
 * A record that cannot be processed, ever: the processor failed on it alone `processorMaxAttempts` times, or
 * DynamoDB refuses its writes for good (an item over 400 KB, say). With the `stop` policy its shard stops
 * before it.
 */
export class PoisonRecordError extends StreamfleetError {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly reason: string;
  constructor(shardId: string, sequenceNumber: string, reason: string, cause?: unknown) {
    super(
      `Record ${sequenceNumber} of shard ${shardId} cannot be processed (${reason}). ` +
        'The shard is stopped before it so nothing is skipped silently; fix the cause, or set the ' +
        'poison-record policy to dead-letter (POISON_RECORD_POLICY=dead-letter with DEAD_LETTER_TABLE_NAME) ' +
        'to record such records and move on.',
      { cause },
    );
    this.shardId = shardId;
    this.sequenceNumber = sequenceNumber;
    this.reason = reason;
  }
}

/** The processor's `processRecords` did not settle within `processorTimeoutMs`; its signal was aborted. */
export class ProcessorTimeoutError extends StreamfleetError {
  readonly shardId: string;
  readonly firstSequenceNumber: string;
  readonly lastSequenceNumber: string;
  constructor(processor: string, shardId: string, first: string, last: string, timeoutMs: number) {
    super(
      `${processor}: processRecords for shard ${shardId}, records ${first}..${last}, did not settle within ` +
        `${timeoutMs} ms (processorTimeoutMs / PROCESSOR_TIMEOUT_MS). Its signal was aborted and the batch will be ` +
        'tried again; what that call still does is not fenced unless it goes through returned writes. ' +
        'Find what it waits on, or raise the timeout if such batches are expected to take longer.',
      { code: 'PROCESSOR_TIMEOUT', retriable: true },
    );
    this.shardId = shardId;
    this.firstSequenceNumber = first;
    this.lastSequenceNumber = last;
  }
}

/** A write `processRecords` returned is not one the worker can commit (a processor bug: the batch is retried). */
export class InvalidWriteError extends StreamfleetError {
  constructor(shardId: string, index: number, lastSequenceNumber: string, problem: string) {
    super(
      `Write ${index} returned for shard ${shardId} (batch ending at ${lastSequenceNumber}): ${problem}. ` +
        'Return TransactWriteItems items, or { item, sequenceNumber?, onConditionFailed? } (docs/processors.md).',
      { code: 'INVALID_WRITE', retriable: false },
    );
  }
}

/**
 * A returned write whose condition failed, and that did not say `onConditionFailed: 'skip'`: the batch's
 * transaction was cancelled as a whole and the batch is tried again.
 */
export class WriteConditionFailedError extends StreamfleetError {
  readonly tableName: string;
  readonly sequenceNumber: string;
  constructor(shardId: string, tableName: string, sequenceNumber: string) {
    super(
      `The condition of a write to ${tableName} (record ${sequenceNumber} of shard ${shardId}) failed, so its ` +
        "transaction was not committed. If such a write is obsolete when its condition fails, mark it onConditionFailed: 'skip'.",
      { code: 'WRITE_CONDITION_FAILED', retriable: false },
    );
    this.tableName = tableName;
    this.sequenceNumber = sequenceNumber;
  }
}

/** Error names the AWS SDK reports for conditions that clear up by themselves. */
const RETRIABLE_AWS_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'LimitExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

const THROTTLING_AWS_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'LimitExceededException',
  'RequestLimitExceeded',
]);

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

interface AwsLikeError {
  name?: unknown;
  code?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

export function errorName(error: unknown): string {
  if (error && typeof error === 'object' && 'name' in error && typeof error.name === 'string')
    return error.name;
  return 'Error';
}

/** True when AWS (or the network) says the same call may succeed later. */
export function isRetriableAwsError(error: unknown): boolean {
  if (error instanceof StreamfleetError) return error.retriable;
  if (!error || typeof error !== 'object') return false;
  const e = error as AwsLikeError;
  if (typeof e.name === 'string' && RETRIABLE_AWS_ERRORS.has(e.name)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return true;
  if (e.cause && e.cause !== error) return isRetriableAwsError(e.cause);
  return false;
}

export function isThrottlingError(error: unknown): boolean {
  return THROTTLING_AWS_ERRORS.has(errorName(error));
}

export function isConditionalCheckFailure(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

/**
 * AWS refused a write because a transaction held one of its items (DynamoDB developer guide, "Transaction
 * conflict handling"): a single-item write gets `TransactionConflictException`; a transaction is cancelled with
 * reason `TransactionConflict`. Both clear up once the other transaction ends: retry after a short pause.
 */
export function isTransactionConflict(error: unknown): boolean {
  const name = errorName(error);
  if (name === 'TransactionConflictException') return true;
  if (name !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.some((reason) => reason.Code === 'TransactionConflict');
}
