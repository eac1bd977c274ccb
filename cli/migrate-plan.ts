/**
 * `streamfleet migrate --from-kcl`, the pure part: from what was read — the lease table's description, its items
 * at the start and at the end of the watch, the stream's shards, the checkpoints the stream no longer holds —
 * what Streamfleet will do with each shard, and what stops the switch. No I/O (cli/migrate.ts reads and applies).
 *
 * Judged by KCL 1.x's own rules (core/tables/kcl1-lease.ts): a lease whose `leaseCounter` moved during the watch has an
 * owner that still renews it (`LeaseTaker`: a counter that has not moved for the failover time is expired); the
 * watch lasts the failover time and a second, so a live KCL worker (renewing every failover / 3) is always seen.
 */
import type { AttributeValue, TableDescription } from '@aws-sdk/client-dynamodb';
import { CONSUMER_NEEDS, FleetResource } from '../core/iam-needs.js';
import {
  KCL1_LEASE_TABLE_ACTIONS,
  type Kcl1Lease,
  Kcl1Sentinel,
  kcl1KeyProblems,
  readAsKcl1,
} from '../core/tables/kcl1-lease.js';
import { InvalidInputError, PreconditionError } from '../core/vocabulary/errors.js';
import {
  LEASE_OWNER_INDEX,
  ownerIndexState,
  provisionedCapacity,
} from '../core/vocabulary/lease-owner-index.js';
import type { Shard } from '../core/vocabulary/shard.js';

/** What Streamfleet does with a shard's lease. */
export const ShardAction = {
  /** Finished (SHARD_END): nothing to read. */
  Finished: 'finished',
  /** Its owner still renews it: left alone until it expires. */
  LeftToOwner: 'left-to-owner',
  /** Read after the checkpoint (once any parent has finished). */
  ResumeAfter: 'resume-after-checkpoint',
  /** TRIM_HORIZON: read from the oldest record. */
  FromOldest: 'from-oldest-record',
  /** LATEST: read from the newest record when reading starts. */
  FromLatest: 'from-latest-record',
  /** The records after the checkpoint are gone from the stream. */
  Lost: 'records-lost',
} as const;
export type ShardAction = (typeof ShardAction)[keyof typeof ShardAction];

export interface ShardPlan {
  shardId: string;
  checkpoint: string;
  /** A prepared checkpoint (KCL 1.7+): Streamfleet resumes from `checkpoint`, and its first checkpoint removes it. */
  pendingCheckpoint: string | null;
  owner: string | null;
  /** The owner renewed the lease during the watch. */
  renewed: boolean;
  counter: { before: string; after: string };
  parents: string[];
  /** Parents whose lease is not finished yet: this shard is read after them. */
  waitsFor: string[];
  children: string[];
  /** Listed by the stream now (closed shards stay listed 24 h after they close). */
  inStream: boolean;
  closed: boolean;
  action: ShardAction;
  /** What Streamfleet will do, in a sentence. */
  says: string;
}

/** A checkpoint behind the stream's 24-hour retention: the records after it, up to `firstAvailable`, are gone. */
export interface TrimmedCheckpoint {
  shardId: string;
  checkpoint: string;
  /** The oldest record the shard still holds, when one was read; undefined when the shard itself is gone. */
  firstAvailable: string | undefined;
}

export interface MigrationInput {
  table: TableDescription;
  /** The lease items at the start of the watch and at its end. */
  before: Record<string, AttributeValue>[];
  after: Record<string, AttributeValue>[];
  watchedMs: number;
  failoverMs: number;
  streamArn: string;
  shards: readonly Shard[];
  /** Sequence-number checkpoints the stream refused to read after (TrimmedDataAccessException). */
  trimmed: readonly TrimmedCheckpoint[];
  /** Checkpoints the stream refused as positions of their shard (ValidationException). */
  foreignCheckpoints: readonly string[];
}

export interface MigrationPlan {
  leaseTable: {
    name: string;
    arn: string;
    billingMode: 'PROVISIONED' | 'PAY_PER_REQUEST';
    readCapacityUnits: number | null;
    writeCapacityUnits: number | null;
    ownerIndex: 'ACTIVE' | 'CREATING' | 'ABSENT' | 'UPDATING' | 'DELETING';
  };
  streamArn: string;
  shardsInStream: number;
  watchedMs: number;
  failoverMs: number;
  shards: ShardPlan[];
  /** Owners that renewed during the watch, with the leases they renewed. */
  renewing: { owner: string; leases: string[] }[];
  /** Nothing renews: the switch may go ahead. */
  ready: boolean;
  setup: SetupChanges;
}

export interface SetupChanges {
  scaledObject: string;
  image: string;
  environment: Record<string, string>;
  /** IAM actions the consumer role needs beyond KCL 1.x's, by resource ARN. */
  policyAdditions: { resource: string; actions: string[] }[];
}

/** Names for the errors below: the lease table and the stream, as the command line gave them. */
const TABLE_FLAG = '--from-kcl';
const STREAM_FLAG = '--stream-arn';

/** Reads every item by KCL 1.x's rules; a table that is not KCL 1.x's lease table is bad input (exit 2). */
export function readKcl1Table(
  table: TableDescription,
  items: readonly Record<string, AttributeValue>[],
): Kcl1Lease[] {
  const name = table.TableName ?? '?';
  const what =
    'What to do: name the lease table of the KCL 1.x application, which is named after it (applicationName).';
  const keyProblems = kcl1KeyProblems(table);
  if (keyProblems.length > 0)
    throw new InvalidInputError(
      TABLE_FLAG,
      `${name} is not a KCL 1.x lease table: ${keyProblems.join('; ')}. ${what}`,
    );
  const leases: Kcl1Lease[] = [];
  const problems: string[] = [];
  for (const item of items) {
    const reading = readAsKcl1(item);
    if (reading.ok) leases.push(reading.lease);
    else problems.push(`${reading.leaseKey || '(no leaseKey)'}: ${reading.problems.join(', ')}`);
  }
  if (problems.length > 0) {
    const shown =
      problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
    throw new InvalidInputError(
      TABLE_FLAG,
      `${name} has the key of a KCL 1.x lease table, but ${problems.length} of its ${items.length} items are not KCL 1.x leases (${shown}). ${what}`,
    );
  }
  const timestamps = leases.filter((l) => l.checkpoint.sequenceNumber === Kcl1Sentinel.AT_TIMESTAMP);
  if (timestamps.length > 0)
    throw new InvalidInputError(
      TABLE_FLAG,
      `${name} holds AT_TIMESTAMP checkpoints (${timestamps.map((l) => l.leaseKey).join(', ')}), which only Kinesis Data Streams has: it is not a DynamoDB Streams application's lease table. ${what}`,
    );
  return leases;
}

/**
 * Stops the migration when the lease table does not belong to the stream (exit 2), or when records after some
 * checkpoint are gone from it (exit 3, naming them). Run before the watch on the first reading, and again on the
 * last.
 */
export function checkAgainstStream(
  name: string,
  leases: readonly Kcl1Lease[],
  stream: Pick<MigrationInput, 'streamArn' | 'shards' | 'trimmed' | 'foreignCheckpoints'>,
): void {
  const listed = new Set(stream.shards.map((s) => s.shardId));
  if (leases.length > 0 && !leases.some((l) => listed.has(l.leaseKey))) {
    const shardIds = stream.shards.slice(0, 3).map((s) => s.shardId);
    throw new InvalidInputError(
      STREAM_FLAG,
      `none of the ${leases.length} leases of ${name} (e.g. ${leases[0]?.leaseKey}) is a shard of ${stream.streamArn} (its ${stream.shards.length} shards: ${shardIds.join(', ')}${stream.shards.length > 3 ? ', …' : ''}). What to do: pass the stream the KCL application reads (aws dynamodb describe-table --table-name SOURCE --query Table.LatestStreamArn). If it is that stream and the application has been stopped for more than a day, every shard it read has aged out: its checkpoints cannot be used; start Streamfleet on a new lease table (another APPLICATION_NAME).`,
    );
  }
  if (stream.foreignCheckpoints.length > 0)
    throw new InvalidInputError(
      STREAM_FLAG,
      `the stream refuses the checkpoints of ${stream.foreignCheckpoints.join(', ')} as positions in those shards: the lease table does not belong to ${stream.streamArn}. What to do: pass the stream the KCL application reads.`,
    );
  const gone = leases.filter(
    (l) => l.checkpoint.sequenceNumber !== Kcl1Sentinel.SHARD_END && !listed.has(l.leaseKey),
  );
  const lost: TrimmedCheckpoint[] = [
    ...gone.map((l) => ({
      shardId: l.leaseKey,
      checkpoint: l.checkpoint.sequenceNumber,
      firstAvailable: undefined,
    })),
    ...stream.trimmed,
  ];
  if (lost.length === 0) return;
  const lines = lost.map((t) => {
    const after = /^\d+$/.test(t.checkpoint) ? `after ${t.checkpoint}` : `(checkpoint ${t.checkpoint})`;
    return t.firstAvailable === undefined
      ? `${t.shardId}: every record ${after}, the shard itself has aged out of the stream`
      : `${t.shardId}: the records ${after} and before ${t.firstAvailable}`;
  });
  throw new PreconditionError(
    `${lost.length} checkpoint(s) of ${name} are older than the stream's 24-hour retention; these records are gone and cannot be recovered from the stream: ${lines.join('; ')}.`,
    'copy the items those records changed from the source table to the replica again (the compare workflow, docs/workflows.md, finds them), then start Streamfleet: it reads those shards from their oldest record. The records after them are intact.',
  );
}

/** The whole plan, or the error that stops it (typed: exit 2 for a wrong table or stream, 3 for lost records). */
export function planMigration(input: MigrationInput): MigrationPlan {
  const table = input.table;
  const before = new Map(readKcl1Table(table, input.before).map((l) => [l.leaseKey, l]));
  const after = readKcl1Table(table, input.after);
  const listed = new Map(input.shards.map((s) => [s.shardId, s]));
  const name = table.TableName ?? '?';
  checkAgainstStream(name, after, input);

  const children = new Map<string, Set<string>>();
  const addChild = (parent: string, child: string) => {
    const set = children.get(parent) ?? new Set<string>();
    set.add(child);
    children.set(parent, set);
  };
  for (const lease of after) {
    for (const parent of lease.parentShardIds) addChild(parent, lease.leaseKey);
    for (const child of lease.childShardIds) addChild(lease.leaseKey, child);
  }
  for (const shard of input.shards) if (shard.parentShardId) addChild(shard.parentShardId, shard.shardId);
  const byKey = new Map(after.map((l) => [l.leaseKey, l]));
  const finished = (key: string) => {
    const lease = byKey.get(key);
    return lease === undefined || lease.checkpoint.sequenceNumber === Kcl1Sentinel.SHARD_END;
  };

  const shards = after
    .map((lease): ShardPlan => {
      const seen = before.get(lease.leaseKey);
      const renewed =
        seen !== undefined && lease.leaseOwner !== undefined && seen.leaseCounter !== lease.leaseCounter;
      const checkpoint = lease.checkpoint.sequenceNumber;
      const waitsFor = lease.parentShardIds.filter((p) => !finished(p));
      const shard = listed.get(lease.leaseKey);
      const plan: Omit<ShardPlan, 'action' | 'says'> = {
        shardId: lease.leaseKey,
        checkpoint,
        pendingCheckpoint: lease.pendingCheckpoint?.sequenceNumber ?? null,
        owner: lease.leaseOwner ?? null,
        renewed,
        counter: {
          before: String(seen?.leaseCounter ?? lease.leaseCounter),
          after: String(lease.leaseCounter),
        },
        parents: [...lease.parentShardIds],
        waitsFor,
        children: [...(children.get(lease.leaseKey) ?? [])].sort(),
        inStream: shard !== undefined,
        closed: shard?.endingSequenceNumber !== undefined,
      };
      return { ...plan, ...actionOf(plan) };
    })
    .sort((a, b) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0));

  const renewingByOwner = new Map<string, string[]>();
  for (const shard of shards) {
    if (!shard.renewed || shard.owner === null) continue;
    renewingByOwner.set(shard.owner, [...(renewingByOwner.get(shard.owner) ?? []), shard.shardId]);
  }
  const capacity = provisionedCapacity(table);
  return {
    leaseTable: {
      name,
      arn: table.TableArn ?? '',
      billingMode: capacity ? 'PROVISIONED' : 'PAY_PER_REQUEST',
      readCapacityUnits: capacity?.read ?? null,
      writeCapacityUnits: capacity?.write ?? null,
      ownerIndex: ownerIndexState(table),
    },
    streamArn: input.streamArn,
    shardsInStream: input.shards.length,
    watchedMs: input.watchedMs,
    failoverMs: input.failoverMs,
    shards,
    renewing: [...renewingByOwner].map(([owner, leases]) => ({ owner, leases })),
    ready: renewingByOwner.size === 0,
    setup: setupChanges(name, table.TableArn ?? '', input.streamArn, input.failoverMs),
  };
}

function actionOf(shard: Omit<ShardPlan, 'action' | 'says'>): Pick<ShardPlan, 'action' | 'says'> {
  const after = shard.waitsFor.length > 0 ? `, once ${shard.waitsFor.join(' and ')} finished` : '';
  const taking = shard.owner === null ? 'takes it' : 'takes it once expired';
  if (shard.checkpoint === Kcl1Sentinel.SHARD_END)
    return {
      action: ShardAction.Finished,
      says: shard.inStream
        ? 'nothing: the shard is finished'
        : 'nothing: finished; the lease is deleted once its children have started',
    };
  if (shard.renewed)
    return {
      action: ShardAction.LeftToOwner,
      says: `leaves it to ${shard.owner} while it renews, ${taking} (stop the Java fleet)`,
    };
  if (shard.checkpoint === Kcl1Sentinel.TRIM_HORIZON)
    return { action: ShardAction.FromOldest, says: `${taking} and reads from the oldest record${after}` };
  if (shard.checkpoint === Kcl1Sentinel.LATEST)
    return {
      action: ShardAction.FromLatest,
      says: `${taking} and reads from the newest record when it starts${after}: changes written before are not replicated, as with KCL 1.x`,
    };
  return { action: ShardAction.ResumeAfter, says: `${taking} and reads after ${shard.checkpoint}${after}` };
}

/** What changes in the deployment: the trigger stays, the image and environment change, the role gains a little. */
function setupChanges(
  leaseTable: string,
  leaseTableArn: string,
  streamArn: string,
  failoverMs: number,
): SetupChanges {
  const kcl = new Set<string>(KCL1_LEASE_TABLE_ACTIONS);
  const additions = (on: FleetResource) =>
    CONSUMER_NEEDS.filter((need) => need.on === on && !kcl.has(need.action)).map((need) => need.action);
  return {
    scaledObject:
      "kept: its aws-dynamodb-streams trigger counts this stream's shards as before; point its scaleTargetRef at the Streamfleet Deployment",
    image:
      "the Streamfleet worker (node dist/consumer.js, consumer/Dockerfile) instead of the Java application's",
    environment: {
      APPLICATION_NAME: leaseTable,
      SOURCE_TABLE_STREAM_ARN: streamArn,
      TARGET_TABLE_NAME: '<the table the Java record processor wrote>',
      LEASE_DURATION_MS: String(Math.max(10_000, failoverMs)),
    },
    policyAdditions: [
      { resource: leaseTableArn, actions: additions(FleetResource.LeaseTable) },
      {
        resource: `${leaseTableArn}/index/${LEASE_OWNER_INDEX}`,
        actions: additions(FleetResource.LeaseOwnerIndex),
      },
    ],
  };
}
