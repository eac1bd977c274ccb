/**
 * The state machines in statemachines/*.asl.json and their `${Placeholders}`: every Task's Resource is
 * `${<Name>FunctionArn}`, substituted at deploy time (CDK `definitionSubstitutions`) and by the local runner
 * (local/workflows) with the same map from placeholder to function.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidInputError } from './vocabulary/errors.js';
import { describeValue } from './vocabulary/validation.js';

export const Workflow = {
  Setup: 'setup',
  Verify: 'verify',
  AlarmReaction: 'alarm-reaction',
  Teardown: 'teardown',
  Compare: 'compare',
} as const;
export type Workflow = (typeof Workflow)[keyof typeof Workflow];

/** The handlers in functions/, by file name. */
export const ControlPlaneFunction = {
  EnsureTables: 'ensure-tables',
  WireIrsa: 'wire-irsa',
  DeployConsumer: 'deploy-consumer',
  InstallScaler: 'install-scaler',
  GenerateLoad: 'generate-load',
  VerifyScaling: 'verify-scaling',
  VerifyReplication: 'verify-replication',
  PublishMetrics: 'publish-metrics',
  HandleAlarm: 'handle-alarm',
  Teardown: 'teardown',
  CompareReplicas: 'compare-replicas',
} as const;
export type ControlPlaneFunction = (typeof ControlPlaneFunction)[keyof typeof ControlPlaneFunction];

/** `${EnsureTablesFunctionArn}` → ensure-tables, and so on for every function. */
export const FUNCTION_ARN_PLACEHOLDERS: Record<string, ControlPlaneFunction> = Object.fromEntries(
  Object.entries(ControlPlaneFunction).map(([key, fn]) => [`${key}FunctionArn`, fn]),
);

export const STATEMACHINES_DIR = resolve(import.meta.dirname, '../statemachines');

export function workflowDefinitionPath(workflow: Workflow): string {
  if (!Object.values(Workflow).includes(workflow)) {
    throw new InvalidInputError(
      'workflow',
      `expected one of ${Object.values(Workflow).join(', ')}, got ${describeValue(workflow)}`,
    );
  }
  return resolve(STATEMACHINES_DIR, `${workflow}.asl.json`);
}

/** The definition's text with its placeholders still in. */
export function readWorkflowDefinition(workflow: Workflow): string {
  return readFileSync(workflowDefinitionPath(workflow), 'utf8');
}

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/** The placeholder names a definition uses, sorted. */
export function placeholdersIn(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))].sort();
}

/** Replaces every `${Name}`; a name without a value is an error, not a silent leftover. */
export function substitutePlaceholders(text: string, values: Record<string, string>): string {
  const missing = placeholdersIn(text).filter((name) => values[name] === undefined);
  if (missing.length > 0) {
    throw new InvalidInputError(
      'definitionSubstitutions',
      `no value for ${missing.map((m) => `\${${m}}`).join(', ')}`,
    );
  }
  return text.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
}

/** A Lambda function ARN in the shape CDK would produce; the local runner uses these to bind handlers. */
export function functionArn(
  fn: ControlPlaneFunction,
  options: { region?: string; accountId?: string; prefix?: string } = {},
): string {
  return `arn:aws:lambda:${options.region ?? 'us-east-1'}:${options.accountId ?? '000000000000'}:function:${options.prefix ?? 'streamfleet-'}${fn}`;
}

/** The substitutions for every function placeholder, from a function → ARN mapping. */
export function functionArnSubstitutions(
  arnOf: (fn: ControlPlaneFunction) => string,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(FUNCTION_ARN_PLACEHOLDERS).map(([placeholder, fn]) => [placeholder, arnOf(fn)]),
  );
}
