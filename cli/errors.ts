/**
 * What went wrong, as the person at the terminal needs it: one exit code and one message that says what to
 * do. 2 for what they typed (arguments, the input, an ARN AWS calls malformed), 3 for something to reach
 * that is not there (a state machine, an execution, credentials, an endpoint that does not answer; which
 * endpoint, and from which variable, is named). Pure: no SDK is loaded here, so `--help` stays fast.
 */
import { InvalidInputError, StreamfleetError } from '../core/vocabulary/errors.js';
import { type Env, ExitCode, UsageError } from './args.js';

export interface CliFailure {
  exitCode: number;
  message: string;
}

/** Errors AWS returns for a value the caller wrote wrong (Step Functions API reference, "Errors"). */
const BAD_REQUEST = new Set(['InvalidArn', 'InvalidName', 'InvalidExecutionInput', 'InvalidToken']);

/** Node's codes for a connection that could not be made or was cut. */
const UNREACHABLE = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH'];

/** The endpoint variables the SDK reads, most specific first (what npm start's streamfleet.env sets). */
const ENDPOINT_VARIABLES = [
  ['AWS_ENDPOINT_URL_SFN', 'Step Functions'],
  ['AWS_ENDPOINT_URL_DYNAMODB', 'DynamoDB'],
  ['AWS_ENDPOINT_URL_DYNAMODB_STREAMS', 'DynamoDB Streams'],
  ['AWS_ENDPOINT_URL', 'AWS'],
] as const;

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** Every error in the chain: the error, its causes, an AggregateError's members. */
function chain(error: unknown, seen = new Set<unknown>()): ErrorLike[] {
  if (!error || typeof error !== 'object' || seen.has(error)) return [];
  seen.add(error);
  const e = error as ErrorLike;
  return [
    e,
    ...chain(e.cause, seen),
    ...(Array.isArray(e.errors) ? e.errors.flatMap((member) => chain(member, seen)) : []),
  ];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The network code and the host:port the connection was for, when the error is one of not reaching. */
function unreachable(error: unknown): { code: string; address: string | undefined } | undefined {
  for (const e of chain(error)) {
    const code =
      UNREACHABLE.find((c) => e.code === c) ?? UNREACHABLE.find((c) => text(e.message).includes(c));
    if (!code) continue;
    const address = /(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]|[a-z0-9.-]+\.[a-z]{2,}):(\d+)/i.exec(
      chain(error)
        .map((m) => text(m.message))
        .join(' '),
    );
    return { code, address: address ? `${address[1]}:${address[2]}` : undefined };
  }
  return undefined;
}

function describeUnreachable(found: { code: string; address: string | undefined }, env: Env): string {
  const configured = ENDPOINT_VARIABLES.filter(([variable]) => env[variable] !== undefined);
  const match = configured.find(([variable]) => {
    const url = env[variable] ?? '';
    return found.address !== undefined && url.includes(found.address);
  });
  const what = match
    ? `${match[1]} at ${env[match[0]]} (${match[0]})`
    : found.address
      ? `the endpoint ${found.address}${env.KUBECONFIG ? ` (the Kubernetes API server of KUBECONFIG ${env.KUBECONFIG}?)` : ''}`
      : 'an endpoint';
  const remedy =
    configured.length > 0
      ? "these endpoints are an npm start run's: keep it running (npm start -- --keep-running) and source the streamfleet.env in that run's report folder (each run listens on ports of its own)."
      : 'check the network, the region (--region or AWS_REGION) and any AWS_ENDPOINT_URL_* or KUBECONFIG you set.';
  return `cannot reach ${what}: ${found.code}. What to do: ${remedy}`;
}

export function explainError(error: unknown, env: Env): CliFailure {
  if (error instanceof UsageError || error instanceof InvalidInputError)
    return { exitCode: ExitCode.Usage, message: error.message };
  const name = text((error as ErrorLike | undefined)?.name) || 'Error';
  const message = text((error as ErrorLike | undefined)?.message) || String(error);
  if (BAD_REQUEST.has(name)) return { exitCode: ExitCode.Usage, message: `${name}: ${message}` };
  const network = unreachable(error);
  if (network) return { exitCode: ExitCode.Unavailable, message: describeUnreachable(network, env) };
  if (error instanceof StreamfleetError) return { exitCode: ExitCode.Unavailable, message };
  const hints: Record<string, string> = {
    CredentialsProviderError:
      'configure AWS credentials (aws configure, AWS_PROFILE, or the variables), or for npm start source its streamfleet.env.',
    StateMachineDoesNotExist:
      'check --state-machine-arn and the region; without it the CLI finds <stack>-<workflow> by name.',
    ExecutionDoesNotExist:
      "check the ARN's region and account; npm start's local endpoint keeps executions only while that run goes on.",
  };
  const hint = hints[name];
  return {
    exitCode: ExitCode.Unavailable,
    message: `${name}: ${message}${hint ? `${/[.!?]$/.test(message) ? '' : '.'} What to do: ${hint}` : ''}`,
  };
}
