/**
 * The LeaseRefresher over a DynamoDB lease table. Every write is conditional; a failed condition comes back as
 * `false` ("lease lost" or "someone else got there first"), never as an exception.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  paginateQuery,
  paginateScan,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/vocabulary/clock.js';
import { isConditionalCheckFailure, isTransactionConflict } from '../../core/vocabulary/errors.js';
import {
  type Lease,
  type LeaseProgress,
  leaseFromItem,
  MALFORMED_COUNTER,
} from '../../core/vocabulary/lease.js';
import { LEASE_OWNER_INDEX } from '../../core/vocabulary/lease-owner-index.js';
import {
  backoffDelay,
  type RetryPolicy,
  retry,
  UNPROCESSED_ITEMS_BACKOFF,
} from '../../core/vocabulary/retry.js';
import { GatePriority, LeaseItemGate } from './lease-item-gate.js';
import type { LeaseReadOptions, LeaseRefresher, RenewedLease } from './lease-refresher.js';
import { createLeaseTableIfNotExists } from './lease-table.js';
import { checkpointUpdate, N, progressClauses, S } from './lease-updates.js';

/** A conflict lasts as long as the other transaction: tens of milliseconds on AWS. */
const CONFLICT_RETRY: RetryPolicy = { baseDelayMs: 25, maxDelayMs: 1_000, maxAttempts: 10 };

export interface DynamoDBLeaseRefresherOptions {
  /** Called once per request sent to the lease table, with the operation name (for metrics). */
  onRequest?: (operation: string) => void;
  /** Serialises this worker's writes per lease item; shared with the fenced writer. */
  gate?: LeaseItemGate;
  /** Longest a renewal waits for the write in flight on its lease before it is sent anyway. */
  renewalMaxWaitMs?: number;
}

export class DynamoDBLeaseRefresher implements LeaseRefresher {
  private readonly onRequest: (operation: string) => void;
  private readonly gate: LeaseItemGate;
  private readonly renewalMaxWaitMs: number;

  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    private readonly clock: Clock,
    options: DynamoDBLeaseRefresherOptions = {},
  ) {
    this.onRequest = options.onRequest ?? (() => {});
    this.gate = options.gate ?? new LeaseItemGate(clock);
    this.renewalMaxWaitMs = options.renewalMaxWaitMs ?? 1_000;
  }

  createLeaseTableIfNotExists(): Promise<{ ownerIndex: boolean }> {
    return createLeaseTableIfNotExists(this.client, this.tableName, this.clock);
  }

  async listLeases(options: LeaseReadOptions = {}): Promise<Lease[]> {
    const leases: Lease[] = [];
    const pages = paginateScan(
      { client: this.client },
      { TableName: this.tableName, ConsistentRead: options.consistent ?? true },
    );
    for await (const page of this.counted('Scan', pages))
      for (const item of page.Items ?? []) leases.push(leaseFromItem(item));
    return leases;
  }

  async listOwnedLeases(owner: string): Promise<Lease[]> {
    const leases: Lease[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        IndexName: LEASE_OWNER_INDEX,
        KeyConditionExpression: 'leaseOwner = :owner',
        ExpressionAttributeValues: { ':owner': S(owner) },
      },
    );
    for await (const page of this.counted('Query', pages))
      for (const item of page.Items ?? []) leases.push(leaseFromItem(item));
    return leases;
  }

  /** Counts each page a paginator fetched as one request (metrics). */
  private async *counted<T>(operation: string, pages: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const page of pages) {
      this.onRequest(operation);
      yield page;
    }
  }

  async getLeases(leaseKeys: readonly string[], options: LeaseReadOptions = {}): Promise<Lease[]> {
    const leases: Lease[] = [];
    for (let i = 0; i < leaseKeys.length; i += 100) {
      let keys: Record<string, AttributeValue>[] | undefined = leaseKeys
        .slice(i, i + 100)
        .map((key) => ({ leaseKey: S(key) }));
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        if (attempt > 0) await this.clock.sleep(backoffDelay(attempt, UNPROCESSED_ITEMS_BACKOFF));
        this.onRequest('BatchGetItem');
        const result: BatchGetItemCommandOutput = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: options.consistent ?? true } },
          }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) leases.push(leaseFromItem(item));
        keys = result.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return leases;
  }

  async getLease(leaseKey: string): Promise<Lease | undefined> {
    this.onRequest('GetItem');
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { leaseKey: S(leaseKey) }, ConsistentRead: true }),
    );
    return Item ? leaseFromItem(Item) : undefined;
  }

  async createLeaseIfNotExists(
    lease: Omit<Lease, 'leaseOwner' | 'leaseCounter' | 'ownerSwitchesSinceCheckpoint'>,
  ): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      leaseKey: S(lease.leaseKey),
      leaseCounter: N(0),
      checkpoint: S(lease.checkpoint),
      checkpointSubSequenceNumber: N(0),
      ownerSwitchesSinceCheckpoint: N(0),
    };
    if (lease.parentShardIds.length > 0) item.parentShardId = { SS: [...lease.parentShardIds] };
    if (lease.childShardIds.length > 0) item.childShardIds = { SS: [...lease.childShardIds] };
    return this.conditional(
      new PutItemCommand({
        TableName: this.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(leaseKey)',
      }),
    );
  }

  async renewLease(
    leaseKey: string,
    owner: string,
    counter: number,
    progress?: LeaseProgress,
  ): Promise<RenewedLease | undefined> {
    const { clauses, values } = progressClauses(progress);
    const command = new UpdateItemCommand({
      TableName: this.tableName,
      Key: { leaseKey: S(leaseKey) },
      UpdateExpression: `SET ${['leaseCounter = :next', ...clauses].join(', ')}`,
      ConditionExpression: 'leaseOwner = :owner AND leaseCounter = :counter',
      ExpressionAttributeValues: {
        ':owner': S(owner),
        ':counter': N(counter),
        ':next': N(counter + 1),
        ...values,
      },
      // The renewal is how an owner learns that a peer asked for the lease; returning it costs no capacity.
      ReturnValues: 'ALL_NEW',
    });
    const { ok, attributes } = await this.gate.run(
      leaseKey,
      GatePriority.RENEWAL,
      () => this.conditionalUpdate(command),
      { maxWaitMs: this.renewalMaxWaitMs },
    );
    return ok ? { counter: counter + 1, handoffTo: attributes?.handoffTo?.S } : undefined;
  }

  async requestHandoff(expected: Lease, requester: string): Promise<boolean> {
    if (expected.leaseOwner === undefined) return false;
    return this.unlessConflict(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { leaseKey: S(expected.leaseKey) },
        UpdateExpression: 'SET handoffTo = :requester',
        ConditionExpression: 'leaseOwner = :owner AND checkpoint <> :end AND attribute_not_exists(handoffTo)',
        ExpressionAttributeValues: {
          ':owner': S(expected.leaseOwner),
          ':requester': S(requester),
          ':end': S('SHARD_END'),
        },
      }),
    );
  }

  async takeLease(expected: Lease, newOwner: string): Promise<Lease | undefined> {
    const values: Record<string, AttributeValue> = {
      ':owner': S(newOwner),
      ':counter': N(expected.leaseCounter),
      ':next': N(expected.leaseCounter + 1),
      ':one': N(1),
    };
    const malformed = expected.leaseCounter === MALFORMED_COUNTER;
    let condition = malformed
      ? '(attribute_not_exists(leaseCounter) OR NOT attribute_type(leaseCounter, :numberType)) AND '
      : 'leaseCounter = :counter AND ';
    if (malformed) {
      delete values[':counter'];
      values[':numberType'] = S('N');
      values[':next'] = N(1);
    }
    if (expected.leaseOwner === undefined) {
      condition += 'attribute_not_exists(leaseOwner)';
    } else {
      condition += 'leaseOwner = :previous';
      values[':previous'] = S(expected.leaseOwner);
    }
    const switched = expected.leaseOwner !== newOwner;
    if (!switched) delete values[':one'];
    const ok = await this.unlessConflict(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { leaseKey: S(expected.leaseKey) },
        UpdateExpression: switched
          ? 'SET leaseOwner = :owner, streamfleetOwner = :owner, leaseCounter = :next REMOVE handoffTo ADD ownerSwitchesSinceCheckpoint :one'
          : 'SET leaseOwner = :owner, streamfleetOwner = :owner, leaseCounter = :next REMOVE handoffTo',
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
      }),
    );
    if (!ok) return undefined;
    return {
      ...expected,
      leaseOwner: newOwner,
      streamfleetOwner: newOwner,
      leaseCounter: malformed ? 1 : expected.leaseCounter + 1,
      ownerSwitchesSinceCheckpoint: expected.ownerSwitchesSinceCheckpoint + (switched ? 1 : 0),
      handoffTo: undefined,
    };
  }

  async evictLease(leaseKey: string, owner: string): Promise<boolean> {
    return this.ownerWrite(
      leaseKey,
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { leaseKey: S(leaseKey) },
        UpdateExpression: 'REMOVE leaseOwner, handoffTo ADD leaseCounter :one',
        ConditionExpression: 'leaseOwner = :owner',
        ExpressionAttributeValues: { ':owner': S(owner), ':one': N(1) },
      }),
    );
  }

  async assignLease(leaseKey: string, owner: string, newOwner: string): Promise<boolean> {
    return this.ownerWrite(
      leaseKey,
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { leaseKey: S(leaseKey) },
        UpdateExpression:
          'SET leaseOwner = :next, streamfleetOwner = :next REMOVE handoffTo ADD leaseCounter :one, ownerSwitchesSinceCheckpoint :one',
        ConditionExpression: 'leaseOwner = :owner',
        ExpressionAttributeValues: { ':owner': S(owner), ':next': S(newOwner), ':one': N(1) },
      }),
    );
  }

  async checkpoint(
    leaseKey: string,
    owner: string,
    checkpoint: string,
    progress?: LeaseProgress,
  ): Promise<boolean> {
    return this.ownerWrite(
      leaseKey,
      new UpdateItemCommand(checkpointUpdate(this.tableName, leaseKey, owner, checkpoint, progress)),
    );
  }

  async recordProgress(leaseKey: string, owner: string, progress: LeaseProgress): Promise<boolean> {
    const { clauses, values } = progressClauses(progress);
    if (clauses.length === 0) return true;
    return this.ownerWrite(
      leaseKey,
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { leaseKey: S(leaseKey) },
        UpdateExpression: `SET ${clauses.join(', ')}`,
        ConditionExpression: 'leaseOwner = :owner',
        ExpressionAttributeValues: { ':owner': S(owner), ...values },
      }),
    );
  }

  async addChildShard(parentKey: string, childKey: string): Promise<void> {
    // The parent's owner may be writing its last records in a transaction that includes this item: the update
    // is idempotent (a set ADD), so a conflict is simply retried after a short pause.
    await retry(() => this.ownerWrite(parentKey, this.addChildCommand(parentKey, childKey)), {
      clock: this.clock,
      policy: CONFLICT_RETRY,
      isRetriable: isTransactionConflict,
    });
  }

  private addChildCommand(parentKey: string, childKey: string): UpdateItemCommand {
    return new UpdateItemCommand({
      TableName: this.tableName,
      Key: { leaseKey: S(parentKey) },
      UpdateExpression: 'ADD childShardIds :child',
      ConditionExpression: 'attribute_exists(leaseKey)',
      ExpressionAttributeValues: { ':child': { SS: [childKey] } },
    });
  }

  async deleteFinishedLease(leaseKey: string): Promise<boolean> {
    return this.conditional(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: { leaseKey: S(leaseKey) },
        ConditionExpression: 'checkpoint = :end',
        ExpressionAttributeValues: { ':end': S('SHARD_END') },
      }),
    );
  }

  private async conditionalUpdate(
    command: UpdateItemCommand,
  ): Promise<{ ok: boolean; attributes?: Record<string, AttributeValue> }> {
    this.onRequest('UpdateItem');
    try {
      const { Attributes } = await this.client.send(command);
      return { ok: true, ...(Attributes ? { attributes: Attributes } : {}) };
    } catch (error) {
      if (isConditionalCheckFailure(error)) return { ok: false };
      throw error;
    }
  }

  /** A write of a lease item this worker may hold: one at a time with the fenced writer's transactions. */
  private ownerWrite(leaseKey: string, command: UpdateItemCommand): Promise<boolean> {
    return this.gate.run(leaseKey, GatePriority.WRITE, () => this.conditional(command));
  }

  /**
   * A write on a lease item another worker holds (take, hand-off request): refused for a transaction conflict
   * when the owner is writing at that moment, which means "not now": the next taker pass tries again.
   */
  private async unlessConflict(command: UpdateItemCommand): Promise<boolean> {
    try {
      return await this.conditional(command);
    } catch (error) {
      if (isTransactionConflict(error)) return false;
      throw error;
    }
  }

  private async conditional(
    command: PutItemCommand | UpdateItemCommand | DeleteItemCommand,
  ): Promise<boolean> {
    this.onRequest(
      command instanceof PutItemCommand
        ? 'PutItem'
        : command instanceof DeleteItemCommand
          ? 'DeleteItem'
          : 'UpdateItem',
    );
    try {
      // biome-ignore lint/suspicious/noExplicitAny: the SDK's send overloads do not accept a union of commands.
      await this.client.send(command as any);
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw error;
    }
  }
}
