/**
 * The input of each control-plane handler, parsed from what Step Functions passes (the execution input's
 * `fleet` plus what earlier states produced). Every error is an InvalidInputError naming the field.
 */

import { type FleetSpec, parseFleet, requireText } from './fleet/fleet.js';
import { type LoadSpec, parseLoad } from './tables/load.js';
import { requireKeyAttribute, type TableKey } from './tables/tables.js';
import type { AlarmChange } from './verification/alarms.js';
import { parseAlarmEvent } from './verification/alarms.js';
import type { ComparisonVerdict, ReplicationVerdict, ScalingVerdict } from './verification/checks.js';
import {
  COMPARE_DEFAULTS,
  type CompareOptions,
  ComparePhase,
  MAX_COMPARE_SEGMENTS,
  type SegmentProgress,
} from './verification/compare-plan.js';
import { InvalidInputError } from './vocabulary/errors.js';
import { describeValue, requireInteger } from './vocabulary/validation.js';

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

export interface ScalerInput extends StreamInput {
  /** The fleet's scaler role, from WireIrsa: the TriggerAuthentication names it. */
  scalerRoleArn: string;
}

export function parseScalerInput(value: unknown): ScalerInput {
  const input = event(value);
  return { ...parseStreamInput(value), scalerRoleArn: requireText('scalerRoleArn', input.scalerRoleArn) };
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
  comparison?: ComparisonVerdict;
}

export function parseVerdictsInput(value: unknown): VerdictsInput {
  const input = event(value);
  const scaling = optionalVerdict<ScalingVerdict>('scaling', input.scaling, 'scaling');
  const replication = optionalVerdict<ReplicationVerdict>('replication', input.replication, 'replication');
  const comparison = optionalVerdict<ComparisonVerdict>('comparison', input.comparison, 'comparison');
  return {
    fleet: parseFleet(input.fleet),
    ...(scaling ? { scaling } : {}),
    ...(replication ? { replication } : {}),
    ...(comparison ? { comparison } : {}),
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

export const CompareStep = { Plan: 'plan', Segment: 'segment', Report: 'report' } as const;
export type CompareStep = (typeof CompareStep)[keyof typeof CompareStep];

/** The compare workflow's `compare` object, with defaults (README, Workflows). */
export function parseCompareOptions(value: unknown, field = 'compare'): CompareOptions {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidInputError(field, `expected an object, got ${describeValue(value)}`);
  }
  const c = (value ?? {}) as Json;
  const int = (name: string, fallback: number | undefined, bounds: { min: number; max: number }) =>
    c[name] === undefined ? fallback : requireInteger(`${field}.${name}`, c[name], bounds);
  return {
    segments: int('segments', undefined, { min: 1, max: MAX_COMPARE_SEGMENTS }),
    maxConcurrency: int('maxConcurrency', COMPARE_DEFAULTS.maxConcurrency, { min: 1, max: 40 }) as number,
    itemsPerInvocation: int('itemsPerInvocation', COMPARE_DEFAULTS.itemsPerInvocation, {
      min: 100,
      max: 1_000_000,
    }) as number,
    secondsPerInvocation: int('secondsPerInvocation', COMPARE_DEFAULTS.secondsPerInvocation, {
      min: 5,
      max: 600,
    }) as number,
    recheckAfterMs: int('recheckAfterMs', COMPARE_DEFAULTS.recheckAfterMs, { min: 0, max: 60_000 }) as number,
    maxExamples: int('maxExamples', COMPARE_DEFAULTS.maxExamples, { min: 0, max: 20 }) as number,
  };
}

function segmentProgress(field: string, value: unknown): SegmentProgress {
  const s = value as Partial<SegmentProgress> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    !Number.isInteger(s.segment) ||
    !Number.isInteger(s.totalSegments) ||
    !Object.values(ComparePhase).includes(s.phase as ComparePhase) ||
    (s.cursor !== null && typeof s.cursor !== 'object') ||
    typeof s.tally !== 'object' ||
    typeof s.readUnits !== 'object'
  ) {
    throw new InvalidInputError(
      field,
      `expected a segment's progress as the plan step or the previous segment step returned it, got ${describeValue(value)}`,
    );
  }
  return s as SegmentProgress;
}

function optionsFromPlan(value: unknown): Omit<CompareOptions, 'segments' | 'maxConcurrency'> {
  const { segments: _, maxConcurrency: __, ...rest } = parseCompareOptions(value, 'options');
  return rest;
}

export type CompareInput =
  | (FleetInput & { step: typeof CompareStep.Plan; options: CompareOptions })
  | (FleetInput & {
      step: typeof CompareStep.Segment;
      key: TableKey;
      options: Omit<CompareOptions, 'segments' | 'maxConcurrency'>;
      segment: SegmentProgress;
    })
  | (FleetInput & { step: typeof CompareStep.Report; segments: SegmentProgress[] });

/** One step of the compare workflow: plan, one segment's next invocation, or the report. */
export function parseCompareInput(value: unknown): CompareInput {
  const input = event(value);
  const fleet = parseFleet(input.fleet);
  switch (input.step) {
    case CompareStep.Plan:
      return { fleet, step: CompareStep.Plan, options: parseCompareOptions(input.compare) };
    case CompareStep.Segment:
      return {
        fleet,
        step: CompareStep.Segment,
        key: {
          partitionKey: requireKeyAttribute(
            'key.partitionKey',
            (input.key as Json | undefined)?.partitionKey,
          ),
          ...((input.key as Json | undefined)?.sortKey === undefined
            ? {}
            : { sortKey: requireKeyAttribute('key.sortKey', (input.key as Json).sortKey) }),
        },
        options: optionsFromPlan(input.options),
        segment: segmentProgress('segment', input.segment),
      };
    case CompareStep.Report: {
      if (!Array.isArray(input.segments)) {
        throw new InvalidInputError(
          'segments',
          `expected the Map's array of segment progress, got ${describeValue(input.segments)}`,
        );
      }
      return {
        fleet,
        step: CompareStep.Report,
        segments: input.segments.map((s, i) => segmentProgress(`segments[${i}]`, s)),
      };
    }
    default:
      throw new InvalidInputError(
        'step',
        `expected one of ${Object.values(CompareStep).join(', ')}, got ${describeValue(input.step)}`,
      );
  }
}
