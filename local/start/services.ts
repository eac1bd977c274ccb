/**
 * Everything `npm start` starts and must stop: DynamoDB Local (with shard rollovers when a JDK allows), the
 * strict layer in front of it, the run's own clients (straight to DynamoDB Local: observers are not the
 * product), the local cluster with its KEDA, and with --keep-running the operator endpoints the CLI drives.
 * `stop()` stops them in order and says what it stopped, so Ctrl-C can tell the person.
 */
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { systemClock } from '../../core/vocabulary/clock.js';
import { type AwsRulesProxy, formatRuleSwitches, type RuleSwitches } from '../aws-rules/index.js';
import {
  type ClusterEvent,
  type LocalCluster,
  ProcessLauncher,
  startLocalCluster,
} from '../cluster/index.js';
import {
  type DynamoDbLocal,
  freePort,
  RolloverUnavailableError,
  rolloverSupport,
  startDynamoDbLocal,
} from '../dynamodb-local.js';
import { type OperatorEndpoints, startOperatorEndpoints } from '../stepfunctions/index.js';
import { startStrictLayer } from './aws-rules.js';
import { type PodEvent, type ProcessLog, RecordingLauncher } from './processes.js';

export const CLUSTER_NAME = 'local';

/** What `stop()` stopped, for the person who pressed Ctrl-C and for the report. */
export interface StopOutcome {
  /** Worker processes alive when stopping began, and those that needed SIGKILL after the grace period. */
  workers: { running: number; killed: number };
  strictLayer: boolean;
  /** `starting`: Ctrl-C came while Java was starting; its guard stops it as this process exits. */
  dynamodbLocal: { pid: number | null; starting: boolean } | null;
  operatorEndpoints: boolean;
}

export interface ServiceHooks {
  say(text: string): void;
  /** The cluster's log line of each event, time-stamped, for the report. */
  onClusterLine(line: string): void;
  onClusterEvent(event: ClusterEvent): void;
  onPodEvent(event: PodEvent): void;
}

export class RunServices {
  database: DynamoDbLocal | undefined;
  /** The strict layer in front of DynamoDB Local: the endpoint of everything the product runs. */
  layer: AwsRulesProxy | undefined;
  cluster: LocalCluster | undefined;
  dynamodb: DynamoDBClient | undefined;
  streams: DynamoDBStreamsClient | undefined;
  operator: OperatorEndpoints | undefined;
  rolloverMs: number;
  rolloverNote: string | undefined;
  private stopping: Promise<StopOutcome> | undefined;
  private databaseStarting = false;

  constructor(
    private readonly options: { rolloverMs: number; dataDir: string | undefined; awsRules: RuleSwitches },
    private readonly processLog: ProcessLog,
    private readonly hooks: ServiceHooks,
  ) {
    this.rolloverMs = options.rolloverMs;
  }

  /** Where the product's requests go: the strict layer, in front of DynamoDB Local. */
  productEndpoint(): string | undefined {
    return this.layer?.endpoint ?? this.database?.endpoint;
  }

  /** DynamoDB Local and the strict layer; returns how long DynamoDB Local took to start. */
  async startDatabase(): Promise<number> {
    if (this.rolloverMs > 0) {
      const support = rolloverSupport();
      if (!support.available) {
        this.rolloverNote = `Shard rollovers are off: ${support.reason.split('\n')[0]}`;
        this.hooks.say(`${this.rolloverNote} (the stream keeps one shard; install a JDK 17 to get them).`);
        this.rolloverMs = 0;
      }
    }
    const t0 = Date.now();
    const { dataDir } = this.options;
    this.hooks.say(
      `Starting DynamoDB Local${this.rolloverMs > 0 ? ` with a shard rollover every ${this.rolloverMs / 1000} s` : ''}${dataDir ? `, data in ${dataDir}` : ' (in memory)'} ...`,
    );
    // The port is written to processes.json before Java starts, so even a run stopped during start-up can be
    // checked for leftovers.
    const port = await freePort();
    this.processLog.dynamodbLocal(null, port);
    const start = (rollover: number) =>
      startDynamoDbLocal({
        port,
        ...(rollover > 0 ? { rolloverIntervalMs: rollover } : {}),
        ...(dataDir ? { dataDir } : {}),
      });
    this.databaseStarting = true;
    try {
      this.database = await start(this.rolloverMs);
    } catch (error) {
      if (!(error instanceof RolloverUnavailableError)) throw error;
      this.rolloverNote = `Shard rollovers are off: ${error.message.split('\n')[0]}`;
      this.hooks.say(this.rolloverNote);
      this.rolloverMs = 0;
      this.database = await start(0);
    }
    this.databaseStarting = false;
    this.processLog.dynamodbLocal(this.database.pid, this.database.port);
    const tookMs = Date.now() - t0;
    this.hooks.say(
      `DynamoDB Local on ${this.database.endpoint} (started in ${(tookMs / 1000).toFixed(1)} s)`,
    );
    this.layer = await startStrictLayer(this.database.endpoint, this.options.awsRules);
    this.hooks.say(
      `Strict layer on ${this.layer.endpoint}: AWS's rules ${formatRuleSwitches(this.options.awsRules)} (docs/aws-rules.md)`,
    );
    const client = {
      endpoint: this.database.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 2,
    };
    this.dynamodb = new DynamoDBClient(client);
    this.streams = new DynamoDBStreamsClient(client);
    return tookMs;
  }

  async startCluster(stateDir: string): Promise<LocalCluster> {
    const database = this.database as DynamoDbLocal;
    this.cluster = await startLocalCluster({
      name: CLUSTER_NAME,
      dynamodbEndpoint: this.productEndpoint() ?? database.endpoint,
      pollingIntervalMs: 1_000,
      readinessIntervalMs: 500,
      // Kubernetes waits 10 s before restarting a crashed container the first time (CrashLoopBackOff).
      restartBackoffMs: 10_000,
      launcher: new RecordingLauncher(new ProcessLauncher(), this.processLog, (e) =>
        this.hooks.onPodEvent(e),
      ),
      stateFile: join(stateDir, 'cluster.json'),
      log: (line) => this.hooks.onClusterLine(line),
    });
    this.cluster.subscribe((event) => this.hooks.onClusterEvent(event));
    this.hooks.say(`Local cluster "${CLUSTER_NAME}" with a local KEDA (polls every second)`);
    return this.cluster;
  }

  /** --keep-running: the local Step Functions and Kubernetes APIs the streamfleet CLI drives. */
  async startOperatorEndpoints(
    options: Omit<Parameters<typeof startOperatorEndpoints>[0], 'cluster' | 'dynamodbEndpoint'>,
  ): Promise<OperatorEndpoints | undefined> {
    const endpoint = this.productEndpoint();
    if (!endpoint || !this.cluster) return undefined;
    this.operator = await startOperatorEndpoints({
      ...options,
      cluster: this.cluster,
      dynamodbEndpoint: endpoint,
    });
    return this.operator;
  }

  /**
   * Stops everything, in order: the operator endpoints, the workers (SIGTERM, so they hand off their leases
   * while DynamoDB Local still answers; SIGKILL whatever is left after `graceMs`), the clients, the strict
   * layer, then DynamoDB Local. Safe to call twice; the second call gets the first one's outcome.
   */
  stop(graceMs = 8_000, beforeDatabase: () => Promise<void> = async () => {}): Promise<StopOutcome> {
    this.stopping ??= (async () => {
      const running = this.processLog.liveWorkers().length;
      const operatorEndpoints = this.operator !== undefined;
      await this.operator?.stop();
      if (this.cluster) await Promise.race([this.cluster.stop(), systemClock.sleep(graceMs)]);
      let killed = 0;
      for (const pid of this.processLog.liveWorkers()) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
        } catch {
          // gone meanwhile
        }
      }
      await beforeDatabase();
      this.dynamodb?.destroy();
      this.streams?.destroy();
      const strictLayer = this.layer !== undefined;
      await this.layer?.close();
      const pid = this.database?.pid ?? null;
      const hadDatabase = this.database !== undefined || this.databaseStarting;
      await this.database?.stop();
      return {
        workers: { running, killed },
        strictLayer,
        dynamodbLocal: hadDatabase ? { pid, starting: this.database === undefined } : null,
        operatorEndpoints,
      };
    })();
    return this.stopping;
  }
}

/** "3 workers (all drained by SIGTERM), the strict layer and DynamoDB Local (pid 4242)". */
export function describeStopOutcome(outcome: StopOutcome): string {
  const parts: string[] = [];
  const { running, killed } = outcome.workers;
  if (running > 0) {
    parts.push(
      `${running} worker${running === 1 ? '' : 's'} (${killed === 0 ? 'SIGTERM, all exited' : `SIGTERM, then SIGKILL for ${killed}`})`,
    );
  }
  if (outcome.operatorEndpoints) parts.push('the CLI endpoints');
  if (outcome.strictLayer) parts.push('the strict layer');
  const db = outcome.dynamodbLocal;
  if (db?.starting) parts.push('DynamoDB Local (still starting: its guard stops it as this process exits)');
  else if (db) parts.push(`DynamoDB Local${db.pid === null ? '' : ` (pid ${db.pid})`}`);
  if (parts.length === 0) return 'nothing: nothing had started yet';
  return parts.length === 1 ? (parts[0] as string) : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}
