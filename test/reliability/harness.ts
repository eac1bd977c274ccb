/**
 * The reliability suite's harness: tables whose replica also has a stream (so every write that lands in the
 * replica can be audited afterwards), a fleet of worker processes whose metrics are scraped before each kill,
 * a load generator that keeps writing through faults, the audit that compares source and replica, and the
 * report line every scenario prints.
 *
 * How lost and stale are counted (see `audit`):
 * - stale overwrite: a write that landed in the replica although a newer change of that item had already
 *   landed: a MODIFY whose `_streamfleet_seq` does not increase, or an item re-created with a change older than
 *   the delete that removed it. Read from the replica table's own stream, i.e. every write that happened, not
 *   just the end state; an item counted here is not counted again as lost.
 * - lost: at the end, once the fleet has had time to converge, an item whose latest source change is not in
 *   the replica: missing, older, or still there although the source deleted it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { afterAll, inject } from 'vitest';
import {
  PROCESSED_BY_ATTRIBUTE,
  SEQUENCE_ATTRIBUTE,
} from '../../consumer/replication/replication-processor.js';
import { parsePrometheusText, seriesKey } from '../../core/vocabulary/prometheus.js';
import { compareSequenceNumbers } from '../../core/vocabulary/sequence.js';
import { isOpen, listShards } from '../../core/vocabulary/shard.js';
import {
  localClient,
  type ReplicationTables,
  scanAll,
  uniqueName,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';

export type Item = Record<string, AttributeValue>;
type StreamItem = NonNullable<NonNullable<StreamRecord['dynamodb']>['NewImage']>;

export interface KeyAttribute {
  name: string;
  type: 'S' | 'N' | 'B';
}

export interface KeySchema {
  hash: KeyAttribute;
  range?: KeyAttribute;
}

export interface AuditedTables extends ReplicationTables {
  key: KeySchema;
  /** Stream of the replica table (the audit trail of every replica write). */
  replicaStreamArn: string;
}

export const EMAIL_KEY: KeySchema = { hash: { name: 'email', type: 'S' } };

export function streamsClient(endpoint: string): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

function keyDefinition(key: KeySchema) {
  const attributes = [key.hash, ...(key.range ? [key.range] : [])];
  return {
    AttributeDefinitions: attributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
    KeySchema: [
      { AttributeName: key.hash.name, KeyType: 'HASH' as const },
      ...(key.range ? [{ AttributeName: key.range.name, KeyType: 'RANGE' as const }] : []),
    ],
    BillingMode: 'PAY_PER_REQUEST' as const,
  };
}

/** Creates the replica table (with its audit stream); returns the stream ARN. Also used to re-create it. */
export async function createReplicaTable(
  client: DynamoDBClient,
  name: string,
  key: KeySchema,
): Promise<string> {
  const created = await client.send(
    new CreateTableCommand({
      TableName: name,
      ...keyDefinition(key),
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  const arn = created.TableDescription?.LatestStreamArn;
  if (!arn) throw new Error(`${name} has no stream`);
  return arn;
}

export async function createAuditedTables(
  client: DynamoDBClient,
  prefix = uniqueName('rel'),
  key: KeySchema = EMAIL_KEY,
): Promise<AuditedTables> {
  const source = await client.send(
    new CreateTableCommand({
      TableName: `${prefix}-src`,
      ...keyDefinition(key),
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  const streamArn = source.TableDescription?.LatestStreamArn;
  if (!streamArn) throw new Error('no stream ARN');
  const replicaStreamArn = await createReplicaTable(client, `${prefix}-replica`, key);
  return {
    source: `${prefix}-src`,
    target: `${prefix}-replica`,
    app: `${prefix}-app`,
    streamArn,
    replicaStreamArn,
    key,
  };
}

// ---------------------------------------------------------------------------------------------- canonical form

/** A stable string for an attribute value; sets compare as sets. */
export function canonical(value: AttributeValue | undefined): string {
  if (value === undefined) return 'undefined';
  if (value.S !== undefined) return `S${JSON.stringify(value.S)}`;
  if (value.N !== undefined) return `N${value.N}`;
  if (value.B !== undefined) return `B${Buffer.from(value.B).toString('base64')}`;
  if (value.BOOL !== undefined) return `BOOL${value.BOOL}`;
  if (value.NULL !== undefined) return 'NULL';
  if (value.SS)
    return `SS[${[...value.SS]
      .map((s) => JSON.stringify(s))
      .sort()
      .join(',')}]`;
  if (value.NS) return `NS[${[...value.NS].sort().join(',')}]`;
  if (value.BS)
    return `BS[${value.BS.map((b) => Buffer.from(b).toString('base64'))
      .sort()
      .join(',')}]`;
  if (value.L) return `L[${value.L.map((v) => canonical(v)).join(',')}]`;
  if (value.M) return `M${canonicalItem(value.M)}`;
  return JSON.stringify(value);
}

export function canonicalItem(item: Item | StreamItem): string {
  return `{${Object.keys(item)
    .sort()
    .map((name) => `${JSON.stringify(name)}:${canonical(item[name] as AttributeValue)}`)
    .join(',')}}`;
}

export function keyId(item: Item | StreamItem, key: KeySchema): string {
  const parts = [key.hash, ...(key.range ? [key.range] : [])].map(
    (a) => `${a.name}=${canonical(item[a.name] as AttributeValue)}`,
  );
  return parts.join('&');
}

export function withoutBookkeeping(item: Item): Item {
  const copy = { ...item };
  delete copy[PROCESSED_BY_ATTRIBUTE];
  delete copy[SEQUENCE_ATTRIBUTE];
  return copy;
}

const seqOf = (image: StreamItem | Item | undefined): bigint | undefined => {
  const s = image?.[SEQUENCE_ATTRIBUTE]?.S;
  return s === undefined ? undefined : BigInt(s);
};

// ---------------------------------------------------------------------------------------------------- streams

/** Every record of a stream, all shards, read from TRIM_HORIZON; sorted by sequence number. */
export async function readWholeStream(
  streams: DynamoDBStreamsClient,
  streamArn: string,
): Promise<StreamRecord[]> {
  const records: StreamRecord[] = [];
  for (const shard of await listShards(streams, streamArn)) {
    let { ShardIterator: iterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shard.shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      const batch = page.Records ?? [];
      records.push(...batch);
      iterator = page.NextShardIterator;
      if (batch.length === 0 && isOpen(shard)) break;
    }
  }
  return records.sort((a, b) =>
    compareSequenceNumbers(a.dynamodb?.SequenceNumber ?? '0', b.dynamodb?.SequenceNumber ?? '0'),
  );
}

// ------------------------------------------------------------------------------------------------------ audit

export interface AuditResult {
  /** Change records in the source stream: everything the load wrote. */
  recordsWritten: number;
  itemsInSource: number;
  /** Source items whose replica equals them (bookkeeping attributes aside). */
  replicated: number;
  /** Writes that landed in the replica (records of its stream). */
  replicaWrites: number;
  lost: number;
  staleOverwrites: number;
  /** Items equal in seq but different in content (would mean a corrupted copy). */
  corrupted: number;
  examples: string[];
}

export interface AuditOptions {
  client: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  tables: AuditedTables;
  /** All streams the replica table has had (it may have been deleted and re-created); default: the current one. */
  replicaStreamArns?: readonly string[];
  /** Keys to leave out of lost/replicated (e.g. records dead-lettered by policy). */
  excludeKeys?: ReadonlySet<string>;
}

export async function audit(options: AuditOptions): Promise<AuditResult> {
  const { client, streams, tables } = options;
  const { key } = tables;
  const [sourceRecords, sourceItems, replicaItems] = await Promise.all([
    readWholeStream(streams, tables.streamArn),
    scanAll(client, tables.source),
    scanAll(client, tables.target),
  ]);
  const replicaRecords: StreamRecord[] = [];
  for (const arn of options.replicaStreamArns ?? [tables.replicaStreamArn])
    replicaRecords.push(...(await readWholeStream(streams, arn)));

  const removesByKey = new Map<string, bigint[]>();
  for (const record of sourceRecords) {
    const keys = record.dynamodb?.Keys;
    if (record.eventName !== 'REMOVE' || !keys) continue;
    const id = keyId(keys, key);
    const list = removesByKey.get(id) ?? [];
    list.push(BigInt(record.dynamodb?.SequenceNumber ?? '0'));
    removesByKey.set(id, list);
  }

  const result: AuditResult = {
    recordsWritten: sourceRecords.length,
    itemsInSource: sourceItems.length,
    replicated: 0,
    replicaWrites: replicaRecords.length,
    lost: 0,
    staleOverwrites: 0,
    corrupted: 0,
    examples: [],
  };
  const note = (text: string) => {
    if (result.examples.length < 10) result.examples.push(text);
  };
  const exclude = options.excludeKeys ?? new Set<string>();

  // Every write in the replica's history: sequence numbers only ever go up, and nothing comes back from the dead.
  const removedAt = new Map<string, bigint>();
  const staleIds = new Set<string>();
  for (const record of replicaRecords) {
    const data = record.dynamodb;
    if (!data?.Keys) continue;
    const id = keyId(data.Keys, key);
    const oldSeq = seqOf(data.OldImage);
    const newSeq = seqOf(data.NewImage);
    if (record.eventName === 'MODIFY' && oldSeq !== undefined && newSeq !== undefined && newSeq <= oldSeq) {
      result.staleOverwrites++;
      staleIds.add(id);
      note(`stale MODIFY of ${id}: ${oldSeq} -> ${newSeq}`);
    } else if (record.eventName === 'REMOVE') {
      if (oldSeq !== undefined) removedAt.set(id, oldSeq);
    } else if (record.eventName === 'INSERT' && newSeq !== undefined) {
      const removedSeq = removedAt.get(id);
      if (removedSeq !== undefined) {
        // The delete that removed it came from a source REMOVE after the version it removed; the re-insert is
        // stale when it is older than every such delete.
        // (removesByKey lists are in stream order, i.e. ascending.)
        const first = (removesByKey.get(id) ?? []).find((r) => r > removedSeq);
        if (first !== undefined && newSeq < first) {
          result.staleOverwrites++;
          staleIds.add(id);
          note(`stale re-insert of ${id}: seq ${newSeq} after a delete at ${first}`);
        }
        removedAt.delete(id);
      }
    }
  }

  // End state: every source item equal in the replica, and nothing in the replica that the source no longer has.
  const replica = new Map(replicaItems.map((item) => [keyId(item, key), item]));
  for (const item of sourceItems) {
    const id = keyId(item, key);
    const copy = replica.get(id);
    replica.delete(id);
    if (exclude.has(id) || staleIds.has(id)) continue;
    if (!copy) {
      result.lost++;
      note(`missing ${id}`);
    } else if (canonicalItem(withoutBookkeeping(copy)) === canonicalItem(item)) {
      result.replicated++;
    } else {
      const replicaSeq = seqOf(copy);
      const latest = [...sourceRecords]
        .reverse()
        .find((r) => r.dynamodb?.Keys && keyId(r.dynamodb.Keys, key) === id)?.dynamodb?.SequenceNumber;
      if (latest !== undefined && replicaSeq !== undefined && replicaSeq >= BigInt(latest)) {
        result.corrupted++;
        note(`corrupted ${id}`);
      } else {
        result.lost++;
        note(`older in replica ${id}: ${replicaSeq} < ${latest}`);
      }
    }
  }
  for (const id of replica.keys()) {
    if (exclude.has(id) || staleIds.has(id)) continue;
    result.lost++;
    note(`deleted in source, still in replica: ${id}`);
  }
  return result;
}

/** Waits until the replica equals the source (by audit), then returns the audit; the last audit on timeout. */
export async function auditWhenConverged(
  options: AuditOptions & { timeoutMs: number },
): Promise<AuditResult> {
  let last: AuditResult | undefined;
  try {
    return await waitFor(
      async () => {
        last = await audit(options);
        return last.lost === 0 && last.corrupted === 0 ? last : undefined;
      },
      { timeoutMs: options.timeoutMs, intervalMs: 1_000, message: 'replica to converge' },
    );
  } catch {
    return last ?? (await audit(options));
  }
}

// ------------------------------------------------------------------------------------------------------ fleet

const SCRAPED = [
  'streamfleet_records_processed_total',
  'streamfleet_replica_writes_total',
  'streamfleet_lease_losses_total',
  'streamfleet_processing_errors_total',
  'streamfleet_throttles_total',
  'streamfleet_poison_records_total',
  'streamfleet_dead_lettered_total',
  'streamfleet_lease_takes_total',
  'streamfleet_checkpoints_total',
] as const;
type Scraped = (typeof SCRAPED)[number];

export async function scrapeMetrics(
  port: number,
  timeoutMs = 1_500,
): Promise<Map<string, number> | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const values = new Map<string, number>();
    for (const sample of parsePrometheusText(await response.text())) {
      const series = seriesKey(sample);
      values.set(series, sample.value);
      // A labelled series also counts towards its name's total.
      if (series !== sample.name) values.set(sample.name, (values.get(sample.name) ?? 0) + sample.value);
    }
    return values;
  } catch {
    return undefined;
  }
}

export interface FleetOptions {
  endpoint: string;
  tables: ReplicationTables;
  env?: Record<string, string>;
}

/** Worker processes of one scenario; remembers each incarnation's last metrics, including killed ones. */
export class Fleet {
  readonly incarnations: WorkerProcess[] = [];
  private readonly lastMetrics = new Map<WorkerProcess, Map<string, number>>();
  private static readonly everyFleet = new Set<Fleet>();

  constructor(private readonly options: FleetOptions) {
    Fleet.everyFleet.add(this);
  }

  /** Kills every worker of every fleet (afterAll safety net). */
  static async stopEverything(): Promise<void> {
    await Promise.all([...Fleet.everyFleet].map((fleet) => fleet.stopAll()));
  }

  live(): WorkerProcess[] {
    return this.incarnations.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  }

  async start(
    name: string,
    options: { endpoint?: string; env?: Record<string, string>; waitForStart?: boolean } = {},
  ): Promise<WorkerProcess> {
    const worker = await WorkerProcess.start({
      endpoint: options.endpoint ?? this.options.endpoint,
      tables: this.options.tables,
      name,
      env: { ...this.options.env, ...options.env },
    });
    this.incarnations.push(worker);
    if (options.waitForStart ?? true) await worker.waitForEvent('worker.started', () => true, 30_000);
    return worker;
  }

  async scrape(worker: WorkerProcess): Promise<void> {
    const values = await scrapeMetrics(worker.port);
    if (values) this.lastMetrics.set(worker, values);
  }

  async scrapeAll(): Promise<void> {
    await Promise.all(this.live().map((w) => this.scrape(w)));
  }

  /** Scrapes, then kills with SIGKILL; resolves once the worker is gone. */
  async kill(worker: WorkerProcess): Promise<void> {
    await this.scrape(worker);
    worker.signal('SIGKILL');
    await worker.exited;
  }

  /** Scrapes, then stops gracefully with SIGTERM; resolves to the exit code. */
  async terminate(worker: WorkerProcess): Promise<number | null> {
    await this.scrape(worker);
    worker.signal('SIGTERM');
    return (await worker.exited).code;
  }

  /** Sum of a metric over every incarnation, from the last scrape of each. */
  total(metric: Scraped | `${Scraped}{${string}}`): number {
    let sum = 0;
    for (const values of this.lastMetrics.values()) sum += values.get(metric) ?? 0;
    return sum;
  }

  async stopAll(): Promise<void> {
    // SIGKILL also ends a process stopped with SIGSTOP.
    await Promise.all(this.incarnations.map((worker) => worker.stop()));
  }
}

// ------------------------------------------------------------------------------------------------------- load

export interface LoadOptions {
  client: DynamoDBClient;
  table: string;
  items: number;
  /** The key of item i. */
  keyOf?: (i: number) => Item;
  concurrency?: number;
  /** Share of operations that delete the item (if it exists). */
  deleteRatio?: number;
  /** Pause between operations of one lane, in ms. */
  pauseMs?: number;
  /** Extra attributes of every put. */
  payload?: (i: number, version: number) => Item;
  seed?: number;
}

/**
 * Writes versions of `items` items until stopped: each lane owns a slice of the items, so versions of one item
 * are written in order. A failed write (DynamoDB down) is retried after a pause; its outcome does not matter,
 * because the audit compares with what the source table holds.
 */
export class Load {
  writes = 0;
  failures = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly versions: number[];
  private readonly deleted: boolean[];

  constructor(private readonly options: LoadOptions) {
    this.versions = Array.from({ length: options.items }, () => 0);
    this.deleted = Array.from({ length: options.items }, () => true);
  }

  keyOf(i: number): Item {
    return this.options.keyOf?.(i) ?? { email: { S: `user-${i}@example.com` } };
  }

  start(): this {
    const lanes = this.options.concurrency ?? 4;
    let seed = this.options.seed ?? 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    this.running = Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        const mine = this.versions.map((_v, i) => i).filter((i) => i % lanes === lane);
        while (!this.stopped && mine.length > 0) {
          const i = mine[Math.floor(random() * mine.length)] as number;
          await this.step(i, random() < (this.options.deleteRatio ?? 0.1));
          if (this.options.pauseMs) await new Promise((r) => setTimeout(r, this.options.pauseMs));
        }
      }),
    ).then(() => undefined);
    return this;
  }

  /** Writes every item once more (a final version), then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async step(i: number, remove: boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (remove && !this.deleted[i]) {
          await this.options.client.send(
            new DeleteItemCommand({ TableName: this.options.table, Key: this.keyOf(i) }),
          );
          this.deleted[i] = true;
        } else {
          const version = (this.versions[i] ?? 0) + 1;
          await this.options.client.send(
            new PutItemCommand({
              TableName: this.options.table,
              Item: {
                ...this.keyOf(i),
                version: { N: String(version) },
                written: { S: new Date().toISOString() },
                ...this.options.payload?.(i, version),
              },
            }),
          );
          this.versions[i] = version;
          this.deleted[i] = false;
        }
        this.writes++;
        return;
      } catch {
        this.failures++;
        if (this.stopped && attempt > 20) return;
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------------- report

export interface ScenarioReport {
  scenario: string;
  faults: Record<string, number>;
  recordsWritten: number;
  replicated: number;
  replayed: number;
  lost: number;
  staleOverwrites: number;
  durationMs: number;
  [extra: string]: unknown;
}

/** The audit's figures for a scenario report; replays are what the fleet processed beyond what was written. */
export function auditFigures(result: AuditResult, fleet: Fleet) {
  return {
    recordsWritten: result.recordsWritten,
    replicated: result.replicated,
    replayed: Math.max(0, fleet.total('streamfleet_records_processed_total') - result.recordsWritten),
    lost: result.lost,
    staleOverwrites: result.staleOverwrites,
  };
}

export const REPORT_DIR = resolve(import.meta.dirname, '../../reports/reliability');

/** Prints one JSON line and keeps it in reports/reliability/<scenario>.json (overwritten each run). */
export function report(entry: ScenarioReport): void {
  const line = { at: new Date().toISOString(), faultsInjected: sum(entry.faults), ...entry };
  console.log(`RELIABILITY ${JSON.stringify(line)}`);
  mkdirSync(REPORT_DIR, { recursive: true });
  writeFileSync(resolve(REPORT_DIR, `${entry.scenario}.json`), `${JSON.stringify(line, null, 2)}\n`);
}

function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((a, b) => a + b, 0);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Test-friendly tuning: 3 s leases, fast taker and shard sync. */
export const FAST_LEASES: Record<string, string> = {
  LEASE_DURATION_MS: '3000',
  LEASE_TAKER_INTERVAL_MS: '500',
  SHARD_SYNC_INTERVAL_MS: '2000',
  IDLE_TIME_BETWEEN_READS_MS: '200',
  LOG_LEVEL: 'info',
};

/**
 * What every scenario file starts with: the test run's DynamoDB Local (behind the strict layer), a client for
 * it, a client for its streams, and every fleet (plus whatever `cleanup` closes) stopped after the file's tests.
 * The streams client is the audit's: it reads every record of the source and replica streams to judge the run,
 * so it talks to DynamoDB Local directly — an auditor is not the product, and must neither spend the shard's
 * read allowance the workers live on nor count as a third reader of it.
 */
export function reliabilitySuite(cleanup?: () => Promise<unknown>) {
  const endpoint = inject('ddbEndpoint');
  afterAll(async () => {
    await Fleet.stopEverything();
    await cleanup?.();
  });
  return {
    endpoint,
    client: localClient(endpoint),
    streams: streamsClient(inject('ddbDirectEndpoint')),
  };
}
