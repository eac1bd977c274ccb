/**
 * Adopting a lease table without its owner index — the one a KCL 1.x application left behind (hash key
 * `leaseKey` only: core/tables/kcl1-lease.ts), or one re-created by hand — by adding the index online, while the worker
 * goes on with full scans (the taker's fallback) until the index is ACTIVE.
 *
 * One job, in the background: look at the table; while the index is absent, ask for it (core/vocabulary/lease-owner-index.ts
 * says what AWS accepts and how it answers a race); say so once (`lease-table.owner-index-adding`, with
 * `created: true` only on the worker whose request added it); when it is ACTIVE, say so and switch the taker over
 * (`onActive`). A fleet that starts together waits a random part of the poll interval before its first request,
 * so usually one pod asks and the others find the index CREATING; when several ask at once AWS accepts one and
 * answers the others ResourceInUseException or ValidationException, which count as "someone else added it".
 * A refusal that does not clear up (AccessDeniedException: the policy lacks dynamodb:UpdateTable) is reported and
 * retried slowly; the worker stays correct on scans.
 */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../core/vocabulary/clock.js';
import { errorName } from '../../core/vocabulary/errors.js';
import {
  addOwnerIndex,
  ownerIndexState,
  provisionedCapacity,
} from '../../core/vocabulary/lease-owner-index.js';
import { backoffDelay, type RetryPolicy } from '../../core/vocabulary/retry.js';
import type { WorkerEvents } from '../observability/events.js';

export interface OwnerIndexAdoptionDeps {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
  events: WorkerEvents;
  /** Called once, when the index is ACTIVE. */
  onActive: () => void;
  /** How often the table is looked at while the index is being added (default 5 s). */
  pollMs?: number;
  random?: () => number;
}

/**
 * DescribeTable while the index is built (seconds on a small lease table, minutes on a large one): every 5 s per
 * worker keeps a fleet's control-plane calls to a few a second.
 */
export const OWNER_INDEX_POLL_MS = 5_000;

const FAILURE_BACKOFF: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: Infinity };

export class OwnerIndexAdoption {
  private readonly stopController = new AbortController();
  private running: Promise<void> | undefined;

  constructor(private readonly deps: OwnerIndexAdoptionDeps) {}

  /** Starts looking after the index, unless already doing so (the taker may find it missing again later). */
  start(): void {
    if (this.running || this.stopController.signal.aborted) return;
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const { client, tableName, clock, events } = this.deps;
    const pollMs = this.deps.pollMs ?? OWNER_INDEX_POLL_MS;
    const signal = this.stopController.signal;
    const random = this.deps.random ?? Math.random;
    let announced = false;
    let failures = 0;
    let lastFailure = '';
    // A fleet started together: spread the first requests over one poll interval.
    await clock.sleep(Math.floor(random() * pollMs), signal);
    while (!signal.aborted) {
      let delay = pollMs;
      try {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
        if (!Table) throw new Error(`DescribeTable ${tableName} answered no table`);
        const state = ownerIndexState(Table);
        if (state === 'ACTIVE') {
          events.emit(
            'lease-table.owner-index-ready',
            { leaseTable: tableName },
            'lease table owner index is ACTIVE: taker passes read it instead of scanning the table',
          );
          this.deps.onActive();
          return;
        }
        let created = false;
        if (state === 'ABSENT' && Table.TableStatus === 'ACTIVE')
          created = (await addOwnerIndex(client, Table)) === 'created';
        if (!announced && (created || state !== 'ABSENT')) {
          announced = true;
          const capacity = provisionedCapacity(Table);
          events.emit(
            'lease-table.owner-index-adding',
            {
              leaseTable: tableName,
              created,
              billingMode: capacity ? 'PROVISIONED' : 'PAY_PER_REQUEST',
              readCapacityUnits: capacity?.read ?? null,
              writeCapacityUnits: capacity?.write ?? null,
            },
            created
              ? 'lease table has no LeaseOwnerToLeaseKeyIndex (a KCL 1.x lease table?): adding it online; taker passes scan the table until it is ACTIVE'
              : 'lease table owner index is being added by another worker; taker passes scan the table until it is ACTIVE',
          );
        }
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        delay = Math.max(pollMs, backoffDelay(failures++, FAILURE_BACKOFF, random));
        // Loud once per cause: a missing dynamodb:UpdateTable grant would otherwise log every few seconds.
        if (errorName(error) !== lastFailure) {
          lastFailure = errorName(error);
          events.emit(
            'lease-table.owner-index-failed',
            { leaseTable: tableName, error, delayMs: delay },
            'could not add the lease table owner index; taker passes keep scanning the table (allow dynamodb:UpdateTable on the lease table, or add LeaseOwnerToLeaseKeyIndex yourself)',
          );
        }
      }
      await clock.sleep(delay, signal);
    }
  }
}
