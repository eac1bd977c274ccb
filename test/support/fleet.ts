/**
 * Helpers for integration tests: tables on the shared DynamoDB Local, and workers run as child processes
 * of the built bundle (`dist/consumer.js`), exactly as a container runs them.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  CreateTableCommand,
  DynamoDBClient,
  paginateScan,
} from '@aws-sdk/client-dynamodb';
import { metricValue, parsePrometheusText } from '../../core/vocabulary/prometheus.js';
import { freePort } from '../../local/dynamodb-local.js';
import { workerEnvironment } from '../../local/worker/environment.js';
import { type LoggedEvent, loggedEvents } from '../../local/worker/events.js';
import { type SpawnedWorker, spawnWorker, type WorkerExit } from '../../local/worker/process.js';
import { streamLimitsInFrontOf } from './aws-rules.js';
import { type ScriptedStream, startScriptedStream } from './scripted-stream.js';

export type { LoggedEvent };

export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export interface ReplicationTables {
  source: string;
  target: string;
  app: string;
  streamArn: string;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A table keyed by `email` (a string), on demand; with `stream`, a NEW_AND_OLD_IMAGES stream whose ARN is returned. */
export async function createEmailTable(
  client: DynamoDBClient,
  name: string,
  stream = false,
): Promise<string | undefined> {
  const created = await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      ...(stream
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }
        : {}),
    }),
  );
  return created.TableDescription?.LatestStreamArn;
}

export async function createReplicationTables(
  client: DynamoDBClient,
  prefix = uniqueName('t'),
): Promise<ReplicationTables> {
  const streamArn = await createEmailTable(client, `${prefix}-users`, true);
  await createEmailTable(client, `${prefix}-users_replica`);
  if (!streamArn) throw new Error('no stream ARN');
  return { source: `${prefix}-users`, target: `${prefix}-users_replica`, app: `${prefix}-app`, streamArn };
}

export async function scanAll(
  client: DynamoDBClient,
  table: string,
): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  for await (const page of paginateScan({ client }, { TableName: table, ConsistentRead: true }))
    items.push(...(page.Items ?? []));
  return items;
}

/**
 * Polls `probe` until it returns a value. Time is measured on the monotonic clock, and at least a few
 * attempts are made even if the process was descheduled for a while, so a paused VM does not fail a wait.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs: number; intervalMs?: number; message: string },
): Promise<T> {
  const started = performance.now();
  const startedWall = Date.now();
  let last: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = undefined; // the probe answered, just not yet what we wait for
    } catch (error) {
      last = error;
    }
    const elapsed = performance.now() - started;
    if (elapsed > options.timeoutMs && attempt >= 5) {
      throw new Error(
        `Timed out after ${Math.round(elapsed)} ms (wall clock: ${Date.now() - startedWall} ms, ${attempt} attempts): ` +
          `${options.message}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/** The lease of the shard still being read (the first one not at SHARD_END), as the table has it now. */
export async function openLease(
  client: DynamoDBClient,
  table: string,
): Promise<Record<string, AttributeValue> | undefined> {
  return (await scanAll(client, table)).find((lease) => lease.checkpoint?.S !== 'SHARD_END');
}

/**
 * Waits until `owner` holds the open lease and resolves with how long that took (ms, monotonic); a timeout
 * says what the lease item looked like last.
 */
export async function waitForOpenLeaseOwner(
  client: DynamoDBClient,
  table: string,
  owner: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<number> {
  const since = performance.now();
  let last: Record<string, AttributeValue> | undefined;
  await waitFor(
    async () => {
      last = await openLease(client, table);
      return last?.leaseOwner?.S === owner;
    },
    {
      timeoutMs: options.timeoutMs ?? 15_000,
      intervalMs: options.intervalMs,
      message: `${owner} to own the lease`,
    },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; the lease item now: ${JSON.stringify(last)}`);
  });
  return performance.now() - since;
}

export class WorkerProcess {
  readonly spawnedAt = performance.now();
  readonly child: ChildProcess;
  readonly exited: Promise<WorkerExit>;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly worker: SpawnedWorker,
  ) {
    this.child = worker.child;
    this.exited = worker.exited;
  }

  /** Everything the worker wrote to stdout and stderr so far. */
  get output(): string {
    return this.worker.output();
  }

  static async start(options: {
    endpoint: string;
    tables?: ReplicationTables;
    name: string;
    env?: Record<string, string | undefined>;
    /** Replace the environment instead of building it from the tables (bad-configuration tests). */
    rawEnv?: Record<string, string>;
  }): Promise<WorkerProcess> {
    const port = await freePort();
    const env = workerEnvironment(
      options.rawEnv
        ? { endpoint: options.endpoint, settings: options.rawEnv }
        : {
            endpoint: options.endpoint,
            ...(options.tables ? { tables: options.tables } : {}),
            region: 'us-east-1',
            instanceName: options.name,
            port,
            ...(options.env ? { settings: options.env } : {}),
          },
    );
    return new WorkerProcess(options.name, port, spawnWorker({ env, builtBy: 'npm test does' }));
  }

  /** The worker's structured events so far (its JSON log lines that carry an `event` field), in order. */
  events(name?: string): LoggedEvent[] {
    return loggedEvents(this.output, name);
  }

  /** Waits for an event named `name` (and matching `match`, when given); resolves with it. */
  async waitForEvent(
    name: string,
    match: (event: LoggedEvent) => boolean = () => true,
    timeoutMs = 20_000,
  ): Promise<LoggedEvent> {
    return waitFor(() => this.events(name).find(match), {
      timeoutMs,
      message: `${this.name} to report ${name}\n--- output ---\n${this.output.slice(-3000)}`,
    });
  }

  async waitForLog(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => pattern.test(this.output), {
      timeoutMs,
      message: `${this.name} to log ${pattern}\n--- output ---\n${this.output.slice(-3000)}`,
    });
  }

  /** Sum of a Prometheus metric over its labels, from /metrics. */
  async metric(name: string): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.port}/metrics`).catch((error: unknown) => {
      const state =
        this.child.exitCode === null
          ? `running, ${processState(this.child.pid)}`
          : `exited with ${this.child.exitCode}`;
      throw new Error(
        `${this.name} (${state}, spawned ${Math.round(performance.now() - this.spawnedAt)} ms ago) /metrics unreachable: ${String(error)}\n${this.output.slice(-2000)}`,
      );
    });
    return metricValue(parsePrometheusText(await response.text()), name) ?? 0;
  }

  signal(signal: NodeJS.Signals): void {
    this.worker.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.worker.hasExited()) return;
    this.worker.kill('SIGKILL');
    await this.exited;
  }
}

/** `ps` state of a process (R running, S sleeping, T stopped, ...) and its age, for failure messages. */
function processState(pid: number | undefined): string {
  if (pid === undefined) return 'no pid';
  try {
    const ps = execFileSync('ps', ['-o', 'stat=,etime=,time=,lstart=,args=', '-p', String(pid)])
      .toString()
      .trim();
    return `ps: ${ps}; now ${new Date().toISOString()}`;
  } catch {
    return 'ps: gone';
  }
}

export async function stopAll(workers: Iterable<WorkerProcess>): Promise<void> {
  await Promise.all([...workers].map((worker) => worker.stop()));
}

/**
 * A scripted stream (test fixture) of `shardCount` shards over a fresh `users` table on DynamoDB Local, its
 * replica table, and the table names a worker needs. Workers reach the fixture through
 * AWS_ENDPOINT_URL_DYNAMODB_STREAMS = `streamsEndpoint`: the strict layer's stream limits in front of it
 * (five reads a second per shard, two readers), as AWS applies them.
 */
export async function createScriptedReplication(
  client: DynamoDBClient,
  ddbEndpoint: string,
  shardCount: number,
): Promise<{ stream: ScriptedStream; tables: ReplicationTables; streamsEndpoint: string }> {
  const prefix = uniqueName('s');
  const stream = await startScriptedStream({
    ddbEndpoint,
    tableName: `${prefix}-users`,
    keySchema: { partitionKey: { name: 'email', type: 'S' } },
    shardCount,
  });
  await createEmailTable(client, `${prefix}-users_replica`);
  const limits = await streamLimitsInFrontOf(stream.endpoint, ddbEndpoint);
  return {
    stream,
    streamsEndpoint: limits.endpoint,
    tables: {
      source: `${prefix}-users`,
      target: `${prefix}-users_replica`,
      app: `${prefix}-app`,
      streamArn: stream.streamArn,
    },
  };
}
