/**
 * Pure parts of the operator's side: the CLI's arguments (what is refused and why), the README's meaning of
 * each workflow Error, and the translation of aws-local-stepfunctions' event log into the Step Functions
 * API's history events (the types the CLI follows on AWS and locally alike).
 */
import { describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../../cli/args.js';
import { causeMessage, explainFailure, meaningOf } from '../../cli/failures.js';
import { HistoryTranslator } from '../../local/stepfunctions/history.js';
import type { LocalExecutionEvent } from '../../local/workflows/run.js';

describe('streamfleet arguments', () => {
  it('parses each command with its defaults', () => {
    expect(parseCli(['setup', '--input', 'in.json'])).toMatchObject({
      command: 'setup',
      input: 'in.json',
      follow: true,
      json: false,
      stack: 'Streamfleet',
      pollMs: 1000,
    });
    expect(parseCli(['teardown', '--delete-tables', '--no-follow', '--stack', 'Orders'])).toMatchObject({
      command: 'teardown',
      deleteTables: true,
      follow: false,
      stack: 'Orders',
    });
    expect(parseCli(['status', '--context', 'prod', '--sample-leases'])).toMatchObject({
      command: 'status',
      context: 'prod',
      sampleLeases: true,
    });
    expect(parseCli([])).toHaveProperty('help');
    expect(parseCli(['manifests', '--help'])).toHaveProperty('help');
  });

  it.each([
    [['launch']],
    [['setup']],
    [['manifests']],
    [['status', '--delete-tables']],
    [['setup', '--input', 'x', '--bogus']],
    [['setup', '--input', 'x', '--name', 'has space']],
    [['verify', '--poll-ms', '5']],
    [['verify', 'extra']],
  ])('refuses %j with a UsageError', (argv) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
  });
});

describe('failures as the README explains them', () => {
  it('reads Lambda’s JSON Cause and names what each Error means', () => {
    expect(
      causeMessage(JSON.stringify({ errorType: 'PreconditionError', errorMessage: 'do this', trace: [] })),
    ).toBe('do this');
    expect(causeMessage('plain text')).toBe('plain text');
    expect(meaningOf('InvalidInputError')).toContain('field');
    expect(meaningOf('LeasesNeverAppeared')).toBe(meaningOf('ReplicationDidNotConverge'));
    expect(meaningOf('States.TaskFailed')).toBe(meaningOf('Lambda.Unknown'));
    expect(explainFailure('FleetUnhealthy', 'Fleet x is unhealthy.')).toEqual({
      error: 'FleetUnhealthy',
      cause: 'Fleet x is unhealthy.',
      meaning: meaningOf('FleetUnhealthy'),
    });
  });
});

describe('local history as the Step Functions API writes it', () => {
  const states = new Map([
    [
      'EnsureTables',
      { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:streamfleet-ensure-tables' },
    ],
    ['GenerateLoad', { Type: 'Map', ItemsPath: '$.loadPlan.batches' }],
    [
      'WriteBatch',
      { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:streamfleet-generate-load' },
    ],
  ]);
  const state = (name: string, type: string, input: unknown = {}, output?: unknown) => ({
    name,
    type,
    input,
    ...(output === undefined ? {} : { output }),
  });
  const events = [
    { type: 'ExecutionStarted', timestamp: 1_000, input: { fleet: {} } },
    { type: 'StateEntered', timestamp: 1_100, state: state('EnsureTables', 'Task') },
    {
      type: 'StateFailed',
      timestamp: 1_200,
      state: state('EnsureTables', 'Task'),
      Error: 'TransientError',
      Cause: '{"errorMessage":"slow down"}',
    },
    {
      type: 'StateRetried',
      timestamp: 1_300,
      state: state('EnsureTables', 'Task'),
      retry: { retrier: {}, attempt: 1 },
    },
    { type: 'StateExited', timestamp: 1_400, state: state('EnsureTables', 'Task', {}, { streamArn: 's' }) },
    {
      type: 'StateEntered',
      timestamp: 1_500,
      state: state('GenerateLoad', 'Map', { loadPlan: { batches: [0, 1, 2] } }),
    },
    { type: 'MapIterationStarted', timestamp: 1_600, parentState: state('GenerateLoad', 'Map'), index: 0 },
    { type: 'MapIterationSucceeded', timestamp: 1_700, parentState: state('GenerateLoad', 'Map'), index: 0 },
    { type: 'ExecutionFailed', timestamp: 1_800, Error: 'PreconditionError', Cause: 'x' },
  ] as unknown as LocalExecutionEvent[];

  it('a caught failure leaves the Task state once, with no success of its function', () => {
    const translator = new HistoryTranslator(states, 'arn:aws:iam::000000000000:role/local');
    const caught = [
      { type: 'StateEntered', timestamp: 1, state: state('EnsureTables', 'Task') },
      {
        type: 'StateFailed',
        timestamp: 2,
        state: state('EnsureTables', 'Task'),
        Error: 'PreconditionError',
        Cause: 'c',
      },
      { type: 'StateCaught', timestamp: 3, state: state('EnsureTables', 'Task'), catch: { catcher: {} } },
      { type: 'StateExited', timestamp: 3, state: state('EnsureTables', 'Task', {}, { failure: {} }) },
    ] as unknown as LocalExecutionEvent[];
    for (const event of caught) translator.translate(event);
    expect(translator.events.map((e) => e.type)).toEqual([
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionFailed',
      'TaskStateExited',
    ]);
  });

  it('turns entered/failed/retried/exited, Map iterations and the end into the API’s event types, numbered', () => {
    const translator = new HistoryTranslator(states, 'arn:aws:iam::000000000000:role/local');
    for (const event of events) translator.translate(event);
    expect(translator.events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionFailed',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'MapStateEntered',
      'MapStateStarted',
      'MapIterationStarted',
      'MapIterationSucceeded',
      'ExecutionFailed',
    ]);
    expect(translator.events.map((e) => e.id)).toEqual(translator.events.map((_, i) => i + 1));
    expect(translator.events[2]).toMatchObject({
      timestamp: 1.1,
      lambdaFunctionScheduledEventDetails: { resource: states.get('EnsureTables')?.Resource },
    });
    expect(translator.events[4]).toMatchObject({
      lambdaFunctionFailedEventDetails: { error: 'TransientError', cause: '{"errorMessage":"slow down"}' },
    });
    expect(translator.events[10]).toMatchObject({ mapStateStartedEventDetails: { length: 3 } });
    expect(translator.events[12]).toMatchObject({
      mapIterationSucceededEventDetails: { name: 'GenerateLoad', index: 0 },
    });
    expect(translator.events[13]).toMatchObject({
      executionFailedEventDetails: { error: 'PreconditionError', cause: 'x' },
    });
  });
});
