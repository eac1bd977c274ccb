/**
 * `streamfleet migrate --from-kcl TABLE --stream-arn ARN`: reads the lease table a KCL 1.x application left behind,
 * watches it for the KCL failover time and a second, checks every checkpoint against the stream, and says shard by
 * shard what Streamfleet will do (cli/migrate-plan.ts) and what the deployment changes. Read-only unless `--apply`,
 * which — only when no Java worker renews — adds the lease table's owner index online and releases the leases the
 * Java fleet left owned (conditional on the counter the watch saw, so a worker that renewed meanwhile keeps its
 * lease), so Streamfleet takes them at its first pass instead of after a lease duration. Both are writes KCL 1.x
 * itself makes (LeaseManager.evictLease) or ignores (the index): the table stays KCL 1.x's (docs/migrate-from-kcl.md).
 *
 * Calls, with the operator's credentials: DescribeTable and Scan on the lease table; DescribeStream,
 * GetShardIterator and (for a checkpoint behind the trim horizon) GetRecords on the stream; with --apply
 * UpdateTable and UpdateItem on the lease table.
 */
import {
  type AttributeValue,
  DescribeTableCommand,
  DynamoDBClient,
  paginateScan,
  type TableDescription,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { errorName, InvalidInputError, PreconditionError } from '../core/vocabulary/errors.js';
import { addOwnerIndex } from '../core/vocabulary/lease-owner-index.js';
import { isSequenceNumber } from '../core/vocabulary/sequence.js';
import { listShards, type Shard } from '../core/vocabulary/shard.js';
import { type CliOptions, ExitCode } from './args.js';
import {
  checkAgainstStream,
  type MigrationPlan,
  planMigration,
  readKcl1Table,
  type TrimmedCheckpoint,
} from './migrate-plan.js';

export interface MigrateOptions {
  leaseTable: string;
  streamArn: string;
  /** The Java application's failoverTimeMillis; the watch lasts this and a second. */
  failoverMs: number;
  apply: boolean;
  json: boolean;
  region: string;
}

export interface Applied {
  /** What the UpdateTable request answered, or `already-there` when none was needed. */
  ownerIndex: 'created' | 'exists' | 'busy' | 'already-there';
  released: string[];
  /** Leases that changed between the watch and the release: left as they are. */
  changedMeanwhile: string[];
}

/** The watch outlasts the failover time by this much, so a lease renewed every failover / 3 is always seen moving. */
const WATCH_MARGIN_MS = 1_000;

/** The command: the plan printed (or as JSON); exit 0 when ready (or applied), 1 while a Java worker renews. */
export async function runMigrate(
  options: CliOptions,
  region: string,
  print: (line: string) => void,
): Promise<number> {
  const { plan, applied } = await migrateFromKcl(
    {
      leaseTable: options.fromKcl ?? '',
      streamArn: options.streamArn ?? '',
      failoverMs: options.failoverMs,
      apply: options.apply,
      json: options.json,
      region,
    },
    print,
  );
  if (options.json) print(JSON.stringify({ ...plan, applied: applied ?? null }, null, 2));
  else for (const line of renderPlan(plan, applied, options.apply)) print(line);
  return plan.ready ? ExitCode.Ok : ExitCode.Failed;
}

/**
 * Reads, watches, plans and (with `apply`) applies. `clients` are the SDK clients to use (the bench passes its
 * own); by default they are made from the SDK's usual configuration and destroyed at the end.
 */
export async function migrateFromKcl(
  options: MigrateOptions,
  print: (line: string) => void,
  clients?: { dynamodb: DynamoDBClient; streams: DynamoDBStreamsClient },
): Promise<{ plan: MigrationPlan; applied: Applied | undefined }> {
  const dynamodb = clients?.dynamodb ?? new DynamoDBClient({ region: options.region });
  const streams = clients?.streams ?? new DynamoDBStreamsClient({ region: options.region });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const table = await describeLeaseTable(dynamodb, options);
    const startedAt = performance.now();
    const before = await scanLeases(dynamodb, options.leaseTable);
    const leases = readKcl1Table(table, before); // a wrong table fails here, before the watch
    const shards = await streamShards(streams, options.streamArn);
    const listed = new Set(shards.map((s) => s.shardId));
    const checked = await checkCheckpoints(
      streams,
      options.streamArn,
      leases
        .filter((l) => listed.has(l.leaseKey) && isSequenceNumber(l.checkpoint.sequenceNumber))
        .map((l) => ({ shardId: l.leaseKey, checkpoint: l.checkpoint.sequenceNumber })),
    );
    const stream = {
      streamArn: options.streamArn,
      shards,
      trimmed: checked.trimmed,
      foreignCheckpoints: checked.foreign,
    };
    checkAgainstStream(options.leaseTable, leases, stream); // a wrong stream or lost records fail before the watch
    const watchMs = options.failoverMs + WATCH_MARGIN_MS;
    if (!options.json)
      for (const line of wrap(
        'Watching',
        `${options.leaseTable} for ${watchMs / 1000} s (the KCL failover time and a second) for renewals…`,
      ))
        print(line);
    await sleep(Math.max(0, watchMs - (performance.now() - startedAt)));
    const after = await scanLeases(dynamodb, options.leaseTable);
    const plan = planMigration({
      table,
      before,
      after,
      watchedMs: Math.round(performance.now() - startedAt),
      failoverMs: options.failoverMs,
      ...stream,
    });
    const applied = options.apply && plan.ready ? await apply(dynamodb, table, after, plan) : undefined;
    return { plan, applied };
  } finally {
    if (!clients) {
      dynamodb.destroy();
      streams.destroy();
    }
  }
}

async function describeLeaseTable(
  client: DynamoDBClient,
  options: MigrateOptions,
): Promise<TableDescription> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: options.leaseTable }));
    if (Table) return Table;
  } catch (error) {
    if (errorName(error) !== 'ResourceNotFoundException') throw error;
  }
  throw new PreconditionError(
    `There is no table ${options.leaseTable} in ${options.region}.`,
    "pass the KCL application's lease table, which is named after the application (its applicationName), and the region it runs in (--region).",
  );
}

async function scanLeases(
  client: DynamoDBClient,
  tableName: string,
): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  for await (const page of paginateScan({ client }, { TableName: tableName, ConsistentRead: true }))
    items.push(...(page.Items ?? []));
  return items;
}

async function streamShards(streams: DynamoDBStreamsClient, streamArn: string): Promise<Shard[]> {
  try {
    return await listShards(streams, streamArn);
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException')
      throw new PreconditionError(
        `There is no stream ${streamArn}.`,
        "pass the stream the KCL application reads: aws dynamodb describe-table --table-name SOURCE --query Table.LatestStreamArn (a stream disabled and enabled again has a new ARN, and the old one's checkpoints cannot be used).",
      );
    if (errorName(error) === 'ValidationException')
      throw new InvalidInputError(
        '--stream-arn',
        `"${streamArn}" is not a stream ARN (${(error as Error).message}).`,
      );
    throw error;
  }
}

/**
 * Asks the stream for an iterator after each sequence-number checkpoint: TrimmedDataAccessException means the
 * records after it are gone (DynamoDB Streams API reference, GetShardIterator: "a sequence number older than the
 * trim point (24 hours)"); for those, the oldest record the shard still holds is read (one GetRecords).
 */
async function checkCheckpoints(
  streams: DynamoDBStreamsClient,
  streamArn: string,
  checkpoints: readonly { shardId: string; checkpoint: string }[],
): Promise<{ trimmed: TrimmedCheckpoint[]; foreign: string[] }> {
  const trimmed: TrimmedCheckpoint[] = [];
  const foreign: string[] = [];
  for (const { shardId, checkpoint } of checkpoints) {
    try {
      await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
          SequenceNumber: checkpoint,
        }),
      );
    } catch (error) {
      const name = errorName(error);
      if (name === 'TrimmedDataAccessException')
        trimmed.push({
          shardId,
          checkpoint,
          firstAvailable: await oldestRecord(streams, streamArn, shardId),
        });
      else if (name === 'ResourceNotFoundException')
        trimmed.push({ shardId, checkpoint, firstAvailable: undefined });
      else if (name === 'ValidationException') foreign.push(shardId);
      else throw error;
    }
  }
  return { trimmed, foreign };
}

async function oldestRecord(
  streams: DynamoDBStreamsClient,
  streamArn: string,
  shardId: string,
): Promise<string | undefined> {
  const { ShardIterator } = await streams.send(
    new GetShardIteratorCommand({
      StreamArn: streamArn,
      ShardId: shardId,
      ShardIteratorType: 'TRIM_HORIZON',
    }),
  );
  if (!ShardIterator) return undefined;
  const { Records } = await streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1 }));
  return Records?.[0]?.dynamodb?.SequenceNumber;
}

/** --apply: the owner index, then the release of every lease the Java fleet left owned (it renews none). */
async function apply(
  client: DynamoDBClient,
  table: TableDescription,
  items: readonly Record<string, AttributeValue>[],
  plan: MigrationPlan,
): Promise<Applied> {
  const ownerIndex: Applied['ownerIndex'] =
    plan.leaseTable.ownerIndex === 'ABSENT' ? await addOwnerIndex(client, table) : 'already-there';
  const released: string[] = [];
  const changedMeanwhile: string[] = [];
  const byKey = new Map(items.map((item) => [item.leaseKey?.S, item]));
  for (const shard of plan.shards) {
    if (shard.owner === null || shard.action === 'finished') continue;
    const item = byKey.get(shard.shardId);
    try {
      // LeaseManager.evictLease's write (owner removed, counter + 1), also conditional on the counter seen.
      await client.send(
        new UpdateItemCommand({
          TableName: plan.leaseTable.name,
          Key: { leaseKey: { S: shard.shardId } },
          UpdateExpression: 'REMOVE leaseOwner ADD leaseCounter :one',
          ConditionExpression: 'leaseOwner = :owner AND leaseCounter = :counter',
          ExpressionAttributeValues: {
            ':owner': { S: shard.owner },
            ':counter': item?.leaseCounter ?? { N: shard.counter.after },
            ':one': { N: '1' },
          },
        }),
      );
      released.push(shard.shardId);
    } catch (error) {
      if (errorName(error) !== 'ConditionalCheckFailedException') throw error;
      changedMeanwhile.push(shard.shardId);
    }
  }
  return { ownerIndex, released, changedMeanwhile };
}

/** The plan for people, wrapped at 80 columns (an ARN longer than a line stays whole). */
export function renderPlan(plan: MigrationPlan, applied: Applied | undefined, apply: boolean): string[] {
  const lines: string[] = [];
  const add = (label: string, text: string) => lines.push(...wrap(label, text));
  const t = plan.leaseTable;
  const capacity =
    t.billingMode === 'PROVISIONED'
      ? `PROVISIONED ${t.readCapacityUnits}/${t.writeCapacityUnits}`
      : 'PAY_PER_REQUEST';
  add('Lease table', `${t.name}: KCL 1.x's (hash key leaseKey), ${capacity}, owner index ${t.ownerIndex}`);
  add('Stream', `${plan.streamArn} (${plan.shardsInStream} shards listed)`);
  add(
    'Watched',
    `${(plan.watchedMs / 1000).toFixed(1)} s for renewals (failover ${plan.failoverMs / 1000} s + 1 s)`,
  );
  for (const shard of plan.shards) {
    lines.push('', shard.shardId);
    const pending = shard.pendingCheckpoint
      ? ` (prepared ${shard.pendingCheckpoint}: resumed from the checkpoint)`
      : '';
    add('  checkpoint', `${shard.checkpoint}${pending}`);
    const counter =
      shard.counter.before === shard.counter.after
        ? `counter ${shard.counter.after} unchanged: expired`
        : `counter ${shard.counter.before} → ${shard.counter.after}: RENEWED`;
    add('  owner', shard.owner === null ? 'none' : `${shard.owner}, ${counter}`);
    if (shard.parents.length > 0) add('  parents', shard.parents.join(', '));
    if (shard.children.length > 0) add('  children', shard.children.join(', '));
    add('  Streamfleet', shard.says);
  }
  lines.push('', 'Setup changes');
  const s = plan.setup;
  add('  ScaledObject', s.scaledObject);
  add('  Image', s.image);
  add(
    '  Environment',
    Object.entries(s.environment)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  );
  for (const addition of s.policyAdditions)
    add('  IRSA policy', `add ${addition.actions.join(', ')} on ${addition.resource}`);
  lines.push('');
  if (!plan.ready) {
    const owners = plan.renewing.map((r) => `${r.owner} (${r.leases.length} leases)`).join(', ');
    add(
      'Verdict',
      `NOT READY: a KCL 1.x worker still renews: ${owners}. Stop the Java fleet (pause its ScaledObject, scale its Deployment to 0), then run this again.`,
    );
  } else if (!apply) {
    add(
      'Verdict',
      'ready: no Java worker renews. Run again with --apply to add the owner index and release the leases, then start Streamfleet.',
    );
  } else if (applied) {
    add(
      'Applied',
      `owner index: ${applied.ownerIndex}; released ${applied.released.length} lease(s)${applied.changedMeanwhile.length ? `; ${applied.changedMeanwhile.length} changed meanwhile and were left: ${applied.changedMeanwhile.join(', ')}` : ''}. Start Streamfleet now.`,
    );
  }
  return lines;
}

function wrap(label: string, text: string, width = 80): string[] {
  const indent = 15;
  const head = label.padEnd(indent - 1);
  const words = text.split(' ');
  const lines: string[] = [];
  let line = `${head} `;
  for (const word of words) {
    if (line.trim().length > label.trim().length && line.length + word.length > width) {
      lines.push(line.trimEnd());
      line = ' '.repeat(indent);
    }
    line += `${word} `;
  }
  lines.push(line.trimEnd());
  return lines;
}
