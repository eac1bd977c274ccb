/**
 * FAKE KCL 1.x worker, for tests and the bench: the Java side cannot run here (no Maven access), so this sends
 * the lease-table requests a KCL 1.x worker with the DynamoDB Streams Kinesis Adapter sends, in the same shape —
 * the legacy `Expected` / `AttributeUpdates` parameters of KCL 1.x's `LeaseManager` — and reads a shard the way
 * KCL 1.x resumes one. Written from KCL 1.x's source (awslabs/amazon-kinesis-client, 1.x):
 *
 * - the table: `LeaseManager.createLeaseTableIfNotExists` — hash key `leaseKey` (S) only, provisioned throughput
 *   (KinesisClientLibLeaseCoordinator's default 10 read / 10 write units), no index;
 * - a new lease: `createLeaseIfNotExists` — PutItem of `KinesisClientLeaseSerializer.toDynamoRecord`, expecting
 *   `leaseKey` absent;
 * - renew: `renewLease` — UpdateItem expecting `leaseCounter` = n (the counter alone, as the source does),
 *   `leaseCounter` PUT n + 1;
 * - take: `takeLease` — expecting `leaseCounter`; `leaseCounter` PUT n + 1, `leaseOwner` PUT, and
 *   `ownerSwitchesSinceCheckpoint` ADD 1 when the owner changes (`getDynamoTakeLeaseUpdate`);
 * - checkpoint: `KinesisClientLibLeaseCoordinator.setCheckpoint` → `updateLease` — expecting `leaseCounter`;
 *   `leaseCounter` n + 1, `checkpoint`, `checkpointSubSequenceNumber`, `ownerSwitchesSinceCheckpoint` 0 PUT, the
 *   pending checkpoint DELETEd (`getDynamoUpdateLeaseUpdate`); prepareCheckpoint PUTs the pending one instead;
 * - resume: `KinesisDataFetcher.advanceIteratorTo` — AT_SEQUENCE_NUMBER at the checkpoint (TRIM_HORIZON, LATEST as
 *   named), then `ProcessTask` drops every record at or before the checkpoint.
 */
import {
  type AttributeValue,
  type AttributeValueUpdate,
  CreateTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import {
  KCL1_DEFAULT_FAILOVER_MS,
  kcl1LeaseTableCreation,
  kcl1RenewIntervalMs,
} from '../../core/tables/kcl1-lease.js';
import { compareSequenceNumbers, isSequenceNumber } from '../../core/vocabulary/sequence.js';

type Item = Record<string, AttributeValue>;

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: bigint | number): AttributeValue => ({ N: String(value) });
const put = (Value: AttributeValue): AttributeValueUpdate => ({ Value, Action: 'PUT' });

/** KCL 1.x's lease table, as `LeaseManager.createLeaseTableIfNotExists` creates it. */
export async function createKcl1LeaseTable(
  client: DynamoDBClient,
  tableName: string,
  capacity = { read: 10, write: 10 },
): Promise<void> {
  await client.send(new CreateTableCommand(kcl1LeaseTableCreation(tableName, capacity)));
}

/** A lease as the application left it (what `KinesisClientLease` holds). */
export interface Kcl1LeaseFixture {
  leaseKey: string;
  leaseOwner?: string;
  leaseCounter?: number;
  checkpoint: string;
  pendingCheckpoint?: string;
  ownerSwitchesSinceCheckpoint?: number;
  parentShardIds?: string[];
}

/** `KinesisClientLeaseSerializer.toDynamoRecord`. */
export function kcl1Item(lease: Kcl1LeaseFixture): Item {
  const item: Item = {
    leaseKey: S(lease.leaseKey),
    leaseCounter: N(lease.leaseCounter ?? 0),
    ownerSwitchesSinceCheckpoint: N(lease.ownerSwitchesSinceCheckpoint ?? 0),
    checkpoint: S(lease.checkpoint),
    checkpointSubSequenceNumber: N(0),
  };
  if (lease.leaseOwner !== undefined) item.leaseOwner = S(lease.leaseOwner);
  if (lease.parentShardIds?.length) item.parentShardId = { SS: lease.parentShardIds };
  if (lease.pendingCheckpoint !== undefined) {
    item.pendingCheckpoint = S(lease.pendingCheckpoint);
    item.pendingCheckpointSubSequenceNumber = N(0);
  }
  return item;
}

export class FakeKcl1Worker {
  /** Leases held, with the counter this worker last wrote (KCL's in-memory `Lease`). */
  readonly held = new Map<string, bigint>();
  /** Renewals that went through, per lease. */
  readonly renewals = new Map<string, number>();
  /** When (epoch ms) each lease's renewals went through, in order. */
  readonly renewedAt = new Map<string, number[]>();
  /** Epoch ms of the latest renewal that went through. */
  lastRenewalAt: number | undefined;
  /** Renewals and updates that failed for another reason than the condition (kept, tried again next time). */
  readonly errors: unknown[] = [];
  private renewing: { stop: AbortController; loop: Promise<void> } | undefined;
  private processing: { stop: AbortController; loop: Promise<void> } | undefined;
  /**
   * One write at a time per lease, as KCL 1.x's LeaseRenewer synchronizes renewLease and updateLease on the lease:
   * both expect the counter the other bumps.
   */
  private readonly writing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    readonly workerId: string,
    readonly failoverMs = KCL1_DEFAULT_FAILOVER_MS,
  ) {}

  /** `createLeaseIfNotExists`; an owned lease is held by this worker from then on. */
  async createLease(lease: Kcl1LeaseFixture): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: kcl1Item(lease),
        Expected: { leaseKey: { Exists: false } },
      }),
    );
    if (lease.leaseOwner === this.workerId) this.held.set(lease.leaseKey, BigInt(lease.leaseCounter ?? 0));
  }

  async read(leaseKey: string): Promise<Item | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { leaseKey: S(leaseKey) }, ConsistentRead: true }),
    );
    return Item;
  }

  /** `takeLease` of the lease as it is now; false when its counter moved meanwhile. */
  async take(leaseKey: string): Promise<boolean> {
    const item = await this.read(leaseKey);
    if (!item) return false;
    const counter = BigInt(item.leaseCounter?.N ?? '0');
    const updates: Record<string, AttributeValueUpdate> = {
      leaseCounter: put(N(counter + 1n)),
      leaseOwner: put(S(this.workerId)),
    };
    if (item.leaseOwner?.S !== undefined && item.leaseOwner.S !== this.workerId)
      updates.ownerSwitchesSinceCheckpoint = { Value: N(1), Action: 'ADD' };
    if (!(await this.update(leaseKey, { leaseCounter: { Value: N(counter) } }, updates))) return false;
    this.held.set(leaseKey, counter + 1n);
    return true;
  }

  /**
   * One `renewLease` per held lease; a lease whose counter moved (taken by another) is dropped. A renewal that
   * fails otherwise (DynamoDB Local answers InternalFailure to writes while an index is being created) keeps the
   * lease and is tried again at the next pass, as KCL's LeaseRenewer does with a DependencyException.
   */
  async renewAll(): Promise<void> {
    // In parallel, as KCL's LeaseRenewer renews on its thread pool: one slow write does not delay the others.
    await Promise.all(
      [...this.held.keys()].map(async (leaseKey) => {
        const ok = await this.updateLease(leaseKey, {}).catch((error: unknown) => {
          this.errors.push(error);
          return false;
        });
        if (!ok) return;
        const at = Date.now();
        this.renewals.set(leaseKey, (this.renewals.get(leaseKey) ?? 0) + 1);
        this.renewedAt.set(leaseKey, [...(this.renewedAt.get(leaseKey) ?? []), at]);
        this.lastRenewalAt = at;
      }),
    );
  }

  /** Renews every failover / 3 − 25 ms (KCL's LeaseCoordinator pace) until `stopRenewing`. */
  startRenewing(): void {
    if (this.renewing) return;
    const stop = new AbortController();
    const loop = (async () => {
      while (!stop.signal.aborted) {
        await sleep(kcl1RenewIntervalMs(this.failoverMs), stop.signal);
        if (!stop.signal.aborted) await this.renewAll();
      }
    })();
    this.renewing = { stop, loop };
  }

  /** Stops renewing, as a Java worker scaled to zero (or killed) does; resolves after its last renewal. */
  async stopRenewing(): Promise<void> {
    this.renewing?.stop.abort();
    await this.renewing?.loop;
    this.renewing = undefined;
  }

  /** `setCheckpoint` (`updateLease`): false when the lease is no longer this worker's. */
  checkpoint(leaseKey: string, sequenceNumber: string): Promise<boolean> {
    return this.updateLease(leaseKey, {
      checkpoint: put(S(sequenceNumber)),
      checkpointSubSequenceNumber: put(N(0)),
      ownerSwitchesSinceCheckpoint: put(N(0)),
      pendingCheckpoint: { Action: 'DELETE' },
      pendingCheckpointSubSequenceNumber: { Action: 'DELETE' },
    });
  }

  /** `prepareCheckpoint` (`updateLease` with a pending checkpoint; the checkpoint itself unchanged). */
  prepareCheckpoint(leaseKey: string, sequenceNumber: string): Promise<boolean> {
    return this.updateLease(leaseKey, {
      pendingCheckpoint: put(S(sequenceNumber)),
      pendingCheckpointSubSequenceNumber: put(N(0)),
    });
  }

  /**
   * What KCL 1.x would hand its record processor first after taking the lease: the records after the checkpoint
   * (AT_SEQUENCE_NUMBER at it, records at or before it dropped), read to the shard's current end or for `pages`
   * GetRecords at most.
   */
  async recordsToProcess(
    streams: DynamoDBStreamsClient,
    streamArn: string,
    leaseKey: string,
    pages = Number.POSITIVE_INFINITY,
  ): Promise<StreamRecord[]> {
    const checkpoint = (await this.read(leaseKey))?.checkpoint?.S ?? 'TRIM_HORIZON';
    if (checkpoint === 'SHARD_END') return [];
    const at = isSequenceNumber(checkpoint);
    let { ShardIterator: iterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: leaseKey,
        ShardIteratorType: at ? 'AT_SEQUENCE_NUMBER' : (checkpoint as 'TRIM_HORIZON' | 'LATEST'),
        ...(at ? { SequenceNumber: checkpoint } : {}),
      }),
    );
    const records: StreamRecord[] = [];
    for (let page = 0; iterator && page < pages; page++) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      const got = page.Records ?? [];
      records.push(...got);
      iterator = page.NextShardIterator;
      if (got.length === 0) break;
      await sleep(250); // a reader's pace: under the five reads a second per shard
    }
    return records.filter((record) => {
      const sequence = record.dynamodb?.SequenceNumber ?? '0';
      return !at || compareSequenceNumbers(sequence, checkpoint) > 0;
    });
  }

  /**
   * A KCL 1.x record processor's loop for one held lease, until `stopProcessing`: about once a second (KCL's
   * idleTimeBetweenReadsInMillis) the records after the checkpoint are handed to `apply`, then checkpointed.
   */
  startProcessing(
    streams: DynamoDBStreamsClient,
    streamArn: string,
    leaseKey: string,
    apply: (records: StreamRecord[]) => Promise<void>,
  ): void {
    if (this.processing) return;
    const stop = new AbortController();
    const loop = (async () => {
      while (!stop.signal.aborted && this.held.has(leaseKey)) {
        try {
          const records = await this.recordsToProcess(streams, streamArn, leaseKey, 1);
          const last = records.at(-1)?.dynamodb?.SequenceNumber;
          if (last && !stop.signal.aborted) {
            await apply(records);
            await this.checkpoint(leaseKey, last);
          }
        } catch (error) {
          this.errors.push(error); // a failed task: KCL runs it again at the next pass
        }
        await sleep(1_000, stop.signal);
      }
    })();
    this.processing = { stop, loop };
  }

  /** Stops processing after the batch in hand (its checkpoint written), as a KCL worker's shutdown does. */
  async stopProcessing(): Promise<void> {
    this.processing?.stop.abort();
    await this.processing?.loop;
    this.processing = undefined;
  }

  /** A renewal (no `updates`) or `updateLease`: expects the held counter, bumps it; one at a time per lease. */
  private updateLease(leaseKey: string, updates: Record<string, AttributeValueUpdate>): Promise<boolean> {
    const run = async () => {
      const counter = this.held.get(leaseKey);
      if (counter === undefined) return false;
      const ok = await this.update(
        leaseKey,
        { leaseCounter: { Value: N(counter) } },
        { ...updates, leaseCounter: put(N(counter + 1n)) },
      );
      if (ok) this.held.set(leaseKey, counter + 1n);
      else this.held.delete(leaseKey);
      return ok;
    };
    // A write that threw (not a failed condition) leaves the lease held: the next one tries again.
    const previous = this.writing.get(leaseKey) ?? Promise.resolve();
    const next = previous.then(run, run);
    this.writing.set(leaseKey, next);
    return next;
  }

  private async update(
    leaseKey: string,
    expected: NonNullable<ConstructorParameters<typeof UpdateItemCommand>[0]['Expected']>,
    updates: Record<string, AttributeValueUpdate>,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { leaseKey: S(leaseKey) },
          Expected: expected,
          AttributeUpdates: updates,
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
