/**
 * The health checks the workflows run, each a structured verdict `{ healthy, reasons, figures }`:
 * - scaling (here): shard counts, KEDA's number and the needed number, what the cluster runs and has ready,
 *   every unfinished shard leased by a live worker, no expired leases, leases balanced across workers;
 * - replication (core/verification/replication-check.ts): a sampled comparison of source and replica within a read budget,
 *   and the lag bound from the lease table;
 * - comparison (core/verification/compare-plan.ts, core/verification/full-compare.ts): the compare workflow's full comparison.
 * Reasons are sentences for a person; figures are numbers for dashboards and the next workflow state.
 */

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { type FleetSpec, fleetScalingConfig } from '../fleet/fleet.js';
import {
  describeShards,
  type LeaseView,
  SHARD_END,
  type ShardView,
  scanLeases,
  shardStates,
} from '../fleet/fleet-state.js';
import type { Cluster, ScaleStatus } from '../kubernetes/cluster.js';
import type { ScalingConfig } from '../kubernetes/keda.js';
import {
  compareReplicas,
  describeArithmetic,
  kedaTriggerArithmetic,
  neededArithmetic,
  type ReplicaComparison,
} from '../kubernetes/keda-explain.js';
import { sourceStreamArn } from '../tables/tables.js';
import { systemClock } from '../vocabulary/clock.js';
import { CheckName, type Verdict, verdict } from './verdict.js';

export type { ComparisonVerdict } from './compare-plan.js';
export { REPLICA_BOOKKEEPING } from './item-compare.js';
export {
  judgeReplication,
  type ReplicationCheckDeps,
  type ReplicationFigures,
  type ReplicationVerdict,
  verifyReplication,
} from './replication-check.js';
export { CheckName, type Verdict } from './verdict.js';

// --- Scaling ----------------------------------------------------------------------------------------------

export interface ScalingFigures {
  streamArn: string;
  shards: ReplicaComparison['shards'];
  /** KEDA's metric and where its formula settles for these shards. */
  /** `arithmetic`: the same number as a person checks it, "21 shards → ceil(21/2) = 11, capped at 3". */
  keda: { metric: number; steadyStateReplicas: number; arithmetic?: string };
  /** What the shards with work need (ceil(unfinished / shardCount), clamped), with its arithmetic. */
  needed: { replicas: number; arithmetic?: string };
  /** Pods the classic formula runs that hold no lease with work. */
  idleReplicas: number;
  /** What the cluster runs: spec.replicas (set by KEDA/HPA), ready pods, and the HPA's own number. */
  cluster: {
    desiredReplicas: number;
    readyReplicas: number;
    hpaDesiredReplicas: number | null;
    scalerReady: boolean | null;
  };
  leases: {
    tableExists: boolean;
    total: number;
    unfinished: number;
    /** Unfinished leases per owner (live or not). */
    byOwner: Record<string, number>;
    /** Unfinished leases without an owner for at least the grace (judged a failure). */
    unowned: number;
    /**
     * Unfinished leases too new to judge: without an owner in the later read but not in the earlier one (new
     * since, or just released), so for less than the grace. A lease taker's next pass reaches them.
     */
    awaitingOwner: number;
    /** Unfinished leases whose counter did not move during the sample window. */
    expired: number;
    /** max − min unfinished leases over live workers. */
    spread: number;
  };
  workers: { live: string[]; notReady: string[] };
  summary: string;
}

export type ScalingVerdict = Verdict<ScalingFigures>;

export interface ScalingCheckInput {
  fleet: FleetSpec;
  /** Read the lease table twice, `fleet.checks.leaseSampleMs` apart, to find expired leases. Default true. */
  sampleLeases?: boolean;
  /**
   * Without sampling: when the one read finds an open shard without a lease or an unfinished lease without
   * an owner, read the leases again `fleet.checks.leaseSampleMs` later, so only what stays so is judged
   * (`streamfleet status`). A sampled check needs no extra read: its two reads are that far apart already.
   */
  graceRead?: boolean;
}

export interface ScalingCheckDeps {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  cluster: Cluster;
}

/**
 * The fleet's scaling numbers with the live ScaledObject's maxReplicaCount, when the cluster reports a valid
 * one: it may have been patched since the fleet's input was written (npm start's drill lowers it), and KEDA
 * scales by what is in force. The local summary reads its numbers through this too, so the two agree.
 */
export function scalingInForce(
  config: ScalingConfig,
  status: Pick<ScaleStatus, 'scaledObject'>,
): ScalingConfig {
  const live = status.scaledObject?.maxReplicaCount;
  if (live === undefined || live < Math.max(config.minReplicaCount, 1)) return config;
  return { ...config, maxReplicaCount: live };
}

/** Pure: the verdict from what was read. Exported for unit tests. */
export function judgeScaling(input: {
  fleet: FleetSpec;
  streamArn: string;
  shards: readonly ShardView[];
  leases: readonly LeaseView[] | undefined;
  /** The second read when sampled; leases whose counter did not change between the two are expired. */
  laterLeases?: readonly LeaseView[] | undefined;
  status: ScaleStatus;
}): ScalingVerdict {
  const { fleet, status } = input;
  const leases = input.laterLeases ?? input.leases ?? [];
  const config = scalingInForce(fleetScalingConfig(fleet.scaling), status);
  const comparison = compareReplicas(shardStates(input.shards, leases), config);
  const reasons: string[] = [];
  const where = `${fleet.namespace}/${fleet.name}`;

  const live = status.pods.filter((p) => p.ready).map((p) => p.name);
  const notReady = status.pods.filter((p) => !p.ready).map((p) => p.name);
  const liveSet = new Set(live);
  const desired = status.deployment?.desiredReplicas ?? 0;
  const ready = status.deployment?.readyReplicas ?? 0;

  if (!status.deployment) {
    reasons.push(`The Deployment ${where} does not exist: run the setup workflow (DeployConsumer).`);
  }
  if (!status.scaledObject) {
    reasons.push(`The ScaledObject ${where} does not exist: run the setup workflow (InstallScaler).`);
  } else if (!status.scaledObject.ready) {
    reasons.push(
      `KEDA reports the ScaledObject ${where} not ready${status.scaledObject.message ? ` (${status.scaledObject.message})` : ''}: check the KEDA operator's IRSA role and logs.`,
    );
  }
  if (status.deployment && ready !== desired) {
    reasons.push(
      `${ready} of ${desired} replicas are ready: the fleet has not settled (pods starting or stopping, or crashing — check their logs).`,
    );
  }
  if (status.deployment && desired < comparison.needed.replicas) {
    reasons.push(
      `The cluster runs ${desired} replicas but the ${comparison.shards.unfinished} unfinished shards need ${comparison.needed.replicas} (shardCount ${config.shardCount}): KEDA has not scaled up yet, or maxReplicaCount is too low.`,
    );
  }

  const shardIds = new Set(input.shards.map((s) => s.shardId));
  const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
  const unfinishedLeases = leases.filter((l) => l.checkpoint !== SHARD_END);
  // A new shard waits for shard sync to create its lease and for a lease taker to take it: with two reads
  // (leaseSampleMs apart, the grace) only what was so in both is a failure; with one, everything is.
  const earlier =
    input.laterLeases !== undefined && input.leases !== undefined
      ? new Map(input.leases.map((l) => [l.leaseKey, l]))
      : undefined;
  const grace = `${fleet.checks.leaseSampleMs} ms`;
  // The shards are listed with the first read: one still without a lease at the later read waited the grace.
  const openWithoutLease = input.shards.filter((s) => !s.closed && !byKey.has(s.shardId));
  if (input.leases === undefined) {
    reasons.push(`The lease table ${fleet.applicationName} does not exist yet: no worker has started.`);
  } else if (openWithoutLease.length > 0) {
    reasons.push(
      `${openWithoutLease.length} open shard(s) have no lease${earlier ? ` after ${grace}` : ''} (e.g. ${openWithoutLease[0]?.shardId}): the workers' shard sync has not seen them.`,
    );
  }
  const ownerless = unfinishedLeases.filter((l) => l.leaseOwner === undefined && shardIds.has(l.leaseKey));
  const unowned = ownerless.filter((l) => {
    const before = earlier?.get(l.leaseKey);
    return earlier === undefined || (before !== undefined && before.leaseOwner === undefined);
  });
  if (unowned.length > 0) {
    reasons.push(
      `${unowned.length} unfinished shard(s) are leased by nobody${earlier ? ` for ${grace} or more` : ''} (e.g. ${unowned[0]?.leaseKey}): no worker takes them; check that the workers run and are not at their lease limit.`,
    );
  }
  const orphaned = unfinishedLeases.filter((l) => l.leaseOwner !== undefined && !liveSet.has(l.leaseOwner));
  if (orphaned.length > 0) {
    const owners = [...new Set(orphaned.map((l) => l.leaseOwner))].slice(0, 3).join(', ');
    reasons.push(
      `${orphaned.length} unfinished leases are held by workers that are not running and ready (${owners}).`,
    );
  }
  let expired = 0;
  if (input.laterLeases !== undefined && input.leases !== undefined) {
    const first = new Map(input.leases.map((l) => [l.leaseKey, l]));
    const stale = input.laterLeases.filter((l) => {
      const before = first.get(l.leaseKey);
      return (
        l.checkpoint !== SHARD_END &&
        l.leaseOwner !== undefined &&
        before?.leaseOwner === l.leaseOwner &&
        before.leaseCounter === l.leaseCounter
      );
    });
    expired = stale.length;
    if (expired > 0) {
      reasons.push(
        `${expired} leases were not renewed within ${fleet.checks.leaseSampleMs} ms (e.g. ${stale[0]?.leaseKey} held by ${stale[0]?.leaseOwner}): their worker is stuck or gone.`,
      );
    }
  }
  const byOwner: Record<string, number> = {};
  for (const lease of unfinishedLeases) {
    if (lease.leaseOwner !== undefined) byOwner[lease.leaseOwner] = (byOwner[lease.leaseOwner] ?? 0) + 1;
  }
  const liveCounts = live.map((name) => byOwner[name] ?? 0);
  const spread = liveCounts.length > 0 ? Math.max(...liveCounts) - Math.min(...liveCounts) : 0;
  if (spread > 1) {
    reasons.push(
      `Leases are unbalanced across workers (${live.map((n) => `${n}: ${byOwner[n] ?? 0}`).join(', ')}): the lease takers have not caught up.`,
    );
  }

  const kedaText = describeArithmetic(kedaTriggerArithmetic(comparison.shards.total, config));
  const neededText = describeArithmetic(
    neededArithmetic(comparison.shards.unfinished, config),
    'unfinished shards',
  );
  const figures: ScalingFigures = {
    streamArn: input.streamArn,
    shards: comparison.shards,
    keda: {
      metric: comparison.classic.metric,
      steadyStateReplicas: comparison.classic.replicas,
      arithmetic: kedaText,
    },
    needed: { ...comparison.needed, arithmetic: neededText },
    idleReplicas: comparison.idleReplicas,
    cluster: {
      desiredReplicas: desired,
      readyReplicas: ready,
      hpaDesiredReplicas: status.scaledObject?.hpaDesiredReplicas ?? null,
      scalerReady: status.scaledObject ? status.scaledObject.ready : null,
    },
    leases: {
      tableExists: input.leases !== undefined,
      total: leases.length,
      unfinished: unfinishedLeases.length,
      byOwner,
      unowned: unowned.length,
      awaitingOwner: ownerless.length - unowned.length,
      expired,
      spread,
    },
    workers: { live, notReady },
    summary: comparison.summary,
  };
  return verdict(
    CheckName.Scaling,
    reasons,
    figures,
    `scaling healthy: ${ready}/${desired} replicas ready; KEDA's trigger: ${kedaText}; needed: ${neededText}.`,
  );
}

/** Open shards without a lease, or unfinished leases without an owner: too new to judge, or a failure. */
function suspects(shards: readonly ShardView[], leases: readonly LeaseView[] | undefined): boolean {
  if (leases === undefined) return false;
  const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
  return shards.some((s) => {
    const lease = byKey.get(s.shardId);
    if (lease === undefined) return !s.closed;
    return lease.leaseOwner === undefined && lease.checkpoint !== SHARD_END;
  });
}

export async function verifyScaling(
  deps: ScalingCheckDeps,
  input: ScalingCheckInput,
): Promise<ScalingVerdict> {
  const { fleet } = input;
  const streamArn = await sourceStreamArn(deps.dynamodb, fleet.sourceTableName);
  const [shards, leases, status] = await Promise.all([
    describeShards(deps.streams, streamArn),
    scanLeases(deps.dynamodb, fleet.applicationName),
    deps.cluster.scaleStatus({
      namespace: fleet.namespace,
      deploymentName: fleet.name,
      scaledObjectName: fleet.name,
    }),
  ]);
  let laterLeases: LeaseView[] | undefined;
  const sample = input.sampleLeases ?? true;
  if ((sample || (input.graceRead === true && suspects(shards, leases))) && fleet.checks.leaseSampleMs > 0) {
    if (leases !== undefined) {
      await systemClock.sleep(fleet.checks.leaseSampleMs);
      laterLeases = await scanLeases(deps.dynamodb, fleet.applicationName);
    }
  }
  return judgeScaling({ fleet, streamArn, shards, leases, ...(laterLeases ? { laterLeases } : {}), status });
}
