/**
 * Pure parts of the operator's side: the CLI's arguments (what is refused and why), the README's meaning of
 * each workflow Error, and the translation of aws-local-stepfunctions' event log into the Step Functions
 * API's history events (the types the CLI follows on AWS and locally alike).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELP, parseCli, UsageError } from '../../cli/args.js';
import { explainError } from '../../cli/errors.js';
import { causeMessage, explainFailure, meaningOf } from '../../cli/failures.js';
import { workflowOfExecution } from '../../cli/workflow.js';
import { PreconditionError, TransientError } from '../../core/vocabulary/errors.js';
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
    [['verify', '--state-machine-arn', 'Streamfleet-verify']],
    [['follow']],
    [['follow', 'arn:aws:states:us-east-1:000000000000:stateMachine:Streamfleet-setup']],
    [['follow', 'arn:aws:states:us-east-1:000000000000:execution:Streamfleet-setup:a', 'b']],
    [['follow', 'arn:aws:states:us-east-1:000000000000:execution:Streamfleet-setup:a', '--input', 'x']],
  ])('refuses %j with a UsageError', (argv) => {
    expect(() => parseCli(argv)).toThrow(UsageError);
  });

  it('follows an execution by its ARN, in the ARN’s region unless --region says otherwise', () => {
    const arn = 'arn:aws:states:eu-west-1:123456789012:execution:Orders-verify:streamfleet-verify-1';
    expect(parseCli(['follow', arn, '--json', '--poll-ms', '200'])).toMatchObject({
      command: 'follow',
      executionArn: arn,
      region: 'eu-west-1',
      json: true,
      pollMs: 200,
    });
    expect(parseCli(['follow', arn, '--region', 'us-east-1'])).toMatchObject({ region: 'us-east-1' });
    expect(workflowOfExecution(arn)).toBe('verify');
    expect(
      workflowOfExecution('arn:aws:states:us-east-1:000000000000:execution:Streamfleet-alarm-reaction:x'),
    ).toBe('alarm-reaction');
  });

  it('every help text fits 80 columns and documents every option its command takes', () => {
    const args = readFileSync(resolve(import.meta.dirname, '../../cli/args.ts'), 'utf8');
    for (const [command, text] of Object.entries(HELP)) {
      const wide = text.split('\n').filter((line) => [...line].length > 80);
      expect(wide, `${command}: ${wide.join('\n')}`).toEqual([]);
      if (command === 'main') continue;
      const allowed = new RegExp(`^  ${command}: \\[([^\\]]*)\\]`, 'm').exec(
        args.slice(args.indexOf('const ALLOWED')),
      );
      const options = [...(allowed?.[1] ?? '').matchAll(/'([a-z-]+)'/g)].map((m) => m[1] as string);
      const block = allowed ? options : [];
      for (const option of block) expect(text, `${command} --${option}`).toContain(`--${option}`);
    }
    expect(HELP.setup).toContain('--poll-ms N');
    expect(HELP.status).toMatch(/--sample-leases +read the lease table twice/);
  });

  it('--help loads no AWS SDK or Kubernetes client: the static imports of cli/main.ts reach neither', () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      // Static imports and re-exports that bring code (`import type` brings none; import() is lazy).
      for (const match of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gm)) {
        const specifier = match[1] as string;
        if (!specifier.startsWith('.')) {
          packages.add(specifier);
          continue;
        }
        const target = join(dirname(file), specifier.replace(/\.js$/, '.ts'));
        if (existsSync(target)) visit(target);
      }
    };
    visit(resolve(import.meta.dirname, '../../cli/main.ts'));
    expect(seen.size).toBeGreaterThan(2);
    expect([...packages].filter((p) => p.startsWith('@aws-sdk/') || p.startsWith('@kubernetes/'))).toEqual(
      [],
    );
  });
});

describe('what a failure of the CLI says, and its exit code', () => {
  const local = {
    AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:4100',
    AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:4200',
  };

  it('names the endpoint it cannot reach, the variable that set it, and what to do (exit 3)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4200'), { code: 'ECONNREFUSED' });
    for (const error of [refused, new TransientError(`Error: ${refused.message}`, { cause: refused })]) {
      const failure = explainError(error, local);
      expect(failure.exitCode).toBe(3);
      expect(failure.message).toContain('DynamoDB at http://127.0.0.1:4200 (AWS_ENDPOINT_URL_DYNAMODB)');
      expect(failure.message).toContain('What to do:');
    }
  });

  it('is exit 2 for what was typed wrong, 3 for what is missing', () => {
    expect(explainError(new UsageError('--input x: cannot read it'), {}).exitCode).toBe(2);
    expect(explainError(Object.assign(new Error('Invalid Arn'), { name: 'InvalidArn' }), {}).exitCode).toBe(
      2,
    );
    expect(explainError(new PreconditionError('No state machine.', 'deploy'), {}).exitCode).toBe(3);
    const gone = Object.assign(new Error("Execution Does Not Exist: 'x'"), { name: 'ExecutionDoesNotExist' });
    expect(explainError(gone, {})).toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('What to do'),
    });
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

  it('links each event of a state to the one before it in that state, so interleaved branches stay apart', () => {
    const parallel = new Map([
      ['RunChecks', { Type: 'Parallel' }],
      ['VerifyScaling', { Type: 'Task', Resource: 'arn:scaling' }],
      ['VerifyReplication', { Type: 'Task', Resource: 'arn:replication' }],
    ]);
    const translator = new HistoryTranslator(parallel, 'arn:aws:iam::000000000000:role/local');
    for (const event of [
      { type: 'StateEntered', timestamp: 1, state: state('RunChecks', 'Parallel') },
      { type: 'StateEntered', timestamp: 2, state: state('VerifyScaling', 'Task') },
      { type: 'StateEntered', timestamp: 3, state: state('VerifyReplication', 'Task') },
      { type: 'StateExited', timestamp: 4, state: state('VerifyScaling', 'Task', {}, { check: 'scaling' }) },
      { type: 'StateExited', timestamp: 5, state: state('VerifyReplication', 'Task', {}, { check: 'r' }) },
    ] as unknown as LocalExecutionEvent[])
      translator.translate(event);
    const byId = new Map(translator.events.map((e) => [e.id, e]));
    const stateOf = (id: number): string | undefined => {
      const event = byId.get(id);
      const details = (event?.stateEnteredEventDetails ?? event?.stateExitedEventDetails) as
        | { name: string }
        | undefined;
      return details?.name ?? (event ? stateOf(event.previousEventId) : undefined);
    };
    const succeeded = translator.events.filter((e) => e.type === 'LambdaFunctionSucceeded');
    expect(
      succeeded.map((e) => [
        stateOf(e.id),
        (e.lambdaFunctionSucceededEventDetails as { output: string }).output,
      ]),
    ).toEqual([
      ['VerifyScaling', '{"check":"scaling"}'],
      ['VerifyReplication', '{"check":"r"}'],
    ]);
  });
});
