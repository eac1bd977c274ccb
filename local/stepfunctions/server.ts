/**
 * A local Step Functions endpoint: the API operations the `streamfleet` CLI uses, over HTTP in the AWS JSON
 * 1.0 protocol (`POST /`, `X-Amz-Target: AWSStepFunctions.<Operation>`, JSON bodies, errors as
 * `{ "__type", "message" }` with `X-Amzn-ErrorType`), so the real `@aws-sdk/client-sfn` reaches it through
 * the SDK's endpoint override (`AWS_ENDPOINT_URL_SFN`). Its state machines are the real
 * statemachines/*.asl.json, named `<stackName>-<workflow>` as the CDK stack names them, and each execution
 * runs them as `npm start` does (local/workflows/run.ts: the real handlers, the local cluster).
 *
 * Operations: ListStateMachines, DescribeStateMachine, StartExecution, DescribeExecution, ListExecutions,
 * GetExecutionHistory (paged, reverseOrder), StopExecution. Executions live in memory for the process's life.
 *
 * `execute` is StartExecution from inside the process: npm start runs its own setup and verify through it, so
 * they are executions of `<stack>-setup` and `<stack>-verify` like any the CLI starts, with their input,
 * output and history — `streamfleet status` and `verify` find npm start's setup as the newest successful one,
 * and `streamfleet follow` tells it. The executions are recorded whether or not the server listens yet.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Workflow } from '../../core/workflows.js';
import {
  allStates,
  localWorkflowDefinition,
  type RunWorkflowOptions,
  runWorkflowLocally,
  type WorkflowExecution,
} from '../workflows/run.js';
import { HistoryTranslator, type WireHistoryEvent } from './history.js';

export const LOCAL_ACCOUNT_ID = '000000000000';

export interface LocalStepFunctionsOptions {
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /** State machines are named `<stackName>-<workflow>`, as the CDK stack names them. Default `Streamfleet`. */
  stackName?: string;
  region?: string;
  /** How every execution runs: the control plane (local mode), shortened waits and retries, handlers. */
  run?: Omit<RunWorkflowOptions, 'executionName' | 'onEvent' | 'signal'>;
  /** One line per execution started (by StartExecution, not `execute`) and ended. */
  log?: (line: string) => void;
}

type Status = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

interface LocalExecution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  workflow: Workflow;
  status: Status;
  startDate: number;
  stopDate?: number;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryTranslator;
  stop: AbortController;
  /** Resolves when it ended: with the local run's result, or undefined when the runner itself failed. */
  done: Promise<WorkflowExecution | undefined>;
}

/** What one execution may run with beyond the endpoint's own options (npm start's observed handlers). */
export type ExecutionRunOptions = Omit<RunWorkflowOptions, 'executionName' | 'onEvent' | 'signal'>;

/** A Step Functions API error: its `__type` is what the SDK names the exception. */
class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64');
}

function readToken(token: unknown): number {
  if (token === undefined || token === null) return 0;
  try {
    const offset = (JSON.parse(Buffer.from(String(token), 'base64').toString('utf8')) as { offset?: unknown })
      .offset;
    if (typeof offset === 'number' && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new ApiError('InvalidToken', `Invalid Token: '${String(token)}'`);
}

export class LocalStepFunctions {
  private server: Server | undefined;
  private readonly executions = new Map<string, LocalExecution>();
  private readonly created = Date.now() / 1000;
  readonly stackName: string;
  readonly region: string;
  endpoint = '';

  constructor(private readonly options: LocalStepFunctionsOptions = {}) {
    this.stackName = options.stackName ?? 'Streamfleet';
    this.region = options.region ?? 'us-east-1';
  }

  async start(): Promise<string> {
    if (this.server) return this.endpoint;
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(this.options.port ?? 0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.endpoint = `http://127.0.0.1:${port}`;
    return this.endpoint;
  }

  /** Stops every running execution and the server. */
  async stop(): Promise<void> {
    for (const execution of this.executions.values()) execution.stop.abort();
    await Promise.race([
      Promise.all([...this.executions.values()].map((e) => e.done)),
      new Promise((resolve) => setTimeout(resolve, 5_000)),
    ]);
    const server = this.server;
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  stateMachineArn(workflow: Workflow): string {
    return `arn:aws:states:${this.region}:${LOCAL_ACCOUNT_ID}:stateMachine:${this.stackName}-${workflow}`;
  }

  /** Resolves when every execution started so far has ended. */
  async idle(): Promise<void> {
    await Promise.all([...this.executions.values()].map((e) => e.done));
  }

  private workflowOf(stateMachineArn: unknown): Workflow {
    const workflow = Object.values(Workflow).find((w) => this.stateMachineArn(w) === stateMachineArn);
    if (!workflow) {
      throw new ApiError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${String(stateMachineArn)}'`,
      );
    }
    return workflow;
  }

  private execution(arn: unknown): LocalExecution {
    const execution = this.executions.get(String(arn));
    if (!execution) throw new ApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${String(arn)}'`);
    return execution;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const reply = (status: number, body: unknown, errorType?: string) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': randomUUID(),
        ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      });
      res.end(text);
    };
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || !target.startsWith('AWSStepFunctions.')) {
        throw new ApiError(
          'UnknownOperationException',
          `Expected POST with X-Amz-Target AWSStepFunctions.*, got ${req.method} ${target}`,
        );
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Json;
      try {
        body = text ? (JSON.parse(text) as Json) : {};
      } catch {
        throw new ApiError('SerializationException', 'The request body is not JSON.');
      }
      reply(200, this.operate(target.slice('AWSStepFunctions.'.length), body));
    } catch (error) {
      if (error instanceof ApiError)
        reply(error.status, { __type: error.type, message: error.message }, error.type);
      else
        reply(
          500,
          { __type: 'InternalFailure', message: error instanceof Error ? error.message : String(error) },
          'InternalFailure',
        );
    }
  }

  private operate(operation: string, body: Json): Json {
    switch (operation) {
      case 'ListStateMachines':
        return {
          stateMachines: Object.values(Workflow).map((w) => ({
            stateMachineArn: this.stateMachineArn(w),
            name: `${this.stackName}-${w}`,
            type: 'STANDARD',
            creationDate: this.created,
          })),
        };
      case 'DescribeStateMachine': {
        const workflow = this.workflowOf(body.stateMachineArn);
        return {
          stateMachineArn: this.stateMachineArn(workflow),
          name: `${this.stackName}-${workflow}`,
          status: 'ACTIVE',
          definition: JSON.stringify(localWorkflowDefinition(workflow)),
          roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${this.stackName}-local`,
          type: 'STANDARD',
          creationDate: this.created,
        };
      }
      case 'StartExecution':
        return this.startExecution(body);
      case 'DescribeExecution': {
        const e = this.execution(body.executionArn);
        return {
          ...listItem(e),
          input: e.input,
          inputDetails: { included: true },
          ...(e.output === undefined ? {} : { output: e.output, outputDetails: { included: true } }),
          ...(e.error === undefined ? {} : { error: e.error }),
          ...(e.cause === undefined ? {} : { cause: e.cause }),
        };
      }
      case 'ListExecutions': {
        this.workflowOf(body.stateMachineArn);
        const all = [...this.executions.values()]
          .filter((e) => e.stateMachineArn === body.stateMachineArn)
          .filter((e) => body.statusFilter === undefined || e.status === body.statusFilter)
          .sort((a, b) => b.startDate - a.startDate);
        return this.page(all, body, listItem, 'executions');
      }
      case 'GetExecutionHistory': {
        const e = this.execution(body.executionArn);
        const events = [...e.history.events];
        if (body.reverseOrder === true) events.reverse();
        const include = body.includeExecutionData !== false;
        return this.page(events, body, (event) => (include ? event : withoutData(event)), 'events');
      }
      case 'StopExecution': {
        const e = this.execution(body.executionArn);
        if (e.status === 'RUNNING') e.stop.abort();
        return { stopDate: Date.now() / 1000 };
      }
      default:
        throw new ApiError(
          'UnknownOperationException',
          `The local Step Functions endpoint does not serve ${operation}.`,
        );
    }
  }

  private page<T>(items: T[], body: Json, map: (item: T) => unknown, key: string): Json {
    const max =
      typeof body.maxResults === 'number' && body.maxResults > 0 ? Math.min(body.maxResults, 1000) : 100;
    const offset = readToken(body.nextToken);
    const slice = items.slice(offset, offset + max);
    const next = offset + slice.length;
    return { [key]: slice.map(map), ...(next < items.length ? { nextToken: pageToken(next) } : {}) };
  }

  private startExecution(body: Json): Json {
    const workflow = this.workflowOf(body.stateMachineArn);
    const name = body.name === undefined ? randomUUID() : String(body.name);
    const inputText = body.input === undefined ? '{}' : String(body.input);
    let input: unknown;
    try {
      input = JSON.parse(inputText);
    } catch {
      throw new ApiError(
        'InvalidExecutionInput',
        'Invalid State Machine Execution Input: the input is not JSON.',
      );
    }
    const execution = this.begin(workflow, name, input, {}, this.options.log);
    return { executionArn: execution.executionArn, startDate: execution.startDate };
  }

  /**
   * StartExecution from inside this process, recorded as the API's would be; resolves with the local run's
   * result once it ends. `run` adds to (and wins over) the endpoint's own options.
   */
  async execute(
    workflow: Workflow,
    input: unknown,
    options: { name: string; run?: ExecutionRunOptions },
  ): Promise<WorkflowExecution & { executionArn: string }> {
    const execution = this.begin(workflow, options.name, input, options.run ?? {}, undefined);
    const result = await execution.done;
    if (!result) throw new Error(`${workflow} execution ${options.name}: ${execution.cause}`);
    return { ...result, executionArn: execution.executionArn };
  }

  private begin(
    workflow: Workflow,
    name: string,
    input: unknown,
    run: ExecutionRunOptions,
    log: ((line: string) => void) | undefined,
  ): LocalExecution {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
    const stateMachineArn = this.stateMachineArn(workflow);
    const executionArn = `arn:aws:states:${this.region}:${LOCAL_ACCOUNT_ID}:execution:${this.stackName}-${workflow}:${name}`;
    if (this.executions.has(executionArn)) {
      throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const definition = localWorkflowDefinition(workflow);
    const states = new Map(
      allStates(definition.States as Record<string, never>).map(([n, s]) => [
        n,
        s as { Type?: string; Resource?: string; ItemsPath?: string },
      ]),
    );
    const execution: LocalExecution = {
      executionArn,
      stateMachineArn,
      name,
      workflow,
      status: 'RUNNING',
      startDate: Date.now() / 1000,
      input: JSON.stringify(input),
      history: new HistoryTranslator(states, `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${this.stackName}-local`),
      stop: new AbortController(),
      done: Promise.resolve(undefined),
    };
    this.executions.set(executionArn, execution);
    log?.(`Step Functions: ${workflow} execution ${name} started`);
    execution.done = (async () => {
      let result: WorkflowExecution | undefined;
      try {
        result = await runWorkflowLocally(workflow, input, {
          ...this.options.run,
          ...run,
          executionName: name,
          signal: execution.stop.signal,
          onEvent: (event) => execution.history.translate(event),
        });
        execution.status = result.status;
        if (result.output !== undefined) execution.output = JSON.stringify(result.output);
        if (result.error !== undefined) execution.error = result.error;
        if (result.cause !== undefined) execution.cause = result.cause;
      } catch (error) {
        execution.status = 'FAILED';
        execution.error = 'States.Runtime';
        execution.cause = error instanceof Error ? error.message : String(error);
      }
      execution.stopDate = Date.now() / 1000;
      log?.(
        `Step Functions: ${workflow} execution ${name} ${execution.status}${execution.error ? `: ${execution.error}` : ''}`,
      );
      return result;
    })();
    return execution;
  }
}

/** An execution as ListExecutions lists it (DescribeExecution adds input, output, error and cause). */
function listItem(e: LocalExecution): Json {
  return {
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: e.startDate,
    ...(e.stopDate === undefined ? {} : { stopDate: e.stopDate }),
  };
}

function withoutData(event: WireHistoryEvent): WireHistoryEvent {
  const copy: WireHistoryEvent = { ...event };
  for (const [key, value] of Object.entries(copy)) {
    if (key.endsWith('EventDetails') && value && typeof value === 'object') {
      const { input: _i, output: _o, ...rest } = value as Json;
      copy[key] = rest;
    }
  }
  return copy;
}

export async function startLocalStepFunctions(
  options: LocalStepFunctionsOptions = {},
): Promise<LocalStepFunctions> {
  const service = new LocalStepFunctions(options);
  await service.start();
  return service;
}
