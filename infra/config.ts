/**
 * The CDK app's settings, read once from context (`cdk.json`, or `-c key=value` on the command line) and
 * validated with messages that name the key. The fleet is parsed with the same `parseFleet` the workflows
 * use, so the table and role names the grants are scoped to are exactly the ones the handlers will touch.
 */

import { type FleetSpec, parseFleet } from '../core/fleet/fleet.js';
import { InvalidInputError } from '../core/vocabulary/errors.js';
import { describeValue } from '../core/vocabulary/validation.js';

/** Every context key the app reads. README's "Deploy to AWS" documents each one (a test checks both lists agree). */
export const CONTEXT_KEYS = [
  'fleet',
  'stackName',
  'clusterName',
  'installKeda',
  'kedaVersion',
  'clusterAdminRoleArn',
  'buildConsumerImage',
  'consumerImagePlatform',
  'verifyEveryMinutes',
  'verifyScheduleEnabled',
  'replicationLagThresholdMs',
  'alertEmail',
  'logRetentionDays',
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** The KEDA Helm chart version installed when the app installs KEDA (`kedaVersion` overrides it). */
export const DEFAULT_KEDA_VERSION = '2.21.1';
export const KEDA_CHART = {
  repository: 'https://kedacore.github.io/charts',
  chart: 'keda',
  release: 'keda',
  namespace: 'keda',
} as const;

export const ImagePlatform = { Amd64: 'linux/amd64', Arm64: 'linux/arm64' } as const;
export type ImagePlatform = (typeof ImagePlatform)[keyof typeof ImagePlatform];

/** CloudWatch Logs accepts only these retention periods (days). */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export interface InfraConfig {
  stackName: string;
  /** The fleet object every workflow input carries, as given (plus `clusterName` when it was left out). */
  fleetInput: Record<string, unknown>;
  /** The same fleet, parsed with the workflows' defaults (role names, lease table, ...). */
  fleet: FleetSpec;
  cluster:
    | { mode: 'import'; name: string; installKeda: boolean }
    | { mode: 'create'; name: string; installKeda: true };
  kedaVersion: string;
  clusterAdminRoleArn: string | undefined;
  /** Build consumer/Dockerfile as a DockerImageAsset; false when `fleet.image` names an image instead. */
  buildConsumerImage: boolean;
  consumerImagePlatform: ImagePlatform;
  verifyEveryMinutes: number;
  verifyScheduleEnabled: boolean;
  replicationLagThresholdMs: number;
  alertEmail: string | undefined;
  logRetentionDays: number;
}

/** What a construct's `node.tryGetContext` gives; a function so tests can pass a plain object. */
export type ContextReader = (key: ContextKey) => unknown;

function fail(key: string, expected: string, value: unknown): never {
  throw new InvalidInputError(`context ${key}`, `expected ${expected}, got ${describeValue(value)}`);
}

/** `-c key=value` always gives strings; cdk.json gives JSON values. Both are accepted. */
function booleanOf(key: ContextKey, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return fail(key, 'true or false', value);
}

function integerOf(key: ContextKey, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    return fail(key, `an integer from ${min} to ${max}`, value);
  }
  return n;
}

function textOf(key: ContextKey, value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') return fail(key, 'a string', value);
  return value.trim();
}

function objectOf(key: ContextKey, value: unknown): Record<string, unknown> {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return fail(key, 'a JSON object', value);
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return fail(key, 'an object (in cdk.json) or a JSON object string (with -c)', value);
  }
  return parsed as Record<string, unknown>;
}

export function readInfraConfig(context: ContextReader): InfraConfig {
  const rawFleet = context('fleet');
  if (rawFleet === undefined) {
    throw new InvalidInputError(
      'context fleet',
      'is required: the fleet the stack serves (see cdk.json, or pass -c fleet=\'{"name":…}\')',
    );
  }
  const given = objectOf('fleet', rawFleet);
  const importName = textOf('clusterName', context('clusterName'));
  if (importName !== undefined && given.clusterName !== undefined && given.clusterName !== importName) {
    throw new InvalidInputError(
      'context fleet.clusterName',
      `is ${describeValue(given.clusterName)} but context clusterName is ${describeValue(importName)}: they must name the same cluster`,
    );
  }
  const fleetInput: Record<string, unknown> = {
    ...given,
    clusterName: given.clusterName ?? importName ?? 'streamfleet',
  };
  const fleet = parseFleet(fleetInput, 'context fleet');

  const installKeda = booleanOf('installKeda', context('installKeda'), importName === undefined);
  if (importName === undefined && !installKeda) {
    fail('installKeda', 'true (or unset) when the app creates the cluster: the workflows need KEDA', false);
  }
  const cluster: InfraConfig['cluster'] =
    importName === undefined
      ? { mode: 'create', name: fleet.clusterName, installKeda: true }
      : { mode: 'import', name: importName, installKeda };

  const kedaVersion = textOf('kedaVersion', context('kedaVersion')) ?? DEFAULT_KEDA_VERSION;
  if (!/^\d+\.\d+\.\d+$/.test(kedaVersion))
    fail('kedaVersion', 'a chart version such as 2.21.1', kedaVersion);

  const clusterAdminRoleArn = textOf('clusterAdminRoleArn', context('clusterAdminRoleArn'));
  if (
    clusterAdminRoleArn !== undefined &&
    !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(clusterAdminRoleArn)
  ) {
    fail('clusterAdminRoleArn', 'an IAM role ARN (arn:aws:iam::123456789012:role/NAME)', clusterAdminRoleArn);
  }

  const buildConsumerImage = booleanOf('buildConsumerImage', context('buildConsumerImage'), true);
  if (!buildConsumerImage && fleet.image === undefined) {
    throw new InvalidInputError(
      'context fleet.image',
      'is required with buildConsumerImage=false: name the consumer image the setup workflow deploys',
    );
  }
  const platform = textOf('consumerImagePlatform', context('consumerImagePlatform')) ?? ImagePlatform.Amd64;
  if (platform !== ImagePlatform.Amd64 && platform !== ImagePlatform.Arm64) {
    fail('consumerImagePlatform', `${ImagePlatform.Amd64} or ${ImagePlatform.Arm64}`, platform);
  }

  const stackName = textOf('stackName', context('stackName')) ?? 'Streamfleet';
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    fail('stackName', 'a CloudFormation stack name (letters, digits and hyphens)', stackName);
  }

  const alertEmail = textOf('alertEmail', context('alertEmail'));
  if (alertEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alertEmail)) {
    fail('alertEmail', 'an e-mail address', alertEmail);
  }

  const logRetentionDays = integerOf('logRetentionDays', context('logRetentionDays'), 30, 1, 3653);
  if (!(RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    fail('logRetentionDays', `one of ${RETENTION_DAYS.join(', ')}`, logRetentionDays);
  }

  return {
    stackName,
    fleetInput,
    fleet,
    cluster,
    kedaVersion,
    clusterAdminRoleArn,
    buildConsumerImage,
    consumerImagePlatform: platform,
    verifyEveryMinutes: integerOf('verifyEveryMinutes', context('verifyEveryMinutes'), 5, 1, 60),
    verifyScheduleEnabled: booleanOf('verifyScheduleEnabled', context('verifyScheduleEnabled'), true),
    replicationLagThresholdMs: integerOf(
      'replicationLagThresholdMs',
      context('replicationLagThresholdMs'),
      fleet.checks.maxLagMs,
      1,
      86_400_000,
    ),
    alertEmail,
    logRetentionDays,
  };
}
