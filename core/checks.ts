/**
 * The two health checks the workflows run, each a structured verdict `{ healthy, reasons, figures }`:
 * - scaling: shard counts, KEDA's number and the needed number, what the cluster runs and has ready, every
 *   unfinished shard leased by a live worker, no expired leases, leases balanced across workers;
 * - replication: source against replica (every item, or a sample), missing / differing / extra counts, the
 *   spread of `processed_by`, and the lag measured on the stream from each lease's checkpoint.
 * Reasons are sentences for a person; figures are numbers for dashboards and the next workflow state.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import type { Cluster, ScaleStatus } from './cluster.js';
import { errorName } from './errors.js';
import { type FleetSpec, fleetScalingConfig, ReplicationCheckMode } from './fleet.js';
import {
  describeShards,
  type LeaseView,
  SHARD_END,
  type ShardView,
  scanLeases,
  shardStates,
} from './fleet-state.js';
import { compareReplicas, type ReplicaComparison } from './keda.js';
import { asTransientWhenRetriable, sourceStreamArn, type TableKey, tableKey } from './tables.js';

/** Attributes the workers add to every replica item (see consumer/processor/replica-writer.ts). */
export const REPLICA_BOOKKEEPING = { processedBy: 'processed_by', sequence: '_streamfleet_seq' } as const;

export const CheckName = { Scaling: 'scaling', Replication: 'replication' } as const;
export type CheckName = (typeof CheckName)[keyof typeof CheckName];

export interface Verdict<F> {
  check: CheckName;
  healthy: boolean;
  /** One sentence per problem, each saying what to look at; empty when healthy. */
  reasons: string[];
  figures: F;
  /** One line: healthy, or the reasons joined. */
  summary: string;
  checkedAt: string;
}

function verdict<F>(check: CheckName, reasons: string[], figures: F, healthyText: string): Verdict<F> {
  return {
    check,
    healthy: reasons.length === 0,
    reasons,
    figures,
    summary: reasons.length === 0 ? healthyText : `${check} unhealthy: ${reasons.join(' ')}`,
    checkedAt: new Date().toISOString(),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- Scaling ----------------------------------------------------------------------------------------------

export interface ScalingFigures {
  streamArn: string;
  shards: ReplicaComparison['shards'];
  /** KEDA's metric and where its formula settles for these shards. */
  keda: { metric: number; steadyStateReplicas: number };
  /** What the shards with work need (ceil(unfinished / shardCount), clamped). */
  needed: { replicas: number };
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
    unowned: number;
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
}

export interface ScalingCheckDeps {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  cluster: Cluster;
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
  const config = fleetScalingConfig(fleet.scaling);
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
  const openWithoutLease = input.shards.filter((s) => !s.closed && !byKey.has(s.shardId));
  if (input.leases === undefined) {
    reasons.push(`The lease table ${fleet.applicationName} does not exist yet: no worker has started.`);
  } else if (openWithoutLease.length > 0) {
    reasons.push(
      `${openWithoutLease.length} open shards have no lease yet (e.g. ${openWithoutLease[0]?.shardId}): the workers' shard sync has not seen them.`,
    );
  }
  const unowned = unfinishedLeases.filter((l) => l.leaseOwner === undefined && shardIds.has(l.leaseKey));
  if (unowned.length > 0) {
    reasons.push(`${unowned.length} unfinished shards are leased by nobody (e.g. ${unowned[0]?.leaseKey}).`);
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

  const figures: ScalingFigures = {
    streamArn: input.streamArn,
    shards: comparison.shards,
    keda: { metric: comparison.classic.metric, steadyStateReplicas: comparison.classic.replicas },
    needed: comparison.needed,
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
    `scaling healthy: ${ready}/${desired} replicas ready for ${comparison.shards.unfinished} unfinished of ${comparison.shards.total} shards (KEDA's formula: ${comparison.classic.replicas}, needed: ${comparison.needed.replicas}).`,
  );
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
  if ((input.sampleLeases ?? true) && leases !== undefined && fleet.checks.leaseSampleMs > 0) {
    await sleep(fleet.checks.leaseSampleMs);
    laterLeases = await scanLeases(deps.dynamodb, fleet.applicationName);
  }
  return judgeScaling({ fleet, streamArn, shards, leases, ...(laterLeases ? { laterLeases } : {}), status });
}

// --- Replication ------------------------------------------------------------------------------------------

type Item = Record<string, AttributeValue>;

export interface ReplicationFigures {
  mode: ReplicationCheckMode;
  sourceItems: number;
  /** Replica items read (full mode: the whole table). */
  replicaItems: number;
  compared: number;
  missing: number;
  differing: number;
  /** Replica items whose key is not in the source (full mode only). */
  extra: number;
  /** Up to five keys of each kind, as JSON, to start looking from. */
  examples: { missing: string[]; differing: string[]; extra: string[] };
  /** Matching replica items per `processed_by` worker. */
  processedBy: Record<string, number>;
  /** Age of the oldest record not yet checkpointed, over the probed shards; 0 when caught up. */
  lagMs: number;
  lagProbedShards: number;
}

export type ReplicationVerdict = Verdict<ReplicationFigures>;

/** A canonical text of an attribute value (map keys sorted, binaries base64), for comparisons. */
export function stableText(value: unknown): string {
  if (value instanceof Uint8Array) return `b64:${Buffer.from(value).toString('base64')}`;
  if (Array.isArray(value)) return `[${value.map(stableText).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableText((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function keyOf(item: Item, key: TableKey): Item {
  const out: Item = {};
  for (const k of [key.partitionKey, ...(key.sortKey ? [key.sortKey] : [])]) {
    const value = item[k.name];
    if (value !== undefined) out[k.name] = value;
  }
  return out;
}

function withoutBookkeeping(item: Item): Item {
  const copy = { ...item };
  delete copy[REPLICA_BOOKKEEPING.processedBy];
  delete copy[REPLICA_BOOKKEEPING.sequence];
  return copy;
}

/** Pure: compares source items with the replica items found for them. Exported for unit tests. */
export function compareItems(input: {
  key: TableKey;
  source: readonly Item[];
  replica: readonly Item[];
  /** Count replica items absent from the source as extra (only meaningful when both are complete). */
  countExtra: boolean;
}): Pick<ReplicationFigures, 'compared' | 'missing' | 'differing' | 'extra' | 'examples' | 'processedBy'> {
  const replica = new Map(input.replica.map((item) => [stableText(keyOf(item, input.key)), item]));
  const examples = { missing: [] as string[], differing: [] as string[], extra: [] as string[] };
  const processedBy: Record<string, number> = {};
  let missing = 0;
  let differing = 0;
  for (const item of input.source) {
    const id = stableText(keyOf(item, input.key));
    const copy = replica.get(id);
    replica.delete(id);
    if (!copy) {
      missing++;
      if (examples.missing.length < 5) examples.missing.push(id);
    } else if (stableText(withoutBookkeeping(copy)) !== stableText(item)) {
      differing++;
      if (examples.differing.length < 5) examples.differing.push(id);
    } else {
      const by = copy[REPLICA_BOOKKEEPING.processedBy]?.S ?? '(none)';
      processedBy[by] = (processedBy[by] ?? 0) + 1;
    }
  }
  const extra = input.countExtra ? replica.size : 0;
  if (input.countExtra) examples.extra = [...replica.keys()].slice(0, 5);
  return { compared: input.source.length, missing, differing, extra, examples, processedBy };
}

async function scanTable(
  dynamodb: DynamoDBClient,
  table: string,
  limit?: number,
  segment?: { index: number; total: number },
): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  try {
    do {
      const page = await dynamodb.send(
        new ScanCommand({
          TableName: table,
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ...(limit === undefined ? {} : { Limit: Math.min(limit - items.length, 1000) }),
          ...(segment ? { Segment: segment.index, TotalSegments: segment.total } : {}),
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start && (limit === undefined || items.length < limit));
  } catch (error) {
    throw asTransientWhenRetriable(error);
  }
  return items;
}

async function batchGet(dynamodb: DynamoDBClient, table: string, keys: Item[]): Promise<Item[]> {
  const found: Item[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = {
      [table]: { Keys: keys.slice(i, i + 100), ConsistentRead: true },
    };
    for (let attempt = 0; request && attempt < 8; attempt++) {
      const page: BatchGetItemCommandOutput = await dynamodb.send(
        new BatchGetItemCommand({ RequestItems: request }),
      );
      found.push(...(page.Responses?.[table] ?? []));
      const unprocessed: Item[] | undefined = page.UnprocessedKeys?.[table]?.Keys;
      request = unprocessed?.length ? { [table]: { Keys: unprocessed, ConsistentRead: true } } : undefined;
      if (request) await sleep(50 * 2 ** attempt);
    }
  }
  return found;
}

/**
 * How far behind the fleet is: for each unfinished lease (up to `maxShards`), the first record after its
 * checkpoint; the lag is the age of the oldest such record, 0 when every probed shard is caught up.
 */
export async function measureLag(
  streams: DynamoDBStreamsClient,
  streamArn: string,
  leases: readonly LeaseView[],
  options: { maxShards?: number; nowMs?: number } = {},
): Promise<{ lagMs: number; probed: number }> {
  const now = options.nowMs ?? Date.now();
  const candidates = leases
    .filter((l) => l.checkpoint !== SHARD_END && l.checkpoint !== 'LATEST')
    .slice(0, options.maxShards ?? 25);
  let lagMs = 0;
  for (const lease of candidates) {
    const fromStart = lease.checkpoint === 'TRIM_HORIZON';
    try {
      const { ShardIterator } = await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: lease.leaseKey,
          ShardIteratorType: (fromStart ? 'TRIM_HORIZON' : 'AFTER_SEQUENCE_NUMBER') as ShardIteratorType,
          ...(fromStart ? {} : { SequenceNumber: lease.checkpoint }),
        }),
      );
      if (!ShardIterator) continue;
      const { Records } = await streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }));
      const created = Records?.[0]?.dynamodb?.ApproximateCreationDateTime;
      if (created) lagMs = Math.max(lagMs, now - created.getTime());
    } catch (error) {
      // A shard trimmed or gone since the lease was read: nothing to measure there.
      if (
        ['ResourceNotFoundException', 'TrimmedDataAccessException', 'ExpiredIteratorException'].includes(
          errorName(error),
        )
      )
        continue;
      throw asTransientWhenRetriable(error);
    }
  }
  return { lagMs: Math.max(0, lagMs), probed: candidates.length };
}

export interface ReplicationCheckDeps {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
}

export async function verifyReplication(
  deps: ReplicationCheckDeps,
  input: { fleet: FleetSpec },
): Promise<ReplicationVerdict> {
  const { fleet } = input;
  const mode = fleet.checks.replicationMode;
  const [key, streamArn] = await Promise.all([
    tableKey(deps.dynamodb, fleet.sourceTableName),
    sourceStreamArn(deps.dynamodb, fleet.sourceTableName),
  ]);
  await tableKey(deps.dynamodb, fleet.replicaTableName);
  let source: Item[];
  let replica: Item[];
  if (mode === ReplicationCheckMode.Full) {
    [source, replica] = await Promise.all([
      scanTable(deps.dynamodb, fleet.sourceTableName),
      scanTable(deps.dynamodb, fleet.replicaTableName),
    ]);
  } else {
    // A random segment of a parallel scan spreads the sample over the key space.
    const total = 16;
    const index = Math.floor(Math.random() * total);
    source = await scanTable(deps.dynamodb, fleet.sourceTableName, fleet.checks.sampleSize, { index, total });
    if (source.length < fleet.checks.sampleSize) {
      source = await scanTable(deps.dynamodb, fleet.sourceTableName, fleet.checks.sampleSize);
    }
    replica = await batchGet(
      deps.dynamodb,
      fleet.replicaTableName,
      source.map((item) => keyOf(item, key)),
    );
  }
  const comparison = compareItems({ key, source, replica, countExtra: mode === ReplicationCheckMode.Full });
  const leases = (await scanLeases(deps.dynamodb, fleet.applicationName)) ?? [];
  const lag = await measureLag(deps.streams, streamArn, leases);

  const reasons: string[] = [];
  if (comparison.missing > 0) {
    reasons.push(
      `${comparison.missing} of ${comparison.compared} source items are missing from ${fleet.replicaTableName} (e.g. ${comparison.examples.missing[0]}).`,
    );
  }
  if (comparison.differing > 0) {
    reasons.push(
      `${comparison.differing} replica items differ from their source (e.g. ${comparison.examples.differing[0]}).`,
    );
  }
  if (comparison.extra > 0) {
    reasons.push(
      `${comparison.extra} replica items have no source item (e.g. ${comparison.examples.extra[0]}): deletes not replicated, or writes to the replica from elsewhere.`,
    );
  }
  if (lag.lagMs > fleet.checks.maxLagMs) {
    reasons.push(
      `Replication lags ${lag.lagMs} ms behind the stream (limit ${fleet.checks.maxLagMs} ms): the fleet is too small or stuck.`,
    );
  }
  if (reasons.length > 0 && (comparison.missing > 0 || comparison.differing > 0) && lag.lagMs > 0) {
    reasons.push(
      'Records are still waiting on the stream, so the replica may yet catch up: check again in a minute.',
    );
  }
  const figures: ReplicationFigures = {
    mode,
    sourceItems: source.length,
    replicaItems: replica.length,
    ...comparison,
    lagMs: lag.lagMs,
    lagProbedShards: lag.probed,
  };
  return verdict(
    CheckName.Replication,
    reasons,
    figures,
    `replication healthy: ${comparison.compared} items compared (${mode}), none missing or differing; lag ${lag.lagMs} ms; written by ${Object.keys(comparison.processedBy).length} workers.`,
  );
}
