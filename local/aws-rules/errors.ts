/**
 * AWS error answers in the JSON 1.0 wire shape that DynamoDB and DynamoDB Streams send and the AWS SDK
 * parses: HTTP 400, `content-type: application/x-amz-json-1.0`, and a body whose `__type` names the
 * error after the service's namespace. The SDK takes the error's `name` from the part after `#`, its
 * message from `message` or `Message`, and the other fields (`CancellationReasons`) as members.
 */
import { randomUUID } from 'node:crypto';

export const ERROR_NAMESPACE = 'com.amazonaws.dynamodb.v20120810';
export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';

/** An answer the layer sends instead of forwarding the request. */
export interface AwsErrorReply {
  readonly status: number;
  /** The error name, as `error.name` in the SDK. */
  readonly type: string;
  readonly body: string;
}

export function awsError(type: string, message: string, status = 400): AwsErrorReply {
  return { status, type, body: JSON.stringify({ __type: `${ERROR_NAMESPACE}#${type}`, message }) };
}

export const TRANSACTION_ONGOING = 'Transaction is ongoing for the item';

/** A single PutItem/UpdateItem/DeleteItem on an item an ongoing TransactWriteItems holds. */
export function transactionConflict(): AwsErrorReply {
  return awsError('TransactionConflictException', TRANSACTION_ONGOING);
}

export type CancellationReason =
  | { readonly Code: 'None' }
  | { readonly Code: 'TransactionConflict'; readonly Message: typeof TRANSACTION_ONGOING };

/**
 * A TransactWriteItems cancelled because some of its items are held by another ongoing transaction:
 * one reason per TransactItem, in order. `Message` is capitalised here as DynamoDB (and DynamoDB Local)
 * write it for this error.
 */
export function transactionCanceled(conflicting: readonly boolean[]): AwsErrorReply {
  const reasons: CancellationReason[] = conflicting.map((conflict) =>
    conflict ? { Code: 'TransactionConflict', Message: TRANSACTION_ONGOING } : { Code: 'None' },
  );
  const summary = reasons.map((reason) => reason.Code).join(', ');
  return {
    status: 400,
    type: 'TransactionCanceledException',
    body: JSON.stringify({
      __type: `${ERROR_NAMESPACE}#TransactionCanceledException`,
      CancellationReasons: reasons,
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${summary}]`,
    }),
  };
}

export function limitExceeded(message: string): AwsErrorReply {
  return awsError('LimitExceededException', message);
}

/**
 * A request IAM refused: HTTP 400 `AccessDeniedException`, in the namespace DynamoDB uses for it
 * (`com.amazon.coral.service#AccessDeniedException`; the SDK takes the name after `#` either way), with
 * AWS's message (see `accessDeniedMessage` in core/iam/iam-evaluation.ts).
 */
export function accessDenied(message: string): AwsErrorReply {
  return {
    status: 400,
    type: 'AccessDeniedException',
    body: JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', Message: message }),
  };
}

/** Headers for an error reply; `x-amzn-requestid` as the services send it. */
export function errorHeaders(reply: AwsErrorReply): Record<string, string | number> {
  return {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(reply.body),
    'x-amzn-requestid': randomUUID(),
  };
}

/**
 * The error name in a JSON 1.0 error body (`{"__type":"...#Name", ...}`), or undefined. For the small
 * error answers of upstream; never used on a success body.
 */
export function errorTypeOf(body: string): string | undefined {
  const match = /"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"/.exec(body);
  return match?.[1];
}
