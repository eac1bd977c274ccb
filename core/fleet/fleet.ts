/**
 * One consumer fleet as the workflows describe it (`FleetSpec`, the `fleet` object of every execution input),
 * parsed once with errors that name the field (`fleet.scaling.shardCount`), and the cluster-side steps that
 * only need the spec and the `Cluster` port: deploy the consumer, install the scaler, and remove both.
 */

import { KEDA_OPERATOR_SERVICE_ACCOUNT } from '../iam/iam-policies.js';
import { type FleetProcessor, parseFleetProcessor } from '../iam/processor-grants.js';
import {
  SHUTDOWN_TIMEOUT,
  shutdownTimeoutMs,
  terminationGracePeriod,
} from '../kubernetes/consumer-deployment.js';
import { type ScalingConfig, ScalingMode, scalingConfig } from '../kubernetes/keda.js';
import { type KeyAttribute, requireKeyAttribute } from '../tables/tables.js';
import { InvalidInputError } from '../vocabulary/errors.js';
import {
  describeValue,
  requireDns1123Label,
  requireDns1123Subdomain,
  requireInteger,
  requireTableName,
} from '../vocabulary/validation.js';

export const ReplicationCheckMode = { Sample: 'sample' } as const;
export type ReplicationCheckMode = (typeof ReplicationCheckMode)[keyof typeof ReplicationCheckMode];

export interface FleetScaling {
  mode: ScalingMode;
  shardCount?: number;
  activationShardCount?: number;
  minReplicaCount?: number;
  maxReplicaCount?: number;
  pollingIntervalSeconds?: number;
  cooldownPeriodSeconds?: number;
  scaleDownStabilizationSeconds?: number;
}

export interface FleetSpec {
  /** The Deployment, ScaledObject and ServiceAccount name (a DNS-1123 label). */
  name: string;
  /** The EKS cluster (eks mode) or local cluster (local mode). */
  clusterName: string;
  namespace: string;
  sourceTableName: string;
  /** The replica table: replication's, so absent when the fleet runs its own `processor`. */
  replicaTableName: string | undefined;
  /**
   * The fleet's own record processor instead of replication: the module its image carries (PROCESSOR_MODULE)
   * and the IAM statements its own resources need (docs/processors.md).
   */
  processor: FleetProcessor | undefined;
  /** APPLICATION_NAME, also the lease table. Default: `name`. */
  applicationName: string;
  /** The consumer image; required to deploy (the local cluster runs dist/consumer.js whatever it says). */
  image: string | undefined;
  /** Extra worker variables (tuning knobs from consumer/config.ts). */
  workerEnv: Record<string, string>;
  /** The pods' grace period: SHUTDOWN_TIMEOUT_MS (workerEnv, or the worker's default) + a margin, or as given. */
  terminationGracePeriodSeconds: number;
  tables: { create: boolean; partitionKey?: KeyAttribute; sortKey?: KeyAttribute };
  scaling: FleetScaling;
  /**
   * Where KEDA runs, and the IRSA role of its operator: one role per cluster, shared by every fleet on it,
   * allowed to assume each fleet's scaler role (`roles.scalerRoleName`) and nothing else.
   */
  keda: { namespace: string; serviceAccountName: string; deploymentName: string; operatorRoleName: string };
  /**
   * The fleet's own roles: the consumer's (its pods' IRSA role) and the scaler's, which KEDA assumes for this
   * fleet's trigger (the TriggerAuthentication's `podIdentity.roleArn`), so fleets never share permissions.
   */
  roles: { consumerRoleName: string; scalerRoleName: string };
  checks: {
    /** Time between the two lease-table reads that tell a renewed lease from an expired one. */
    leaseSampleMs: number;
    /** Replication lag above this is unhealthy. */
    maxLagMs: number;
    /** Always `sample`: a full comparison is the compare workflow's, never the scheduled check's. */
    replicationMode: ReplicationCheckMode;
    /** Read units one replication check may consume (source, replica and lease table, re-checks included). */
    readBudget: number;
    /** A mismatch is read again this long after (at least; longer while the fleet lags) before it counts. */
    recheckAfterMs: number;
    /** The replication check stops sampling after this long. */
    maxSampleSeconds: number;
  };
}

/** Read units a scheduled replication check consumes by default: about 370 items of up to 4 KB compared. */
export const DEFAULT_READ_BUDGET = 250;

const CLUSTER_NAME = /^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

type Json = Record<string, unknown>;

function object(field: string, value: unknown, required = false): Json {
  if (value === undefined && !required) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected an object, got ${describeValue(value)}`);
  }
  return value as Json;
}

function bool(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new InvalidInputError(field, `expected true or false, got ${describeValue(value)}`);
  return value;
}

function optionalInteger(
  field: string,
  value: unknown,
  bounds: { min?: number; max?: number },
): number | undefined {
  return value === undefined ? undefined : requireInteger(field, value, bounds);
}

/** Re-throws an InvalidInputError from a builder with the fleet field it came from. */
export function prefixed<T>(prefix: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof InvalidInputError && !error.field.startsWith(prefix)) {
      throw new InvalidInputError(`${prefix}.${error.field}`, error.message.slice(error.field.length + 2), {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * The worker's dead-letter settings, by the names consumer/config.ts reads (a unit test keeps them in step):
 * with `POISON_RECORD_POLICY=dead-letter` the workers create and write `DEAD_LETTER_TABLE_NAME`.
 */
export const DEAD_LETTER_SETTINGS = {
  policyVariable: 'POISON_RECORD_POLICY',
  policy: 'dead-letter',
  tableVariable: 'DEAD_LETTER_TABLE_NAME',
} as const;

/** The dead-letter table this fleet's workers use, if they use one. */
export function fleetDeadLetterTable(fleet: Pick<FleetSpec, 'workerEnv'>): string | undefined {
  const env = fleet.workerEnv;
  return env[DEAD_LETTER_SETTINGS.policyVariable] === DEAD_LETTER_SETTINGS.policy
    ? env[DEAD_LETTER_SETTINGS.tableVariable]
    : undefined;
}

/** The KEDA operator's role by default: one per cluster, as the operator is. */
export function kedaOperatorRoleName(clusterName: string): string {
  return `keda-operator-${clusterName}`;
}

function requireRoleName(field: string, value: unknown, derivedFrom: string | undefined): string {
  if (typeof value !== 'string' || !ROLE_NAME.test(value)) {
    throw new InvalidInputError(
      field,
      `expected an IAM role name (1-64 of letters, digits and +=,.@_-), got ${describeValue(value)}${
        derivedFrom === undefined ? '' : ` (${derivedFrom}; set it explicitly)`
      }`,
    );
  }
  return value;
}

/** Parses and checks the `fleet` object of an execution input. */
export function parseFleet(value: unknown, field = 'fleet'): FleetSpec {
  const input = object(field, value, true);
  const f = (name: string) => `${field}.${name}`;
  const name = requireDns1123Label(f('name'), input.name);
  const clusterName = input.clusterName;
  if (typeof clusterName !== 'string' || !CLUSTER_NAME.test(clusterName)) {
    throw new InvalidInputError(
      f('clusterName'),
      `expected a cluster name (1-100 letters, digits, '-' and '_', starting with a letter or digit), got ${describeValue(clusterName)}`,
    );
  }
  const namespace = requireDns1123Label(f('namespace'), input.namespace ?? 'streamfleet');
  const sourceTableName = requireTableName(f('sourceTableName'), input.sourceTableName);
  const processor =
    input.processor === undefined ? undefined : parseFleetProcessor(f('processor'), input.processor);
  if (processor && input.replicaTableName !== undefined) {
    throw new InvalidInputError(
      f('replicaTableName'),
      `a fleet that runs its own processor (${f('processor')}) replicates nothing: remove replicaTableName`,
    );
  }
  const replicaTableName = processor
    ? undefined
    : requireTableName(f('replicaTableName'), input.replicaTableName);
  if (replicaTableName === sourceTableName) {
    throw new InvalidInputError(
      f('replicaTableName'),
      `must differ from sourceTableName (${sourceTableName})`,
    );
  }
  const applicationName = requireTableName(f('applicationName'), input.applicationName ?? name);
  if (applicationName === sourceTableName || applicationName === replicaTableName) {
    throw new InvalidInputError(
      f('applicationName'),
      `names the lease table and must differ from the source and replica tables, got ${describeValue(applicationName)}`,
    );
  }
  const image = input.image === undefined ? undefined : input.image;
  if (image !== undefined && (typeof image !== 'string' || image.length === 0)) {
    throw new InvalidInputError(
      f('image'),
      `expected a container image reference, got ${describeValue(image)}`,
    );
  }
  const envInput = object(f('workerEnv'), input.workerEnv);
  const workerEnv: Record<string, string> = {};
  for (const [key, v] of Object.entries(envInput)) {
    if (typeof v !== 'string') {
      throw new InvalidInputError(
        `${f('workerEnv')}.${key}`,
        `expected a string value, got ${describeValue(v)}`,
      );
    }
    workerEnv[key] = v;
  }
  if (
    workerEnv[DEAD_LETTER_SETTINGS.policyVariable] === DEAD_LETTER_SETTINGS.policy &&
    workerEnv[DEAD_LETTER_SETTINGS.tableVariable] === undefined
  ) {
    throw new InvalidInputError(
      `${f('workerEnv')}.${DEAD_LETTER_SETTINGS.tableVariable}`,
      `is required with ${DEAD_LETTER_SETTINGS.policyVariable}=${DEAD_LETTER_SETTINGS.policy}: name the table the workers put refused records into (its IRSA policy is scoped to it)`,
    );
  }
  const shutdownField = `${f('workerEnv')}.${SHUTDOWN_TIMEOUT.variable}`;
  const terminationGracePeriodSeconds = terminationGracePeriod({
    shutdownTimeoutMs: shutdownTimeoutMs(workerEnv, shutdownField),
    requested: input.terminationGracePeriodSeconds as number | undefined,
    shutdownField,
    graceField: f('terminationGracePeriodSeconds'),
  });

  const tablesInput = object(f('tables'), input.tables);
  const tables: FleetSpec['tables'] = { create: bool(`${f('tables')}.create`, tablesInput.create, false) };
  if (tablesInput.partitionKey !== undefined) {
    tables.partitionKey = requireKeyAttribute(`${f('tables')}.partitionKey`, tablesInput.partitionKey);
  }
  if (tablesInput.sortKey !== undefined) {
    tables.sortKey = requireKeyAttribute(`${f('tables')}.sortKey`, tablesInput.sortKey);
  }

  const s = object(f('scaling'), input.scaling);
  const mode = (s.mode ?? ScalingMode.Classic) as ScalingMode;
  if (mode !== ScalingMode.Classic && mode !== ScalingMode.UnfinishedShards) {
    throw new InvalidInputError(
      `${f('scaling')}.mode`,
      `expected ${ScalingMode.Classic} or ${ScalingMode.UnfinishedShards}, got ${describeValue(mode)}`,
    );
  }
  const scaling: FleetScaling = { mode };
  const numbers = [
    ['shardCount', 1],
    ['activationShardCount', 0],
    ['minReplicaCount', 0],
    ['maxReplicaCount', 1],
    ['pollingIntervalSeconds', 1],
    ['cooldownPeriodSeconds', 0],
    ['scaleDownStabilizationSeconds', 0],
  ] as const;
  for (const [key, min] of numbers) {
    const n = optionalInteger(`${f('scaling')}.${key}`, s[key], { min });
    if (n !== undefined) scaling[key] = n;
  }
  prefixed(f('scaling'), () => fleetScalingConfig(scaling));

  const k = object(f('keda'), input.keda);
  const keda = {
    namespace: requireDns1123Label(
      `${f('keda')}.namespace`,
      k.namespace ?? KEDA_OPERATOR_SERVICE_ACCOUNT.namespace,
    ),
    serviceAccountName: requireDns1123Subdomain(
      `${f('keda')}.serviceAccountName`,
      k.serviceAccountName ?? KEDA_OPERATOR_SERVICE_ACCOUNT.name,
    ),
    deploymentName: requireDns1123Label(`${f('keda')}.deploymentName`, k.deploymentName ?? 'keda-operator'),
    operatorRoleName: requireRoleName(
      `${f('keda')}.operatorRoleName`,
      k.operatorRoleName ?? kedaOperatorRoleName(clusterName),
      k.operatorRoleName === undefined ? 'derived from fleet.clusterName' : undefined,
    ),
  };

  const r = object(f('roles'), input.roles);
  if (r.kedaOperatorRoleName !== undefined) {
    throw new InvalidInputError(
      `${f('roles')}.kedaOperatorRoleName`,
      `is replaced by ${f('roles')}.scalerRoleName (this fleet's own role, which KEDA assumes for its trigger) and ${f('keda')}.operatorRoleName (the KEDA operator's role, one per cluster): rename it, or remove it for the defaults (NAME-keda-scaler, keda-operator-CLUSTER)`,
    );
  }
  const roles = {
    consumerRoleName: requireRoleName(
      `${f('roles')}.consumerRoleName`,
      r.consumerRoleName ?? `${name}-consumer`,
      r.consumerRoleName === undefined ? 'derived from fleet.name' : undefined,
    ),
    scalerRoleName: requireRoleName(
      `${f('roles')}.scalerRoleName`,
      r.scalerRoleName ?? `${name}-keda-scaler`,
      r.scalerRoleName === undefined ? 'derived from fleet.name' : undefined,
    ),
  };
  if (new Set([roles.consumerRoleName, roles.scalerRoleName, keda.operatorRoleName]).size < 3) {
    throw new InvalidInputError(
      f('roles'),
      `the consumer role, the scaler role and the KEDA operator role must be three different roles, got ${roles.consumerRoleName}, ${roles.scalerRoleName} and ${keda.operatorRoleName}`,
    );
  }

  const c = object(f('checks'), input.checks);
  const replicationMode = (c.replicationMode ?? ReplicationCheckMode.Sample) as ReplicationCheckMode;
  if (replicationMode !== ReplicationCheckMode.Sample) {
    throw new InvalidInputError(
      `${f('checks')}.replicationMode`,
      `expected sample, got ${describeValue(replicationMode)}: the scheduled check samples within fleet.checks.readBudget (a table the budget covers is compared whole); for a full comparison run the compare workflow (README, Workflows)`,
    );
  }
  if (c.sampleSize !== undefined) {
    throw new InvalidInputError(
      `${f('checks')}.sampleSize`,
      'is replaced by fleet.checks.readBudget (read units a check may consume; the sample is as large as they pay for): remove it',
    );
  }
  const checks = {
    leaseSampleMs: requireInteger(`${f('checks')}.leaseSampleMs`, c.leaseSampleMs ?? 5_000, {
      min: 0,
      max: 60_000,
    }),
    maxLagMs: requireInteger(`${f('checks')}.maxLagMs`, c.maxLagMs ?? 60_000, { min: 0 }),
    replicationMode,
    // Time bounds a run as well (maxSampleSeconds), so a large budget cannot outlive the Lambda.
    readBudget: requireInteger(`${f('checks')}.readBudget`, c.readBudget ?? DEFAULT_READ_BUDGET, {
      min: 20,
      max: 1_000_000,
    }),
    recheckAfterMs: requireInteger(`${f('checks')}.recheckAfterMs`, c.recheckAfterMs ?? 5_000, {
      min: 0,
      max: 60_000,
    }),
    maxSampleSeconds: requireInteger(`${f('checks')}.maxSampleSeconds`, c.maxSampleSeconds ?? 60, {
      min: 1,
      max: 600,
    }),
  };

  return {
    name,
    clusterName,
    namespace,
    sourceTableName,
    replicaTableName,
    processor,
    applicationName,
    image,
    workerEnv,
    terminationGracePeriodSeconds,
    tables,
    scaling,
    keda,
    roles,
    checks,
  };
}

/** The scaling configuration the fleet's ScaledObject carries (KEDA's and the HPA's defaults underneath). */
export function fleetScalingConfig(scaling: FleetScaling): ScalingConfig {
  const defaultMin = scaling.mode === ScalingMode.Classic ? 0 : 1;
  return scalingConfig({
    shardCount: scaling.shardCount,
    activationShardCount: scaling.activationShardCount,
    minReplicaCount: scaling.minReplicaCount ?? defaultMin,
    maxReplicaCount: scaling.maxReplicaCount,
    cooldownPeriodSeconds: scaling.cooldownPeriodSeconds,
    scaleDownStabilizationSeconds: scaling.scaleDownStabilizationSeconds,
  });
}

/** A string the input must carry for this step, e.g. the stream ARN from EnsureTables. */
export function requireText(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(field, `expected a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}
