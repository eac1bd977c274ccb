/**
 * aws-local-stepfunctions' event log, turned into Step Functions' execution history as GetExecutionHistory
 * returns it (the `HistoryEvent` shape and event type names of the Step Functions API reference): a Task state
 * bound to a Lambda function shows `TaskStateEntered`, `LambdaFunctionScheduled`, `LambdaFunctionStarted`,
 * then `LambdaFunctionSucceeded` and `TaskStateExited`, or `LambdaFunctionFailed` followed by another
 * `LambdaFunctionScheduled` when it is retried; a Map state shows `MapStateStarted` (with the iteration
 * count), `MapIterationStarted/Succeeded/Failed`; the execution ends in `ExecutionSucceeded`, `ExecutionFailed`,
 * `ExecutionAborted` or `ExecutionTimedOut`. Timestamps are epoch seconds, as on the wire.
 *
 * `previousEventId` links each event of a state to the one before it in the same state (LambdaFunctionScheduled
 * to its TaskStateEntered, LambdaFunctionStarted to that, ...), as in the API's histories, where the events of
 * a Parallel state's branches interleave and only that link says which state an event belongs to.
 */
import type { LocalExecutionEvent } from '../workflows/run.js';

/** One history event in the API's JSON (AWS JSON 1.0: timestamps in epoch seconds). */
export interface WireHistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

interface StateInfo {
  Type?: string;
  Resource?: string;
  ItemsPath?: string;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value ?? null);
}

/** `$`, `$.a.b` (what our definitions use as ItemsPath) against a value. */
function resolvePath(path: string, value: unknown): unknown {
  if (path === '$') return value;
  if (!/^\$(\.[A-Za-z0-9_]+)+$/.test(path)) return undefined;
  let current = value;
  for (const key of path.slice(2).split('.')) {
    current = current && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined;
  }
  return current;
}

/** Turns one local event into the Step Functions events it stands for, numbering them as it goes. */
export class HistoryTranslator {
  private nextId = 1;
  /** The last event of each state, which the state's next event names as its previous one. */
  private readonly lastIdOfState = new Map<string, number>();
  /** Task states whose last attempt failed and was caught: their exit is no success of the function. */
  private readonly caught = new Set<string>();
  readonly events: WireHistoryEvent[] = [];

  constructor(
    /** Every state of the definition by name (nested ones included), for Resource and ItemsPath. */
    private readonly states: ReadonlyMap<string, StateInfo>,
    private readonly roleArn: string,
  ) {}

  /** `state`: the state the event belongs to (`entering`: it is that state's first event). */
  private add(
    type: string,
    timestampMs: number,
    details: Record<string, unknown> = {},
    state?: { name: string; entering?: boolean },
  ): void {
    const id = this.nextId++;
    const previous = state && !state.entering ? (this.lastIdOfState.get(state.name) ?? id - 1) : id - 1;
    if (state) this.lastIdOfState.set(state.name, id);
    this.events.push({ id, previousEventId: previous, timestamp: timestampMs / 1000, type, ...details });
  }

  /** Appends the events for `event`; returns how many were added. */
  translate(event: LocalExecutionEvent): number {
    const before = this.events.length;
    const at = event.timestamp;
    switch (event.type) {
      case 'ExecutionStarted':
        this.add('ExecutionStarted', at, {
          executionStartedEventDetails: {
            input: text(event.input),
            inputDetails: { truncated: false },
            roleArn: this.roleArn,
          },
        });
        break;
      case 'StateEntered': {
        const { name, type, input } = event.state;
        this.add(
          `${type}StateEntered`,
          at,
          { stateEnteredEventDetails: { name, input: text(input), inputDetails: { truncated: false } } },
          { name, entering: true },
        );
        const info = this.states.get(name);
        if (type === 'Task') this.scheduleTask(name, input, at);
        if (type === 'Map') {
          const items = resolvePath(info?.ItemsPath ?? '$', input);
          if (Array.isArray(items))
            this.add(
              'MapStateStarted',
              at,
              { mapStateStartedEventDetails: { length: items.length } },
              { name },
            );
        }
        if (type === 'Parallel') this.add('ParallelStateStarted', at, {}, { name });
        break;
      }
      case 'StateRetried':
        if (event.state.type === 'Task') this.scheduleTask(event.state.name, event.state.input, at);
        break;
      case 'StateFailed': {
        const details = { error: event.Error, cause: text(event.Cause) };
        const state = { name: event.state.name };
        if (event.state.type === 'Task')
          this.add('LambdaFunctionFailed', at, { lambdaFunctionFailedEventDetails: details }, state);
        else if (event.state.type === 'Map') this.add('MapStateFailed', at, {}, state);
        else if (event.state.type === 'Parallel') this.add('ParallelStateFailed', at, {}, state);
        break;
      }
      case 'StateCaught':
        // The state is left (StateExited follows) with the error at its ResultPath, not with a result.
        this.caught.add(event.state.name);
        break;
      case 'StateExited': {
        const { type, name, output } = event.state;
        if (this.caught.delete(name)) {
          this.exitState(type, name, output, at);
          break;
        }
        if (type === 'Task')
          this.add(
            'LambdaFunctionSucceeded',
            at,
            {
              lambdaFunctionSucceededEventDetails: {
                output: text(output),
                outputDetails: { truncated: false },
              },
            },
            { name },
          );
        if (type === 'Map') this.add('MapStateSucceeded', at, {}, { name });
        if (type === 'Parallel') this.add('ParallelStateSucceeded', at, {}, { name });
        this.exitState(type, name, output, at);
        break;
      }
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
        this.add(
          event.type,
          at,
          {
            [`${event.type.charAt(0).toLowerCase()}${event.type.slice(1)}EventDetails`]: {
              name: event.parentState.name,
              index: event.index,
            },
          },
          { name: event.parentState.name },
        );
        break;
      case 'MapIterationFailed':
        this.add(
          'MapIterationFailed',
          at,
          { mapIterationFailedEventDetails: { name: event.parentState.name, index: event.index } },
          { name: event.parentState.name },
        );
        break;
      case 'ExecutionSucceeded':
        this.add('ExecutionSucceeded', at, {
          executionSucceededEventDetails: { output: text(event.output), outputDetails: { truncated: false } },
        });
        break;
      case 'ExecutionFailed':
        this.add('ExecutionFailed', at, {
          executionFailedEventDetails: { error: event.Error, cause: text(event.Cause) },
        });
        break;
      case 'ExecutionAborted':
        this.add('ExecutionAborted', at, {
          executionAbortedEventDetails: { error: 'Aborted', cause: 'Stopped.' },
        });
        break;
      case 'ExecutionTimeout':
        this.add('ExecutionTimedOut', at, {
          executionTimedOutEventDetails: {
            error: 'States.Timeout',
            cause: 'The execution exceeded its TimeoutSeconds.',
          },
        });
        break;
      default:
        // Parallel branch events have no counterpart in the API's history.
        break;
    }
    return this.events.length - before;
  }

  private scheduleTask(name: string, input: unknown, at: number): void {
    const resource = this.states.get(name)?.Resource ?? '';
    this.add(
      'LambdaFunctionScheduled',
      at,
      {
        lambdaFunctionScheduledEventDetails: {
          resource,
          input: text(input),
          inputDetails: { truncated: false },
        },
      },
      { name },
    );
    this.add('LambdaFunctionStarted', at, {}, { name });
  }

  private exitState(type: string, name: string, output: unknown, at: number): void {
    this.add(
      `${type}StateExited`,
      at,
      { stateExitedEventDetails: { name, output: text(output), outputDetails: { truncated: false } } },
      { name },
    );
  }
}
