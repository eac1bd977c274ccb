/**
 * Runs the real statemachines/*.asl.json on this machine with aws-local-stepfunctions: placeholders are
 * substituted with local function ARNs, the definition is validated with asl-validator, and every Task
 * state is bound to the real handler in functions/ — invoked the way Lambda invokes it (a context object;
 * an error becomes `Error` = its name and `Cause` = the JSON `{ errorType, errorMessage, trace }`), so the
 * same Retry, Catch and failure states work locally and on AWS. Wait and retry delays can be shortened.
 */
import './polyfills.js';
import { randomUUID } from 'node:crypto';
import validateAsl from 'asl-validator';
import type { Context } from 'aws-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { ClusterMode, type ControlPlaneConfig } from '../../core/control-plane-config.js';
import { configureControlPlane, controlPlanePorts, withInvocationCredentials } from '../../core/ports.js';
import {
  ControlPlaneFunction,
  FUNCTION_ARN_PLACEHOLDERS,
  functionArn,
  functionArnSubstitutions,
  readWorkflowDefinition,
  substitutePlaceholders,
  type Workflow,
} from '../../core/workflows.js';
import { type HandlerIdentities, handlerIdentitiesFor } from '../identities/handler-identities.js';
import { localStsAt } from '../identities/sts.js';
import { type LambdaLike, loadHandler } from './handlers.js';

export type { LogLevel } from '../../core/observability.js';
export type { LambdaLike } from './handlers.js';

import type { LogLevel } from '../../core/observability.js';

export interface RunWorkflowOptions {
  /** The handlers' configuration; default: the local mode against `AWS_ENDPOINT_URL`, or the ports already configured. */
  controlPlane?: ControlPlaneConfig;
  /** Every Wait state waits this many milliseconds instead of its Seconds. */
  waitMs?: number;
  /** Per Wait state, in milliseconds (wins over `waitMs`). */
  waitTimeOverrides?: Record<string, number>;
  /** Every retry waits this many milliseconds instead of its backoff. */
  retryMs?: number;
  /** Replace handlers (e.g. to inject a fault); the rest are the real ones. */
  handlers?: Partial<Record<ControlPlaneFunction, LambdaLike>>;
  executionName?: string;
  /** Abort the execution after this long. */
  timeoutMs?: number;
  /** The handlers' log level (Powertools Logger). Default WARN. */
  logLevel?: LogLevel;
  /** Called with each event of the execution as it happens (a live view, the local Step Functions API). */
  onEvent?: (event: LocalExecutionEvent) => void;
  /** Aborts the execution when it fires (StopExecution). */
  signal?: AbortSignal;
  /**
   * Who each handler runs as. Default: when the handlers' endpoint is a strict layer, a session of its
   * function's role as the CDK app deploys it for the input's fleet (local/identities), so the layer's `iam`
   * rule judges every call; otherwise (or with `false`) the dummy credentials, unchecked.
   */
  identities?: HandlerIdentities | false;
}

/** One entry of aws-local-stepfunctions' event log. */
export type LocalExecutionEvent =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export const ExecutionStatus = {
  Succeeded: 'SUCCEEDED',
  Failed: 'FAILED',
  TimedOut: 'TIMED_OUT',
  Aborted: 'ABORTED',
} as const;
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus];

export interface HistoryEvent {
  type: string;
  state?: string;
  error?: string;
  cause?: string;
  at: number;
}

export interface WorkflowExecution {
  workflow: Workflow;
  executionName: string;
  status: ExecutionStatus;
  output?: unknown;
  /** The Fail state's (or the runtime's) Error and Cause. */
  error?: string;
  cause?: string;
  history: HistoryEvent[];
  durationMs: number;
}

/** The definition with local function ARNs in place of the placeholders. */
export function localWorkflowDefinition(workflow: Workflow): StateMachineDefinition {
  const text = substitutePlaceholders(
    readWorkflowDefinition(workflow),
    functionArnSubstitutions((fn) => functionArn(fn)),
  );
  return JSON.parse(text) as StateMachineDefinition;
}

/** asl-validator's verdict on a definition (it annotates what it is given, so it gets a copy). */
export function validateWorkflowDefinition(definition: unknown): { valid: boolean; errors: string[] } {
  const result = validateAsl(structuredClone(definition));
  return { valid: result.isValid, errors: result.errors.map((e) => `${e['Error code']}: ${e.Message}`) };
}

interface StateNode {
  Type?: string;
  Resource?: string;
  Retry?: unknown;
  Branches?: { States?: Record<string, StateNode> }[];
  ItemProcessor?: { States?: Record<string, StateNode> };
  Iterator?: { States?: Record<string, StateNode> };
}

/** Every state of a definition, nested ones (Parallel branches, Map processors) included. */
export function allStates(states: Record<string, StateNode>): [string, StateNode][] {
  const out: [string, StateNode][] = [];
  for (const [name, state] of Object.entries(states)) {
    out.push([name, state]);
    for (const branch of state.Branches ?? []) out.push(...allStates(branch.States ?? {}));
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) out.push(...allStates(processor.States ?? {}));
  }
  return out;
}

function lambdaContext(fn: ControlPlaneFunction, arn: string): Context {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: `streamfleet-${fn}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: arn,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/streamfleet-${fn}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => 900_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** What Lambda reports for a thrown error: Error = errorType, Cause = this JSON. */
function lambdaError(error: unknown): Error {
  const e = error instanceof Error ? error : new Error(String(error));
  const failure = new Error(
    JSON.stringify({
      errorType: e.name,
      errorMessage: e.message,
      trace: (e.stack ?? '').split('\n').slice(1, 6),
    }),
  );
  failure.name = e.name;
  return failure;
}

let observabilityPrepared = false;

async function prepareObservability(level: LogLevel): Promise<void> {
  if (!observabilityPrepared) {
    // Read by Powertools when core/observability.ts is first imported, which happens just below.
    process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
    process.env.POWERTOOLS_LOG_LEVEL ??= level;
    observabilityPrepared = true;
  }
  const { setControlPlaneLogLevel } = await import('../../core/observability.js');
  setControlPlaneLogLevel(level);
}

/** The handlers' identities: as given, or found from the configured endpoint (see `identities`). */
async function handlerIdentitiesOf(
  given: HandlerIdentities | false | undefined,
): Promise<HandlerIdentities | undefined> {
  if (given === false) return undefined;
  if (given) return given;
  const { config } = controlPlanePorts();
  if (config.clusterMode !== ClusterMode.Local) return undefined;
  const sts = await localStsAt(config.endpoint);
  return sts.checked ? handlerIdentitiesFor(sts) : undefined;
}

export async function runWorkflowLocally(
  workflow: Workflow,
  input: unknown,
  options: RunWorkflowOptions = {},
): Promise<WorkflowExecution> {
  const started = Date.now();
  await prepareObservability(options.logLevel ?? 'WARN');
  if (options.controlPlane) configureControlPlane(options.controlPlane);
  else if (process.env.CLUSTER_MODE === undefined) {
    configureControlPlane({
      clusterMode: ClusterMode.Local,
      region: process.env.AWS_REGION ?? 'us-east-1',
      endpoint: process.env.AWS_ENDPOINT_URL,
      alertsTopicArn: undefined,
      metricsNamespace: 'Streamfleet',
    });
  }
  const identities = await handlerIdentitiesOf(options.identities);
  const definition = localWorkflowDefinition(workflow);
  const validation = validateWorkflowDefinition(definition);
  if (!validation.valid) {
    throw new Error(`statemachines/${workflow}.asl.json is not valid ASL:\n${validation.errors.join('\n')}`);
  }

  const byArn = new Map(Object.values(FUNCTION_ARN_PLACEHOLDERS).map((fn) => [functionArn(fn), fn] as const));
  const taskResourceLocalHandlers: Record<string, (event: never) => Promise<never>> = {};
  const waitTimeOverrides: Record<string, number> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const [name, state] of allStates(definition.States as Record<string, StateNode>)) {
    if (state.Type === 'Task' && state.Resource) {
      const fn = byArn.get(state.Resource);
      if (!fn)
        throw new Error(
          `Task ${name} of ${workflow} names ${state.Resource}, which is no Streamfleet function.`,
        );
      const arn = state.Resource;
      taskResourceLocalHandlers[name] = async (event: unknown) => {
        const handler = options.handlers?.[fn] ?? (await loadHandler(fn));
        try {
          const invoke = () => handler(structuredClone(event), lambdaContext(fn, arn));
          const credentials = identities ? await identities.credentialsFor(fn, event) : undefined;
          const result = await (credentials ? withInvocationCredentials(credentials, invoke) : invoke());
          // Lambda returns JSON: whatever does not survive JSON does not reach the next state.
          return (result === undefined ? null : JSON.parse(JSON.stringify(result))) as never;
        } catch (error) {
          throw lambdaError(error);
        }
      };
    }
    if (
      state.Type === 'Wait' &&
      (options.waitMs !== undefined || options.waitTimeOverrides?.[name] !== undefined)
    ) {
      waitTimeOverrides[name] = options.waitTimeOverrides?.[name] ?? options.waitMs ?? 0;
    }
    if (state.Retry !== undefined && options.retryMs !== undefined)
      retryIntervalOverrides[name] = options.retryMs;
  }

  const executionName = options.executionName ?? `local-${randomUUID()}`;
  const stateMachine = new StateMachine(definition, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const execution = stateMachine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: taskResourceLocalHandlers as never,
      waitTimeOverrides,
      retryIntervalOverrides,
    },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:000000000000:execution:streamfleet-${workflow}:${executionName}`,
        Name: executionName,
        Input: input as never,
        StartTime: new Date(started).toISOString(),
      },
      StateMachine: {
        Id: `arn:aws:states:us-east-1:000000000000:stateMachine:streamfleet-${workflow}`,
        Name: `streamfleet-${workflow}`,
      },
    },
  });

  const history: HistoryEvent[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      options.onEvent?.(event);
      const entry: HistoryEvent = { type: event.type, at: event.timestamp };
      if ('state' in event && event.state) entry.state = event.state.name;
      if ('Error' in event) entry.error = String(event.Error);
      if ('Cause' in event)
        entry.cause = typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause);
      history.push(entry);
    }
  })();
  const timer =
    options.timeoutMs === undefined ? undefined : setTimeout(() => execution.abort(), options.timeoutMs);
  if (options.signal?.aborted) execution.abort();
  options.signal?.addEventListener('abort', () => execution.abort(), { once: true });

  const finish = async (
    result: Omit<WorkflowExecution, 'workflow' | 'executionName' | 'history' | 'durationMs'>,
  ) => {
    clearTimeout(timer);
    await Promise.race([collecting, new Promise((r) => setTimeout(r, 100))]);
    return { workflow, executionName, ...result, history, durationMs: Date.now() - started };
  };

  try {
    const output = await execution.result;
    return finish({ status: ExecutionStatus.Succeeded, output });
  } catch (error) {
    if (error instanceof ExecutionError) {
      const cause = error.cause as Error | undefined;
      return finish({
        status: ExecutionStatus.Failed,
        error: cause?.name ?? 'Error',
        cause: cause?.message ?? error.message,
      });
    }
    if (error instanceof ExecutionAbortedError) {
      return finish({
        status: ExecutionStatus.Aborted,
        error: 'Aborted',
        cause: options.signal?.aborted ? 'Stopped on request.' : `Aborted after ${options.timeoutMs} ms.`,
      });
    }
    if (error instanceof ExecutionTimeoutError) {
      return finish({
        status: ExecutionStatus.TimedOut,
        error: 'States.Timeout',
        cause: 'The execution exceeded its TimeoutSeconds.',
      });
    }
    throw error;
  }
}

export { ControlPlaneFunction };
