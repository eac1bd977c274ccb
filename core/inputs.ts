/**
 * The input of each control-plane handler, parsed from what Step Functions passes (the execution input's
 * `fleet` plus what earlier states produced). Every error is an InvalidInputError naming the field.
 */
import type { AlarmChange } from './alarms.js';
import { parseAlarmEvent } from './alarms.js';
import type { ReplicationVerdict, ScalingVerdict } from './checks.js';
import { InvalidInputError } from './errors.js';
import { type FleetSpec, parseFleet, requireText } from './fleet.js';
import { type LoadSpec, parseLoad } from './load.js';
import { describeValue, requireInteger } from './validation.js';

type Json = Record<string, unknown>;

function event(value: unknown): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(
      '(input)',
      `expected an object with a "fleet" field, got ${describeValue(value)}`,
    );
  }
  return value as Json;
}

export interface FleetInput {
  fleet: FleetSpec;
}

export function parseFleetInput(value: unknown): FleetInput {
  return { fleet: parseFleet(event(value).fleet) };
}

/**
 * The setup workflow's whole execution input, checked by its first step before anything is made: the fleet,
 * and the optional load that a later step plans and runs (a wrong load must not surface after the tables
 * and the deployment exist).
 */
export function parseSetupInput(value: unknown): FleetInput {
  const input = event(value);
  const fleet = parseFleet(input.fleet);
  if (input.load !== undefined) parseLoad(input.load);
  return { fleet };
}

export interface StreamInput extends FleetInput {
  streamArn: string;
}

export function parseStreamInput(value: unknown): StreamInput {
  const input = event(value);
  return { fleet: parseFleet(input.fleet), streamArn: requireText('streamArn', input.streamArn) };
}

export interface DeployInput extends StreamInput {
  consumerRoleArn: string;
}

export function parseDeployInput(value: unknown): DeployInput {
  const input = event(value);
  return {
    ...parseStreamInput(value),
    consumerRoleArn: requireText('consumerRoleArn', input.consumerRoleArn),
  };
}

export interface LoadInput extends FleetInput {
  load: LoadSpec;
  batch: number;
}

export function parseLoadInput(value: unknown): LoadInput {
  const input = event(value);
  const load = parseLoad(input.load);
  return {
    fleet: parseFleet(input.fleet),
    load,
    batch: requireInteger('batch', input.batch, { min: 0, max: load.batches - 1 }),
  };
}

export interface ScalingCheckRequest extends FleetInput {
  sampleLeases: boolean;
}

export function parseScalingCheckInput(value: unknown): ScalingCheckRequest {
  const input = event(value);
  const sample = input.sampleLeases ?? true;
  if (typeof sample !== 'boolean') {
    throw new InvalidInputError('sampleLeases', `expected true or false, got ${describeValue(sample)}`);
  }
  return { fleet: parseFleet(input.fleet), sampleLeases: sample };
}

function optionalVerdict<V>(field: string, value: unknown, check: string): V | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value as { check?: unknown; healthy?: unknown; figures?: unknown; reasons?: unknown };
  if (
    typeof v !== 'object' ||
    v.check !== check ||
    typeof v.healthy !== 'boolean' ||
    !Array.isArray(v.reasons)
  ) {
    throw new InvalidInputError(
      field,
      `expected the ${check} check's verdict ({ check, healthy, reasons, figures })`,
    );
  }
  return value as V;
}

export interface VerdictsInput extends FleetInput {
  scaling?: ScalingVerdict;
  replication?: ReplicationVerdict;
}

export function parseVerdictsInput(value: unknown): VerdictsInput {
  const input = event(value);
  const scaling = optionalVerdict<ScalingVerdict>('scaling', input.scaling, 'scaling');
  const replication = optionalVerdict<ReplicationVerdict>('replication', input.replication, 'replication');
  return {
    fleet: parseFleet(input.fleet),
    ...(scaling ? { scaling } : {}),
    ...(replication ? { replication } : {}),
  };
}

export interface AlarmInput extends VerdictsInput {
  alarm: AlarmChange;
  alertsTopicArn?: string;
}

export function parseAlarmInput(value: unknown): AlarmInput {
  const input = event(value);
  const topic = input.alertsTopicArn;
  return {
    ...parseVerdictsInput(value),
    alarm: parseAlarmEvent(input.event),
    ...(topic === undefined ? {} : { alertsTopicArn: requireText('alertsTopicArn', topic) }),
  };
}

export const TeardownStep = {
  Scaler: 'scaler',
  Consumer: 'consumer',
  Roles: 'roles',
  Tables: 'tables',
} as const;
export type TeardownStep = (typeof TeardownStep)[keyof typeof TeardownStep];

export interface TeardownInput extends FleetInput {
  step: TeardownStep;
  /** Must be exactly true for the tables step to delete anything. */
  deleteTables: boolean;
}

export function parseTeardownInput(value: unknown): TeardownInput {
  const input = event(value);
  const step = input.step as TeardownStep;
  if (!Object.values(TeardownStep).includes(step)) {
    throw new InvalidInputError(
      'step',
      `expected one of ${Object.values(TeardownStep).join(', ')}, got ${describeValue(step)}`,
    );
  }
  const deleteTables = input.deleteTables ?? false;
  if (typeof deleteTables !== 'boolean') {
    throw new InvalidInputError('deleteTables', `expected true or false, got ${describeValue(deleteTables)}`);
  }
  return { fleet: parseFleet(input.fleet), step, deleteTables };
}
