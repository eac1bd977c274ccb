/** The state machine definitions: valid ASL, placeholders for exactly our functions, retries and catches. */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/vocabulary/errors.js';
import {
  FUNCTION_ARN_PLACEHOLDERS,
  placeholdersIn,
  readWorkflowDefinition,
  substitutePlaceholders,
  Workflow,
} from '../../core/workflows.js';
import {
  allStates,
  localWorkflowDefinition,
  validateWorkflowDefinition,
} from '../../local/workflows/index.js';

const workflows = Object.values(Workflow);

interface State {
  Type: string;
  Resource?: string;
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Cause?: string;
  CausePath?: string;
  Error?: string;
  ErrorPath?: string;
  Branches?: unknown[];
  ItemProcessor?: unknown;
}

describe.each(workflows)('statemachines/%s.asl.json', (workflow) => {
  const text = readWorkflowDefinition(workflow);
  const definition = localWorkflowDefinition(workflow);
  const states = allStates(definition.States as never) as [string, State][];
  const topLevel = new Set(Object.keys(definition.States));

  it('is valid ASL once its placeholders are substituted', () => {
    expect(validateWorkflowDefinition(definition)).toEqual({ valid: true, errors: [] });
  });

  it('uses only function placeholders, each a known function', () => {
    const names = placeholdersIn(text);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(Object.keys(FUNCTION_ARN_PLACEHOLDERS)).toContain(name);
  });

  it('retries transient errors and Lambda service errors on every Task', () => {
    for (const [name, state] of states.filter(([, s]) => s.Type === 'Task')) {
      const retried = state.Retry?.flatMap((r) => r.ErrorEquals) ?? [];
      expect(retried, name).toContain('TransientError');
      expect(retried, name).toContain('Lambda.TooManyRequestsException');
    }
  });

  it('catches every error of its top-level Task, Map and Parallel states', () => {
    for (const [name, state] of states) {
      if (!topLevel.has(name) || !['Task', 'Map', 'Parallel'].includes(state.Type)) continue;
      expect(state.Catch?.[0]?.ErrorEquals, name).toEqual(['States.ALL']);
    }
  });

  it('ends every failure with an Error and a Cause', () => {
    const fails = states.filter(([, s]) => s.Type === 'Fail');
    expect(fails.length).toBeGreaterThan(0);
    for (const [name, state] of fails) {
      expect(state.Error ?? state.ErrorPath, name).toBeDefined();
      expect(state.Cause ?? state.CausePath, name).toBeDefined();
    }
  });

  it('has unique state names across nested branches (the local runner binds handlers by name)', () => {
    const names = states.map(([name]) => name);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('placeholders', () => {
  const ph = (name: string) => `\${${name}}`;

  it('are substituted, and a missing value is an error rather than a leftover', () => {
    expect(substitutePlaceholders(`{"Resource":"${ph('A')}"}`, { A: 'arn:x' })).toBe('{"Resource":"arn:x"}');
    expect(() => substitutePlaceholders(`${ph('A')} ${ph('B')}`, { A: 'x' })).toThrow(InvalidInputError);
    expect(() => substitutePlaceholders(`${ph('A')} ${ph('B')}`, { A: 'x' })).toThrow(
      `no value for ${ph('B')}`,
    );
  });

  it('name every function once', () => {
    expect(Object.keys(FUNCTION_ARN_PLACEHOLDERS)).toEqual([
      'EnsureTablesFunctionArn',
      'WireIrsaFunctionArn',
      'DeployConsumerFunctionArn',
      'InstallScalerFunctionArn',
      'GenerateLoadFunctionArn',
      'VerifyScalingFunctionArn',
      'VerifyReplicationFunctionArn',
      'PublishMetricsFunctionArn',
      'HandleAlarmFunctionArn',
      'TeardownFunctionArn',
      'CompareReplicasFunctionArn',
    ]);
  });
});
