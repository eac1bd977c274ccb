/**
 * The whole story on one machine, as `npm start` runs it:
 * 1. DynamoDB Local (embedded, on a free port; with shard rollovers every few seconds unless turned off);
 * 2. a local-process cluster with a local KEDA (local/cluster);
 * 3. the real setup workflow (statemachines/setup.asl.json, the real handlers): tables, IRSA, workers,
 *    scaler, a wait for leases, the load (GenerateLoad Map), a wait until scaling settles, replication check;
 * 4. meanwhile a sample of everything about once a second, drawn live, and the fault drill;
 * 5. the real verify workflow, a summary, and report.json + report.html (checked in headless Chromium).
 * Everything it starts is stopped by `stop()`, which start.ts also calls on SIGINT/SIGTERM.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { Context } from 'aws-lambda';
import { KEDA_API_VERSION } from '../../core/cluster.js';
import type { ControlPlaneConfig } from '../../core/control-plane-config.js';
import { DEFAULT_READ_BUDGET } from '../../core/fleet.js';
import { type ScalingConfig, scalingConfig } from '../../core/keda.js';
import type { ControlPlaneFunction } from '../../core/workflows.js';
import { type AwsRulesProxy, formatRuleSwitches } from '../aws-rules/index.js';
import { type LocalCluster, ProcessLauncher, startLocalCluster } from '../cluster/index.js';
import {
  type DynamoDbLocal,
  freePort,
  RolloverUnavailableError,
  rolloverSupport,
  startDynamoDbLocal,
} from '../dynamodb-local.js';
import type { BrowserCheck } from '../report/browser.js';
import {
  type AwsRulesDigest,
  defaultReportDir,
  lagPercentiles,
  type RunReport,
  type RunSummary,
  summariseSamples,
  type TaskSpan,
  type WorkflowRecord,
  writeReport,
} from '../report/report.js';
import { type OperatorEndpoints, startOperatorEndpoints } from '../stepfunctions/index.js';
import { type LambdaLike, loadHandler, runWorkflowLocally } from '../workflows/index.js';
import type { WorkflowExecution } from '../workflows/run.js';
import { digestAwsRules, refusalLines, startStrictLayer } from './aws-rules.js';
import { type DrillEvent, FaultDrill } from './drill.js';
import { type LoadPlan, OutputMode, planLoad, type StartOptions } from './options.js';
import { checkConsumerBundle, checkJava } from './prerequisites.js';
import { ProcessLog, RecordingLauncher } from './processes.js';
import { type Sample, Sampler } from './sampler.js';
import { renderSummary } from './summary.js';
import { LineReporter, type Reporter, SilentReporter, shortPod, TerminalReporter } from './view.js';

export const FLEET_NAME = 'users-replicator';
const CLUSTER_NAME = 'local';
const NAMESPACE = 'streamfleet';
const SAMPLE_EVERY_MS = 1_000;

/** Worker timings for a demo that fits in minutes (each is a documented variable of consumer/config.ts). */
export const DEMO_WORKER_ENV = {
  LEASE_DURATION_MS: '6000',
  LEASE_TAKER_INTERVAL_MS: '500',
  SHARD_SYNC_INTERVAL_MS: '2000',
  IDLE_TIME_BETWEEN_READS_MS: '200',
  SHUTDOWN_TIMEOUT_MS: '5000',
  LOG_LEVEL: 'warn',
} as const;

/** Exit codes (also in --help). */
export const ExitCode = { Passed: 0, Failed: 1, Usage: 2, MissingPrerequisite: 3, Interrupted: 130 } as const;

export interface RunIo {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable;
}

export interface RunResult {
  exitCode: number;
  summary: RunSummary;
  reportPaths: { json: string; html: string };
  browserCheck: BrowserCheck | { skipped: string } | undefined;
}

/** Relative to the working directory when inside it, else absolute. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Task state a function call stands for, told apart by workflow and input where one function serves two. */
function stateName(workflow: string, fn: ControlPlaneFunction, event: unknown): string {
  const input = (event ?? {}) as { sampleLeases?: boolean; batch?: number };
  switch (fn) {
    case 'ensure-tables':
      return 'EnsureTables';
    case 'wire-irsa':
      return 'WireIrsa';
    case 'deploy-consumer':
      return 'DeployConsumer';
    case 'install-scaler':
      return 'InstallScaler';
    case 'generate-load':
      return 'GenerateLoad';
    case 'verify-scaling':
      return workflow === 'verify'
        ? 'VerifyScaling'
        : input.sampleLeases === false
          ? 'CheckLeases'
          : 'CheckScaling';
    case 'verify-replication':
      return workflow === 'verify' ? 'VerifyReplication' : 'CheckReplication';
    case 'publish-metrics':
      return 'PublishMetrics';
    default:
      return fn;
  }
}

/** The functions the setup and verify workflows call, watched on their way (see observedHandlers). */
const OBSERVED_FUNCTIONS: ControlPlaneFunction[] = [
  'ensure-tables',
  'wire-irsa',
  'deploy-consumer',
  'install-scaler',
  'generate-load',
  'verify-scaling',
  'verify-replication',
  'publish-metrics',
];

interface Verdictish {
  healthy?: boolean;
  summary?: string;
  reasons?: string[];
  figures?: Record<string, unknown>;
}

export class LocalRun {
  private readonly startedAtMs = Date.now();
  private readonly startedAt = new Date(this.startedAtMs).toISOString();
  private readonly reporter: Reporter;
  private readonly reportDir: string;
  /** Created once the prerequisites are checked (so a run that cannot start leaves no report folder). */
  private processLog: ProcessLog | undefined;
  private readonly samples: Sample[] = [];
  private readonly tasks: TaskSpan[] = [];
  private readonly workflows: WorkflowRecord[] = [];
  private readonly clusterEvents: string[] = [];
  private readonly timings: Record<string, number> = {};
  private readonly loadPlan: LoadPlan;
  private readonly verdicts: Record<string, Verdictish> = {};
  private database: DynamoDbLocal | undefined;
  /** The strict layer in front of DynamoDB Local: the endpoint of everything the product runs. */
  private layer: AwsRulesProxy | undefined;
  private refusalsSeen: AwsRulesDigest | undefined;
  private cluster: LocalCluster | undefined;
  private dynamodb: DynamoDBClient | undefined;
  private streams: DynamoDBStreamsClient | undefined;
  private sampler: Sampler | undefined;
  private drill: FaultDrill | undefined;
  private sampling: Promise<void> | undefined;
  private samplingStopped = false;
  private stopped: Promise<void> | undefined;
  private phase = 'starting';
  private rolloverMs: number;
  private rolloverNote: string | undefined;
  private scaling: ScalingConfig;
  private load = { batchesDone: 0, itemsDone: 0, startedMs: undefined as number | undefined, endedMs: 0 };
  private baseline: Promise<void> | undefined;
  private lastCheckText = new Map<string, string>();
  /** --keep-running: the local Step Functions and Kubernetes APIs the streamfleet CLI drives. */
  private operator: OperatorEndpoints | undefined;

  constructor(
    private readonly options: StartOptions,
    private readonly io: RunIo,
  ) {
    this.reportDir = resolve(options.reportDir ?? defaultReportDir(new Date(this.startedAtMs)));
    this.loadPlan = planLoad(options.items, options.rate);
    this.rolloverMs = options.rolloverMs;
    this.scaling = scalingConfig({ shardCount: options.shardCount, maxReplicaCount: options.maxWorkers });
    if (options.output === OutputMode.Live) {
      this.reporter = io.stdout.isTTY ? new TerminalReporter(io.stdout) : new LineReporter(io.stdout, 5_000);
    } else this.reporter = new SilentReporter();
  }

  private now(): number {
    return Date.now() - this.startedAtMs;
  }

  private event(text: string): void {
    this.reporter.event(this.now(), text);
  }

  /** The fleet input of both workflows. */
  fleet() {
    return {
      name: FLEET_NAME,
      clusterName: CLUSTER_NAME,
      namespace: NAMESPACE,
      sourceTableName: 'users',
      replicaTableName: 'users_replica',
      applicationName: FLEET_NAME,
      image: 'streamfleet:local',
      tables: { create: true },
      scaling: {
        mode: 'classic',
        shardCount: this.options.shardCount,
        maxReplicaCount: this.options.maxWorkers,
        pollingIntervalSeconds: 1,
      },
      workerEnv: { ...DEMO_WORKER_ENV },
      // The summary says the replica equals the source: a read budget that pays for every item (a census).
      checks: {
        leaseSampleMs: 2_000,
        maxLagMs: 60_000,
        readBudget: Math.max(DEFAULT_READ_BUDGET, Math.ceil(this.loadPlan.total * 1.2) + 1_000),
        maxSampleSeconds: 600,
      },
    };
  }

  /** Where the product's requests go: the strict layer, in front of DynamoDB Local. */
  private productEndpoint(): string | undefined {
    return this.layer?.endpoint ?? this.database?.endpoint;
  }

  private controlPlane(): ControlPlaneConfig {
    return {
      clusterMode: 'local',
      region: 'us-east-1',
      endpoint: this.productEndpoint(),
      alertsTopicArn: undefined,
      metricsNamespace: 'Streamfleet',
    };
  }

  async run(): Promise<RunResult> {
    checkConsumerBundle();
    const java = checkJava();
    mkdirSync(this.reportDir, { recursive: true });
    this.processLog = new ProcessLog(join(this.reportDir, 'processes.json'));
    await this.startDatabase();
    await this.startCluster();
    this.startSampling();

    const fleet = this.fleet();
    const load = {
      batches: this.loadPlan.batches,
      itemsPerBatch: this.loadPlan.itemsPerBatch,
      ratePerSecond: this.loadPlan.ratePerSecond,
      // With a persisted data folder, each run writes items of its own (rewriting identical items makes no
      // stream records, so there would be nothing to replicate).
      ...(this.options.dataDir ? { prefix: `run-${this.startedAtMs.toString(36)}` } : {}),
    };
    this.event(
      `setup workflow: ${this.loadPlan.total} items at ${this.options.rate}/s in ${this.loadPlan.batches} batches, up to ${this.options.maxWorkers} workers, shardCount ${this.options.shardCount}`,
    );
    const setup = await this.runWorkflow(
      'setup',
      { fleet, load },
      this.options.durationSeconds * 1000 + 420_000,
    );
    this.event(
      setup.status === 'SUCCEEDED'
        ? `setup SUCCEEDED in ${(setup.durationMs / 1000).toFixed(1)} s`
        : `setup ${setup.status}: ${setup.error}: ${setup.cause}`,
    );

    await this.waitForDrillAndSettle();
    const verify = await this.runWorkflow('verify', { fleet }, 180_000);
    const verifyOutput = verify.output as { healthy?: boolean } | undefined;
    const passed =
      setup.status === 'SUCCEEDED' && verify.status === 'SUCCEEDED' && verifyOutput?.healthy === true;
    this.event(
      verify.status === 'SUCCEEDED'
        ? `verify SUCCEEDED in ${(verify.durationMs / 1000).toFixed(1)} s: the fleet is healthy`
        : `verify ${verify.status}: ${verify.error}: ${verify.cause}`,
    );
    // One last sample after everything, so the report ends where the fleet is.
    await this.sampleOnce();

    const summary = this.summarise(passed, setup, verify);
    const report = this.buildReport(summary, java);
    const reportPaths = writeReport(this.reportDir, report);
    let browserCheck: RunResult['browserCheck'];
    if (this.options.browserCheck) {
      browserCheck = await this.checkInBrowser(reportPaths.html);
      report.browserCheck = browserCheck;
      writeFileSync(reportPaths.json, `${JSON.stringify(report, null, 2)}\n`);
    }
    const exitCode = passed ? ExitCode.Passed : ExitCode.Failed;
    if (!this.options.keepRunning) this.reporter.stop();
    this.print(summary, reportPaths, browserCheck, exitCode);
    return { exitCode, summary, reportPaths, browserCheck };
  }

  /** --keep-running: the live view goes on until the process is signalled. */
  async keepRunning(): Promise<void> {
    this.event('Everything keeps running (--keep-running). Press Ctrl-C to stop it.');
    const endpoint = this.productEndpoint();
    if (endpoint)
      this.event(`DynamoDB Local behind the strict layer: ${endpoint} (region us-east-1, any credentials)`);
    if (endpoint && this.cluster) {
      this.operator = await startOperatorEndpoints({
        cluster: this.cluster,
        dynamodbEndpoint: endpoint,
        region: 'us-east-1',
        dir: this.reportDir,
        setupInput: {
          fleet: this.fleet(),
          load: { batches: 4, itemsPerBatch: 100, ratePerSecond: 50, prefix: 'cli' },
        },
        run: { controlPlane: this.controlPlane(), waitMs: 1_000, retryMs: 500, logLevel: 'SILENT' },
        log: (line) => this.event(line),
      });
      this.event(
        `streamfleet CLI: . ${displayPath(this.operator.envFile)} && npx streamfleet status (or setup --input ${displayPath(join(this.reportDir, 'setup-input.json'))})`,
      );
    }
    await new Promise<void>(() => {});
  }

  private print(
    summary: RunSummary,
    paths: { json: string; html: string },
    browserCheck: RunResult['browserCheck'],
    exitCode: number,
  ): void {
    if (this.options.output === OutputMode.Json) {
      this.io.stdout.write(
        `${JSON.stringify({ passed: summary.passed, exitCode, summary, report: paths, drill: this.drill?.events ?? [], browserCheck: browserCheck ?? null }, null, 2)}\n`,
      );
      return;
    }
    const lines = renderSummary({
      summary,
      drill: this.drill?.events ?? [],
      reportPaths: { json: displayPath(paths.json), html: displayPath(paths.html) },
      browserCheck,
      color:
        this.io.stdout.isTTY === true && !process.env.NO_COLOR && this.options.output === OutputMode.Live,
    });
    this.io.stdout.write(`\n${lines.join('\n')}\n`);
  }

  // --- Steps --------------------------------------------------------------------------------------------

  private async startDatabase(): Promise<void> {
    if (this.rolloverMs > 0) {
      const support = rolloverSupport();
      if (!support.available) {
        this.rolloverNote = `Shard rollovers are off: ${support.reason.split('\n')[0]}`;
        this.event(`${this.rolloverNote} (the stream keeps one shard; install a JDK 17 to get them).`);
        this.rolloverMs = 0;
      }
    }
    const t0 = Date.now();
    this.event(
      `Starting DynamoDB Local${this.rolloverMs > 0 ? ` with a shard rollover every ${this.rolloverMs / 1000} s` : ''}${this.options.dataDir ? `, data in ${this.options.dataDir}` : ' (in memory)'} ...`,
    );
    // The port is written to processes.json before Java starts, so even a run stopped during start-up can be
    // checked for leftovers.
    const port = await freePort();
    this.processLog?.dynamodbLocal(null, port);
    const start = (rollover: number) =>
      startDynamoDbLocal({
        port,
        ...(rollover > 0 ? { rolloverIntervalMs: rollover } : {}),
        ...(this.options.dataDir ? { dataDir: this.options.dataDir } : {}),
      });
    try {
      this.database = await start(this.rolloverMs);
    } catch (error) {
      if (!(error instanceof RolloverUnavailableError)) throw error;
      this.rolloverNote = `Shard rollovers are off: ${error.message.split('\n')[0]}`;
      this.event(this.rolloverNote);
      this.rolloverMs = 0;
      this.database = await start(0);
    }
    this.processLog?.dynamodbLocal(this.database.pid, this.database.port);
    this.timings.dynamodbLocalStartMs = Date.now() - t0;
    this.event(
      `DynamoDB Local on ${this.database.endpoint} (started in ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    );
    this.layer = await startStrictLayer(this.database.endpoint, this.options.awsRules);
    this.event(
      `Strict layer on ${this.layer.endpoint}: AWS's rules ${formatRuleSwitches(this.options.awsRules)} (docs/aws-rules.md)`,
    );
    // The run's own observers read DynamoDB Local directly: they are not the product.
    const client = {
      endpoint: this.database.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 2,
    };
    this.dynamodb = new DynamoDBClient(client);
    this.streams = new DynamoDBStreamsClient(client);
  }

  private async startCluster(): Promise<void> {
    const database = this.database as DynamoDbLocal;
    this.cluster = await startLocalCluster({
      name: CLUSTER_NAME,
      dynamodbEndpoint: this.productEndpoint() ?? database.endpoint,
      pollingIntervalMs: 1_000,
      readinessIntervalMs: 500,
      // Kubernetes waits 10 s before restarting a crashed container the first time (CrashLoopBackOff).
      restartBackoffMs: 10_000,
      launcher: new RecordingLauncher(new ProcessLauncher(), this.processLog as ProcessLog),
      stateFile: join(this.reportDir, 'cluster.json'),
      log: (line) => this.onClusterEvent(line),
    });
    this.event(`Local cluster "${CLUSTER_NAME}" with a local KEDA (polls every second)`);
  }

  private onClusterEvent(line: string): void {
    this.clusterEvents.push(line);
    // "2026-…Z text": the view stamps its own time; a crashed pod's output follows on later lines.
    const text = line.replace(/^\S+Z /, '').split('\n')[0] ?? '';
    this.event(text);
  }

  private startSampling(): void {
    const cluster = this.cluster as LocalCluster;
    const database = this.database as DynamoDbLocal;
    this.sampler = new Sampler({
      dynamodb: this.dynamodb as DynamoDBClient,
      streams: this.streams as DynamoDBStreamsClient,
      cluster,
      fleet: {
        name: FLEET_NAME,
        sourceTableName: 'users',
        replicaTableName: 'users_replica',
        applicationName: FLEET_NAME,
      },
      config: () => this.scaling,
      startedAtMs: this.startedAtMs,
      phase: () => this.phase,
      load: () => ({
        target: this.loadPlan.total,
        batchesDone: this.load.batchesDone,
        batches: this.loadPlan.batches,
        itemsDone: this.load.itemsDone,
      }),
      rollovers: () => database.rollovers(),
    });
    if (this.options.drill) {
      this.drill = new FaultDrill(
        {
          killAt: 0.35,
          scaleInAt: 0.65,
          stepTimeoutMs: 60_000,
          maxReplicaCount: this.options.maxWorkers,
          leaseWaitMs: 15_000,
        },
        {
          kill: (pid) => {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          },
          setMaxReplicas: (max) => this.setMaxReplicas(max),
        },
        (event) => this.event(`drill: ${event.text}`),
      );
    }
    this.sampling = (async () => {
      while (!this.samplingStopped) {
        const began = Date.now();
        await this.sampleOnce();
        await sleep(Math.max(100, SAMPLE_EVERY_MS - (Date.now() - began)));
      }
    })();
  }

  private async sampleOnce(): Promise<void> {
    if (!this.sampler) return;
    let sample: Sample;
    try {
      sample = await this.sampler.sample();
    } catch {
      return; // a failed look changes nothing; the next one comes in a second
    }
    this.samples.push(sample);
    const loadFinished = this.loadPlan.total > 0 && this.load.itemsDone >= this.loadPlan.total;
    if (this.drill && !this.drill.done && this.load.startedMs !== undefined) {
      await this.drill.step(sample, this.sampler.leases, loadFinished).catch((error: unknown) => {
        this.event(`drill: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
    await this.reportRefusals();
    this.reporter.update(sample, {
      fleetName: FLEET_NAME,
      endpoint: this.productEndpoint(),
      rolloverMs: this.rolloverMs,
      shardCount: this.options.shardCount,
      maxReplicaCount: this.scaling.maxReplicaCount,
      drill: this.drill ? (this.drill.done ? this.drillDigest() : this.drill.status) : undefined,
      lag: lagPercentiles(this.samples),
    });
  }

  /** A live-view event for every kind of request the strict layer refused since the last sample. */
  private async reportRefusals(): Promise<void> {
    if (!this.layer) return;
    const now = digestAwsRules(this.layer.stats());
    for (const line of refusalLines(this.refusalsSeen, now)) this.event(line);
    this.refusalsSeen = now;
  }

  /** One short line once the drill is over: what each step took. */
  private drillDigest(): string {
    const parts = (this.drill?.events ?? []).map((e) => {
      const took = e.durationMs === undefined ? '' : ` in ${(e.durationMs / 1000).toFixed(1)} s`;
      switch (e.kind) {
        case 'sigkill':
          return `SIGKILL ${e.pod ? shortPod(e.pod, FLEET_NAME) : ''}`;
        case 'failover':
          return e.completed ? `leases taken over${took}` : `failover incomplete${took}`;
        case 'scale-in':
          return `scale in ${e.maxReplicaCount?.from ?? '?'} → ${e.maxReplicaCount?.to ?? '?'}`;
        case 'handoff':
          if (!e.completed) return `hand-off incomplete${took}`;
          return e.leases?.length
            ? `leases handed off${took}`
            : `drained and exited${took} (it held no lease)`;
        default:
          return e.text;
      }
    });
    return `done: ${parts.join(' → ')}`;
  }

  /** The drill's scale-in: what `kubectl patch scaledobject … maxReplicaCount` does, through the cluster port. */
  private async setMaxReplicas(max: number): Promise<void> {
    const cluster = this.cluster as LocalCluster;
    const ref = {
      apiVersion: KEDA_API_VERSION,
      kind: 'ScaledObject',
      namespace: NAMESPACE,
      name: FLEET_NAME,
    };
    const current = await cluster.get(ref);
    if (!current) throw new Error(`ScaledObject ${NAMESPACE}/${FLEET_NAME} not found`);
    const { status: _status, ...manifest } = current;
    await cluster.apply({ ...manifest, spec: { ...(manifest.spec ?? {}), maxReplicaCount: max } });
    this.scaling = { ...this.scaling, maxReplicaCount: max };
  }

  /** Before verify: the drill done, every pod ready, no pod stopping (at most a minute). */
  private async waitForDrillAndSettle(): Promise<void> {
    const deadline = Date.now() + 90_000;
    let said = false;
    while (Date.now() < deadline && !this.samplingStopped) {
      const last = this.samples[this.samples.length - 1];
      const settled =
        last !== undefined &&
        last.workers.ready === last.workers.desired &&
        last.workers.pods.every((p) => !p.stopping) &&
        last.leases.unowned === 0;
      if ((this.drill === undefined || this.drill.done) && settled) return;
      if (!said) {
        this.event('waiting for the drill to finish and every worker to be ready before verify ...');
        said = true;
      }
      await sleep(500);
    }
  }

  private observedHandlers(workflow: string): Partial<Record<ControlPlaneFunction, LambdaLike>> {
    const handlers: Partial<Record<ControlPlaneFunction, LambdaLike>> = {};
    for (const fn of OBSERVED_FUNCTIONS) {
      handlers[fn] = async (event: unknown, context: Context) => {
        const handler = await loadHandler(fn);
        const state = stateName(workflow, fn, event);
        if (fn === 'generate-load') await this.beforeLoadBatch();
        const span: TaskSpan = { fn, workflow, startMs: this.now(), endMs: undefined, ok: undefined };
        this.tasks.push(span);
        const label = `${workflow} ▸ ${state}`;
        if (this.phase !== label) {
          if (fn !== 'generate-load' && fn !== 'verify-scaling' && fn !== 'verify-replication')
            this.event(label);
          this.phase = label;
        }
        try {
          const result = await handler(event, context);
          span.endMs = this.now();
          span.ok = true;
          this.afterTask(workflow, state, fn, result);
          return result;
        } catch (error) {
          span.endMs = this.now();
          span.ok = false;
          span.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          throw error;
        }
      };
    }
    return handlers;
  }

  private async beforeLoadBatch(): Promise<void> {
    if (this.load.startedMs === undefined) {
      this.load.startedMs = this.now();
      this.event(
        `setup ▸ GenerateLoad: ${this.loadPlan.batches} batches of ${this.loadPlan.itemsPerBatch}, two at a time`,
      );
      // Items already in the table (a persisted --data-dir) are not this run's progress.
      this.baseline = (async () => {
        const items = await this.sampler?.sourceItems();
        this.sampler?.setBaseline(items ?? 0);
      })();
    }
    await this.baseline;
  }

  private afterTask(workflow: string, state: string, fn: ControlPlaneFunction, result: unknown): void {
    if (fn === 'generate-load') {
      const written = (result as { written?: number } | null)?.written ?? 0;
      this.load.batchesDone++;
      this.load.itemsDone += written;
      if (this.load.batchesDone === this.loadPlan.batches) {
        this.load.endedMs = this.now();
        this.event(
          `setup ▸ GenerateLoad done: ${this.load.itemsDone} items in ${((this.load.endedMs - (this.load.startedMs ?? 0)) / 1000).toFixed(1)} s`,
        );
      }
      return;
    }
    if (fn === 'verify-scaling' || fn === 'verify-replication') {
      const verdict = (result ?? {}) as Verdictish;
      this.verdicts[`${workflow}:${fn}`] = verdict;
      if (state === 'CheckLeases') {
        const leases = (verdict.figures?.leases as { total?: number } | undefined)?.total ?? 0;
        const text = leases > 0 ? `${leases} lease(s) exist: workers are running` : 'no lease yet';
        if (this.lastCheckText.get(state) !== text) this.event(`${workflow} ▸ ${state}: ${text}`);
        this.lastCheckText.set(state, text);
        return;
      }
      const text = verdict.healthy
        ? (verdict.summary ?? 'healthy')
        : `not yet: ${verdict.reasons?.[0] ?? verdict.summary}`;
      if (this.lastCheckText.get(state) !== text) this.event(`${workflow} ▸ ${state}: ${text}`);
      this.lastCheckText.set(state, text);
    }
  }

  private async runWorkflow(
    workflow: 'setup' | 'verify',
    input: unknown,
    timeoutMs: number,
  ): Promise<WorkflowExecution> {
    const startMs = this.now();
    this.phase = `${workflow}`;
    const execution = await runWorkflowLocally(workflow, input, {
      controlPlane: this.controlPlane(),
      waitMs: 1_000,
      waitTimeOverrides: { WaitForScaling: 2_000, WaitForReplication: 2_000 },
      retryMs: 500,
      handlers: this.observedHandlers(workflow),
      logLevel: 'SILENT',
      timeoutMs,
      executionName: `npm-start-${workflow}-${this.startedAtMs}`,
    });
    this.timings[`${workflow}Ms`] = execution.durationMs;
    const states = execution.history
      .filter((h) => h.type === 'StateEntered' && h.state !== undefined)
      .map((h) => ({ state: h.state as string, t: h.at - this.startedAtMs }));
    this.workflows.push({
      workflow,
      status: execution.status,
      ...(execution.error === undefined ? {} : { error: execution.error }),
      ...(execution.cause === undefined ? {} : { cause: execution.cause }),
      durationMs: execution.durationMs,
      startMs,
      states,
      ...(execution.output === undefined ? {} : { output: execution.output }),
    });
    this.phase = `${workflow} ${execution.status}`;
    return execution;
  }

  private async checkInBrowser(html: string): Promise<BrowserCheck | { skipped: string }> {
    const { browserUnavailable, checkReportInBrowser } = await import('../report/browser.js');
    const why = browserUnavailable();
    if (why) {
      this.event(`report not checked in a browser: ${why}`);
      return { skipped: why };
    }
    try {
      const check = await checkReportInBrowser(html);
      this.event(
        check.ok
          ? `report checked in ${check.browser}: ${check.chartsWithData} charts drawn, no console errors`
          : `report check in ${check.browser} FAILED: ${check.chartsWithData}/${check.charts} charts drawn, errors: ${[...check.consoleErrors, ...check.pageErrors].join('; ') || 'none'}`,
      );
      return check;
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      this.event(`report not checked in a browser: ${message}`);
      return { skipped: message ?? 'unknown error' };
    }
  }

  // --- Summary and report -------------------------------------------------------------------------------

  private summarise(passed: boolean, setup: WorkflowExecution, verify: WorkflowExecution): RunSummary {
    const last = this.samples[this.samples.length - 1];
    const replication =
      this.verdicts['verify:verify-replication'] ?? this.verdicts['setup:verify-replication'];
    const scaling = this.verdicts['verify:verify-scaling'] ?? this.verdicts['setup:verify-scaling'];
    const figures = (replication?.figures ?? {}) as {
      sourceItems?: number;
      replicaItems?: number;
      missing?: number;
      differing?: number;
      extra?: number;
      processedBy?: Record<string, number>;
    };
    const failed = [setup, verify].find((w) => w.status !== 'SUCCEEDED');
    const verdict = passed
      ? `the verify workflow passed: the replica equals the source (${figures.sourceItems ?? '?'} items) and the fleet is healthy`
      : failed
        ? `the ${failed.workflow} workflow ${failed.status}: ${failed.error ?? ''}: ${failed.cause ?? ''}`
        : 'verification did not pass';
    const fromSamples = summariseSamples(this.samples);
    return {
      passed,
      verdict,
      durationMs: this.now(),
      timings: { ...this.timings },
      load: {
        target: this.loadPlan.total,
        written: this.load.itemsDone,
        ratePerSecond: this.options.rate,
        durationMs:
          this.load.startedMs !== undefined && this.load.endedMs > 0
            ? this.load.endedMs - this.load.startedMs
            : null,
      },
      replica: {
        sourceItems: figures.sourceItems ?? null,
        replicaItems: figures.replicaItems ?? null,
        missing: figures.missing ?? null,
        differing: figures.differing ?? null,
        extra: figures.extra ?? null,
        processedBy: figures.processedBy ?? {},
      },
      shards: last?.shards ?? null,
      rollovers: this.database?.rollovers() ?? 0,
      scaling: {
        kedaAsks: last?.keda.asks ?? 0,
        kedaDesired: last?.keda.desired ?? null,
        needed: last?.needed ?? 0,
        maxReplicaCount: this.scaling.maxReplicaCount,
        peakWorkers: Math.max(0, ...this.samples.map((s) => s.workers.running)),
        finalWorkers: last?.workers.running ?? 0,
        readyWorkers: last?.workers.ready ?? 0,
      },
      ...fromSamples,
      checks: {
        scaling: scaling?.summary ?? null,
        replication: replication?.summary ?? null,
        reasons: [...(scaling?.reasons ?? []), ...(replication?.reasons ?? [])],
      },
      awsRules: this.layer ? digestAwsRules(this.layer.stats()) : null,
    };
  }

  private buildReport(summary: RunSummary, java: string): RunReport {
    return {
      report: 'streamfleet-local-run',
      version: 1,
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
      options: this.options,
      environment: {
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cpus: cpus().length,
        java,
        dynamodbLocal: this.database
          ? {
              endpoint: this.database.endpoint,
              rolloverMs: this.rolloverMs,
              rollovers: this.database.rollovers(),
              dataDir: this.options.dataDir ?? null,
            }
          : null,
        ...(this.rolloverNote ? { rolloverNote: this.rolloverNote } : {}),
      },
      fleetName: FLEET_NAME,
      fleet: this.fleet(),
      loadPlan: this.loadPlan,
      summary,
      workflows: this.workflows,
      tasks: this.tasks,
      drill: this.drill?.events ?? ([] as DrillEvent[]),
      samples: this.samples,
      clusterEvents: this.clusterEvents,
    };
  }

  // --- Stopping -----------------------------------------------------------------------------------------

  /** Freezes the live view at once (before a signal's message is printed, so no redraw erases it). */
  freezeView(): void {
    this.reporter.stop();
  }

  /**
   * Stops everything this run started, in order: sampling, the workers (SIGTERM, so they hand off their
   * leases while DynamoDB Local still answers; SIGKILL whatever is left after `graceMs`), then DynamoDB
   * Local. Safe to call twice; the second call waits for the first.
   */
  stop(graceMs = 8_000): Promise<void> {
    this.stopped ??= (async () => {
      this.samplingStopped = true;
      this.reporter.stop();
      await this.operator?.stop();
      if (this.cluster) {
        await Promise.race([this.cluster.stop(), sleep(graceMs)]);
      }
      for (const pid of this.processLog?.liveWorkers() ?? []) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await Promise.race([this.sampling ?? Promise.resolve(), sleep(1_000)]);
      this.dynamodb?.destroy();
      this.streams?.destroy();
      await this.layer?.close();
      await this.database?.stop();
    })();
    return this.stopped;
  }
}
