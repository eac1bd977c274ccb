/**
 * TEST FIXTURE — the DynamoDB Streams JSON 1.0 protocol vocabulary used by the scripted endpoint:
 * operation names, the target header prefix, and errors in the wire shape the AWS SDK parses
 * (`{"__type":"com.amazonaws.dynamodb.v20120810#<Name>","message":"..."}`).
 */

export const TARGET_PREFIX = 'DynamoDBStreams_20120810.';
export const CONTENT_TYPE = 'application/x-amz-json-1.0';
export const ERROR_NAMESPACE = 'com.amazonaws.dynamodb.v20120810';

export const OPERATIONS = ['DescribeStream', 'ListStreams', 'GetShardIterator', 'GetRecords'] as const;
export type Operation = (typeof OPERATIONS)[number];

export function isOperation(name: string): name is Operation {
  return (OPERATIONS as readonly string[]).includes(name);
}

/** Every error the endpoint can answer, with its HTTP status. */
export const ERROR_STATUS = {
  ExpiredIteratorException: 400,
  InternalServerError: 500,
  LimitExceededException: 400,
  ResourceNotFoundException: 400,
  TrimmedDataAccessException: 400,
  ValidationException: 400,
  SerializationException: 400,
  UnknownOperationException: 400,
} as const;
export type StreamsErrorName = keyof typeof ERROR_STATUS;

export class StreamsApiError extends Error {
  override readonly name = 'StreamsApiError';

  constructor(
    readonly errorName: StreamsErrorName,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.errorName];
  }

  toBody(): { __type: string; message: string } {
    return { __type: `${ERROR_NAMESPACE}#${this.errorName}`, message: this.message };
  }
}
