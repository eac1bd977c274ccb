/**
 * One operation per control-plane handler, written against the ports only: the handlers in functions/ are
 * `parse → operation → result`, and nothing here knows whether the cluster is EKS or local processes.
 */

import { deployConsumer, installScaler, removeConsumer, removeScaler } from './fleet/fleet-deploy.js';
import {
  type AlarmInput,
  type CompareInput,
  CompareStep,
  type DeployInput,
  type FleetInput,
  type LoadInput,
  type ScalerInput,
  type ScalingCheckRequest,
  type StreamInput,
  type TeardownInput,
  type VerdictsInput,
} from './inputs.js';
import { removeIrsa, wireIrsa } from './irsa.js';
import { UNFINISHED_SHARDS_METRIC } from './kubernetes/keda.js';
import type { ClusterPorts, ControlPlanePorts } from './ports.js';
import { writeLoadBatch } from './tables/load.js';
import {
  deleteTables,
  describeTable,
  ensureReplicationTables,
  existingTable,
  keyFromDescription,
  type TableKey,
  tableKey,
} from './tables/tables.js';
import { diagnose } from './verification/alarms.js';
import {
  type ComparisonVerdict,
  type ReplicationVerdict,
  type ScalingVerdict,
  verifyReplication,
  verifyScaling,
} from './verification/checks.js';
import {
  type ComparePlan,
  judgeComparison,
  planComparison,
  type SegmentProgress,
} from './verification/compare-plan.js';
import { fleetMetricData } from './verification/fleet-metrics.js';
import { compareSegmentStep, processPeakRssMiB } from './verification/full-compare.js';
import { InvalidInputError } from './vocabulary/errors.js';

export async function ensureTablesOperation(ports: ControlPlanePorts, { fleet }: FleetInput) {
  const { partitionKey, sortKey } = fleet.tables;
  return ensureReplicationTables(ports.dynamodb, {
    sourceTableName: fleet.sourceTableName,
    replicaTableName: fleet.replicaTableName,
    create: fleet.tables.create,
    ...(partitionKey ? { key: { partitionKey, ...(sortKey ? { sortKey } : {}) } } : {}),
  });
}

export async function wireIrsaOperation(ports: ClusterPorts, input: StreamInput) {
  const cluster = await ports.cluster(input.fleet.clusterName);
  return wireIrsa({ iam: ports.iam, cluster }, input);
}

export async function deployConsumerOperation(ports: ClusterPorts, input: DeployInput) {
  const cluster = await ports.cluster(input.fleet.clusterName);
  return deployConsumer(cluster, { ...input, region: ports.config.region });
}

export async function installScalerOperation(ports: ClusterPorts, input: ScalerInput) {
  const cluster = await ports.cluster(input.fleet.clusterName);
  return installScaler(cluster, { ...input, region: ports.config.region });
}

export async function generateLoadOperation(ports: ControlPlanePorts, input: LoadInput) {
  const key = await tableKey(ports.dynamodb, input.fleet.sourceTableName);
  return writeLoadBatch(ports.dynamodb, {
    tableName: input.fleet.sourceTableName,
    key,
    load: input.load,
    batch: input.batch,
  });
}

export async function verifyScalingOperation(ports: ClusterPorts, input: ScalingCheckRequest) {
  const cluster = await ports.cluster(input.fleet.clusterName);
  return verifyScaling({ dynamodb: ports.dynamodb, streams: ports.streams, cluster }, input);
}

export async function verifyReplicationOperation(ports: ControlPlanePorts, input: FleetInput) {
  return verifyReplication({ dynamodb: ports.dynamodb, streams: ports.streams }, input);
}

/** What a handler knows of its own invocation (Lambda's context). */
export interface InvocationInfo {
  remainingMs?(): number;
}

/**
 * One step of the compare workflow: `plan` (table sizes → segments), `segment` (one bounded invocation of one
 * segment, from its progress to its next progress), `report` (the verdict over every segment).
 */
export async function compareReplicasOperation(
  ports: ControlPlanePorts,
  input: CompareInput,
  invocation: InvocationInfo = {},
): Promise<(ComparePlan & { key: TableKey }) | SegmentProgress | ComparisonVerdict> {
  const { fleet } = input;
  const replicaTableName = fleet.replicaTableName;
  if (replicaTableName === undefined) {
    throw new InvalidInputError(
      'fleet.replicaTableName',
      `the compare workflow compares a replica with its source; fleet ${fleet.name} runs its own processor (${fleet.processor?.module}) and has none`,
    );
  }
  switch (input.step) {
    case CompareStep.Plan: {
      const [source, replica] = await Promise.all([
        describeTable(ports.dynamodb, fleet.sourceTableName),
        describeTable(ports.dynamodb, replicaTableName),
      ]);
      const key = keyFromDescription(existingTable(source, fleet.sourceTableName));
      existingTable(replica, replicaTableName);
      const plan = planComparison({
        itemCounts: { source: source?.ItemCount ?? 0, replica: replica?.ItemCount ?? 0 },
        options: input.options,
      });
      return { ...plan, key };
    }
    case CompareStep.Segment:
      return compareSegmentStep(
        ports.dynamodb,
        {
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
          now: Date.now,
          peakRssMiB: processPeakRssMiB,
          ...(invocation.remainingMs ? { remainingMs: invocation.remainingMs } : {}),
        },
        { key: input.key, sourceTable: fleet.sourceTableName, replicaTable: replicaTableName },
        input.segment,
        input.options,
      );
    case CompareStep.Report:
      return judgeComparison({
        sourceTableName: fleet.sourceTableName,
        replicaTableName,
        segments: input.segments,
      });
  }
}

export interface HealthReport {
  healthy: boolean;
  /** Every unhealthy verdict's reasons, prefixed with the check's name. */
  reasons: string[];
  /** One paragraph for a Fail state's Cause. */
  summary: string;
  published: { namespace: string; dimensions: Record<string, string>; metrics: string[] };
  scaling?: ScalingVerdict;
  replication?: ReplicationVerdict;
  comparison?: ComparisonVerdict;
}

export async function publishMetricsOperation(
  ports: ControlPlanePorts,
  input: VerdictsInput,
): Promise<HealthReport> {
  const data = fleetMetricData(input);
  const dimensions = { [UNFINISHED_SHARDS_METRIC.dimensionName]: input.fleet.applicationName };
  await ports.metrics.put(ports.config.metricsNamespace, dimensions, data, new Date());
  const verdicts = [input.scaling, input.replication, input.comparison].filter((v) => v !== undefined);
  const reasons = verdicts.flatMap((v) => v.reasons.map((reason) => `${v.check}: ${reason}`));
  const healthy = verdicts.every((v) => v.healthy);
  return {
    healthy,
    reasons,
    summary: healthy
      ? `Fleet ${input.fleet.name} is healthy. ${verdicts.map((v) => v.summary).join(' ')}`
      : `Fleet ${input.fleet.name} is unhealthy. ${reasons.join(' ')}`,
    published: { namespace: ports.config.metricsNamespace, dimensions, metrics: data.map((d) => d.name) },
    ...(input.scaling ? { scaling: input.scaling } : {}),
    ...(input.replication ? { replication: input.replication } : {}),
    ...(input.comparison ? { comparison: input.comparison } : {}),
  };
}

export async function handleAlarmOperation(ports: ControlPlanePorts, input: AlarmInput) {
  const diagnosis = diagnose(input);
  const { messageId } = await ports.alerts(input.alertsTopicArn).publish(diagnosis);
  return { ...diagnosis, messageId };
}

export async function teardownOperation(ports: ClusterPorts, input: TeardownInput) {
  const { fleet } = input;
  switch (input.step) {
    case 'scaler':
      return { step: input.step, ...(await removeScaler(await ports.cluster(fleet.clusterName), fleet)) };
    case 'consumer':
      return { step: input.step, ...(await removeConsumer(await ports.cluster(fleet.clusterName), fleet)) };
    case 'roles': {
      const cluster = await ports.cluster(fleet.clusterName);
      return { step: input.step, ...(await removeIrsa({ iam: ports.iam, cluster }, fleet)) };
    }
    case 'tables': {
      if (input.deleteTables !== true) return { step: input.step, deleted: [], absent: [], kept: true };
      const tables = [fleet.sourceTableName, fleet.replicaTableName, fleet.applicationName];
      const result = await deleteTables(
        ports.dynamodb,
        tables.filter((table): table is string => table !== undefined),
      );
      return { step: input.step, ...result, kept: false };
    }
  }
}
