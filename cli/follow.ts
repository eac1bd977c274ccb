/**
 * Follows one execution as it runs: GetExecutionHistory read newest-first down to the last event already seen
 * (so each poll costs one page however long the history is), DescribeExecution for the end. Each event is
 * turned into at most one line for a person: a state entered (▸) and left (✓, with its time), a Task attempt
 * that failed (✗ Error: message) and its retry (↻), the Map's progress (the load's batches and items), a
 * check's verdict, and the end. What the lines say is for people; `FollowResult` is for code.
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { systemClock } from '../core/vocabulary/clock.js';
import { causeMessage } from './failures.js';

export interface FollowResult {
  status: string;
  output: unknown;
  error: string | undefined;
  cause: string | undefined;
  /** The state whose Task (or Map iteration) failed last, else the state the execution ended in. */
  failedState: string | undefined;
  /** Task attempts that failed and were retried. */
  retries: { state: string; error: string; cause: string }[];
  durationMs: number;
}

export interface FollowOptions {
  pollMs: number;
  /** Items per batch of the load, when the input has one: the Map's progress is shown in items too. */
  itemsPerBatch?: number;
  /** Each line of the live view. */
  line?: (text: string) => void;
}

function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function seconds(ms: number): string {
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function parse(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** New events since `afterId`, oldest first. */
async function newEvents(sfn: SFNClient, executionArn: string, afterId: number): Promise<HistoryEvent[]> {
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, nextToken }),
    );
    for (const event of page.events ?? []) {
      if ((event.id ?? 0) <= afterId) return fresh.reverse();
      fresh.push(event);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return fresh.reverse();
}

/** The live view's state between events. */
class Narrator {
  private readonly entered = new Map<string, number>();
  /** The Task state each running attempt belongs to, most recent last. */
  private readonly tasks: string[] = [];
  /** The state each event seen belongs to, by event id. */
  private readonly stateOfEvent = new Map<number, string>();
  /** Failed attempts per Task state not yet followed by another attempt. */
  private readonly pending = new Map<string, FollowResult['retries']>();
  private map: { name: string; length: number | undefined; done: number; lastTenth: number } | undefined;
  readonly retries: FollowResult['retries'] = [];
  failedState: string | undefined;
  lastState: string | undefined;

  constructor(
    private readonly startMs: number,
    private readonly options: FollowOptions,
  ) {}

  private say(atMs: number, text: string): undefined {
    this.options.line?.(`[${clock(atMs - this.startMs)}] ${text}`);
    return undefined;
  }

  /**
   * Which state an event belongs to: a state's events link to the one before them in the same state
   * (previousEventId), back to its StateEntered; the branches of a Parallel state interleave, so the state
   * entered last is not always the one. Without the link, the innermost Task entered and not yet left.
   */
  private stateOf(event: HistoryEvent): string {
    const own = event.stateEnteredEventDetails?.name ?? event.stateExitedEventDetails?.name;
    const state =
      own ??
      (event.previousEventId === undefined ? undefined : this.stateOfEvent.get(event.previousEventId)) ??
      this.tasks[this.tasks.length - 1] ??
      this.lastState ??
      '?';
    if (event.id !== undefined) this.stateOfEvent.set(event.id, state);
    return state;
  }

  event(event: HistoryEvent): undefined {
    const at = event.timestamp?.getTime() ?? Date.now();
    const type = event.type ?? '';
    const eventState = this.stateOf(event);
    const insideMap = this.map !== undefined;
    if (type.endsWith('StateEntered')) {
      const name = event.stateEnteredEventDetails?.name ?? '?';
      this.entered.set(name, at);
      // A Fail state reached without a failed Task (a wait that ran out): the state before it is the one.
      if (type === 'FailStateEntered') this.failedState ??= this.lastState;
      this.lastState = name;
      if (type === 'TaskStateEntered') this.tasks.push(name);
      // Inside the load's Map every batch is a state of its own: the progress line says it instead.
      if (this.map && type === 'TaskStateEntered' && this.map.name !== name) return;
      if (type === 'ChoiceStateEntered' || type === 'PassStateEntered') return;
      if (type === 'WaitStateEntered') return this.say(at, `… ${name}`);
      if (type === 'FailStateEntered') return this.say(at, `✗ ${name}`);
      return this.say(at, `▸ ${name}`);
    }
    if (type.endsWith('StateExited')) {
      const name = event.stateExitedEventDetails?.name ?? '?';
      const started = this.entered.get(name) ?? at;
      if (type === 'TaskStateExited') this.tasks.splice(this.tasks.lastIndexOf(name), 1);
      if (type === 'MapStateExited' && this.map?.name === name) this.map = undefined;
      else if (insideMap) return;
      if (type === 'ChoiceStateExited' || type === 'PassStateExited' || type === 'WaitStateExited') return;
      // Left with its last attempt failed: the error was caught, and the workflow goes on to report it.
      if (this.pending.get(name)?.length) return this.say(at, `✗ ${name} failed (${seconds(at - started)})`);
      return this.say(at, `✓ ${name} (${seconds(at - started)})`);
    }
    switch (type) {
      case 'LambdaFunctionScheduled': {
        // A new attempt of a state whose last attempt failed is its retry.
        const state = eventState;
        const failure = this.pending.get(state)?.shift();
        if (!failure) return;
        this.retries.push(failure);
        return this.say(at, `↻ ${state}: retrying after ${failure.error}`);
      }
      case 'LambdaFunctionSucceeded': {
        const state = eventState;
        const output = parse(event.lambdaFunctionSucceededEventDetails?.output) as
          | { summary?: unknown }
          | undefined;
        if (output && typeof output === 'object' && typeof output.summary === 'string' && !this.map)
          this.say(at, `  ${state}: ${output.summary}`);
        return;
      }
      case 'LambdaFunctionFailed':
      case 'LambdaFunctionTimedOut':
      case 'TaskFailed': {
        const state = eventState;
        const details =
          event.lambdaFunctionFailedEventDetails ??
          event.lambdaFunctionTimedOutEventDetails ??
          event.taskFailedEventDetails;
        const error = details?.error ?? 'Error';
        const cause = causeMessage(details?.cause);
        this.failedState = state;
        this.pending.set(state, [...(this.pending.get(state) ?? []), { state, error, cause }]);
        return this.say(at, `✗ ${state}: ${error}: ${cause}`);
      }
      case 'MapStateStarted':
        this.map = {
          name: this.lastState ?? '?',
          length: event.mapStateStartedEventDetails?.length,
          done: 0,
          lastTenth: -1,
        };
        return this.say(
          at,
          `  ${this.map.name}: ${this.map.length ?? '?'} iterations${this.options.itemsPerBatch && this.map.length ? ` (${this.map.length * this.options.itemsPerBatch} items)` : ''}`,
        );
      case 'MapIterationSucceeded': {
        if (!this.map) return;
        this.map.done++;
        const { length, done } = this.map;
        const tenth = length ? Math.floor((done / length) * 10) : done;
        if (tenth === this.map.lastTenth) return;
        this.map.lastTenth = tenth;
        const items = this.options.itemsPerBatch
          ? ` · ${done * this.options.itemsPerBatch}${length ? `/${length * this.options.itemsPerBatch}` : ''} items`
          : '';
        return this.say(at, `  ${this.map.name} ${done}/${length ?? '?'}${items}`);
      }
      case 'MapIterationFailed':
        this.failedState = event.mapIterationFailedEventDetails?.name ?? this.failedState;
        return;
      case 'ExecutionFailed':
      case 'ExecutionAborted':
      case 'ExecutionTimedOut':
        this.failedState ??= this.lastState;
        return;
      default:
        return;
    }
  }
}

/** Follows the execution to its end; `line` receives the live view. */
export async function followExecution(
  sfn: SFNClient,
  executionArn: string,
  options: FollowOptions,
): Promise<FollowResult> {
  const started = Date.now();
  let startMs: number | undefined;
  let narrator: Narrator | undefined;
  let lastId = 0;
  for (;;) {
    const events = await newEvents(sfn, executionArn, lastId);
    for (const event of events) {
      startMs ??= event.timestamp?.getTime() ?? started;
      narrator ??= new Narrator(startMs, options);
      narrator.event(event);
      lastId = Math.max(lastId, event.id ?? 0);
    }
    const description = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (description.status !== 'RUNNING') {
      // Events written between the last page and the end.
      for (const event of await newEvents(sfn, executionArn, lastId)) {
        narrator ??= new Narrator(event.timestamp?.getTime() ?? started, options);
        narrator.event(event);
        lastId = Math.max(lastId, event.id ?? 0);
      }
      const begin = description.startDate?.getTime() ?? started;
      const end = description.stopDate?.getTime() ?? Date.now();
      const status = description.status ?? 'UNKNOWN';
      return {
        status,
        output: parse(description.output),
        error: description.error,
        cause: description.cause,
        failedState: status === 'SUCCEEDED' ? undefined : narrator?.failedState,
        retries: narrator?.retries ?? [],
        durationMs: end - begin,
      };
    }
    await systemClock.sleep(options.pollMs);
  }
}

export { seconds as formatDuration };
