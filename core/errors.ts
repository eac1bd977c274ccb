/**
 * Every error class of the domain code lives here (the KafkaJS habit): callers branch on the class or
 * on `code`, and retry helpers branch on `retriable`, never on message text.
 */

/** Base class: `code` is stable for machines, `retriable` tells a retry helper whether to try again. */
export class StreamfleetError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(message: string, options: { code: string; retriable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable;
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
