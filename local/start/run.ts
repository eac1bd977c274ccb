/**
 * The whole story on one machine, as `npm start` runs it:
 * 1. DynamoDB Local (embedded, on a free port; with shard rollovers every few seconds unless turned off)
 *    behind the strict layer, and a local-process cluster with a local KEDA (local/start/services.ts);
 * 2. the real setup workflow (statemachines/setup.asl.json, the real handlers), watched on its way
 *    (local/start/workflow-observer.ts): tables, IRSA, workers, scaler, a wait for leases, the load, a wait
 *    until scaling settles, the replication check;
 * 3. meanwhile a sample of everything about once a second, drawn live, and the fault drill
 *    (local/start/sampling.ts, drill.ts);
 * 4. the real verify workflow, a summary, and report.json + report.html (checked in headless Chromium).
 * Ctrl-C: `interrupt` writes a partial report marked interrupted, stops everything and says what it stopped.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ControlPlaneConfig } from '../../core/control-plane-config.js';
import { KEDA_API_VERSION } from '../../core/kubernetes/cluster.js';
import { type ScalingConfig, scalingConfig } from '../../core/kubernetes/keda.js';
import type { ClusterEvent } from '../cluster/index.js';
import type { BrowserCheck } from '../report/browser.js';
import { defaultReportDir } from '../report/report.js';
import type { RunReport } from '../report/run-report.js';
import { LocalStepFunctions } from '../stepfunctions/index.js';
import { clusterRunEvent } from './cluster-events.js';
import { FaultDrill } from './drill.js';
import { createExampleTables, type ExampleProcessor, loadExampleProcessor } from './example-processor.js';
import { shortPod } from './figures.js';
import { LoadProgress } from './load-progress.js';
import { FLEET_NAME, localFleet, NAMESPACE } from './local-fleet.js';
import { planLoad, type StartOptions } from './options.js';
import { checkConsumerBundle, checkJava } from './prerequisites.js';
import { describePodEvent, type PodEvent, ProcessLog } from './processes.js';
import {
  displayPath,
  ExitCode,
  makeReporter,
  operatorHint,
  printRunSummary,
  type RunIo,
  type RunOutput,
  type RunResult,
  writeRunReport,
} from './run-output.js';
import { SamplingLoop } from './sampling.js';
import { RunServices, type StopOutcome } from './services.js';
import { RunEventKind, Timeline } from './timeline.js';
import type { Reporter } from './view.js';
import { WorkflowObserver } from './workflow-observer.js';

export class LocalRun {
  private readonly timeline: Timeline;
  private readonly reporter: Reporter;
  private readonly reportDir: string;
  private readonly load: LoadProgress;
  private readonly observer: WorkflowObserver;
  private readonly clusterEvents: string[] = [];
  /** The ScaledObject's numbers as they are now: the drill lowers maxReplicaCount. */
  private scaling: ScalingConfig;
  /** Created once the prerequisites are checked (so a run that cannot start leaves no report folder). */
  private services: RunServices | undefined;
  private sampling: SamplingLoop | undefined;
  /**
   * The run's Step Functions endpoint: setup and verify run as its executions, so with --keep-running the
   * CLI finds them as it finds executions on AWS (`streamfleet status` takes the fleet from npm start's setup).
   */
  private stepFunctions: LocalStepFunctions | undefined;
  private drill: FaultDrill | undefined;
  /** `--processor NAME`: the example that runs instead of replication. */
  private readonly example: ExampleProcessor | undefined;
  private java = '';
  private interruption: Promise<{ report: string | undefined; stopped: StopOutcome }> | undefined;

  constructor(
    private readonly options: StartOptions,
    private readonly io: RunIo,
  ) {
    const startedAtMs = Date.now();
    this.example = options.processor === undefined ? undefined : loadExampleProcessor(options.processor);
    this.reporter = makeReporter(options, io, () => this.timeline.now());
    this.timeline = new Timeline(this.reporter, startedAtMs);
    this.reportDir = resolve(options.reportDir ?? defaultReportDir(new Date(startedAtMs)));
    this.load = new LoadProgress(planLoad(options.items, options.rate));
    this.scaling = scalingConfig({ shardCount: options.shardCount, maxReplicaCount: options.maxWorkers });
    let baseline: Promise<void> | undefined;
    this.observer = new WorkflowObserver(this.timeline, this.load, () => {
      // Items already in the table (a persisted --data-dir) are not this run's progress.
      baseline ??= this.sampling?.takeBaseline() ?? Promise.resolve();
      return baseline;
    });
  }

  private say(text: string, kind: RunEventKind = RunEventKind.Run): void {
    this.timeline.add(kind, text);
  }

  /** The fleet input of both workflows, with the ScaledObject's numbers as they are now. */
  fleet() {
    return localFleet({ example: this.example, scaling: this.scaling, itemsPlanned: this.load.plan.total });
  }

  private controlPlane(): ControlPlaneConfig {
    return {
      clusterMode: 'local',
      region: 'us-east-1',
      endpoint: this.services?.productEndpoint(),
      alertsTopicArn: undefined,
      metricsNamespace: 'Streamfleet',
    };
  }

  async run(): Promise<RunResult> {
    checkConsumerBundle();
    this.java = checkJava();
    mkdirSync(this.reportDir, { recursive: true });
    const services = new RunServices(this.options, new ProcessLog(join(this.reportDir, 'processes.json')), {
      say: (text) => this.say(text),
      onClusterLine: (line) => this.clusterEvents.push(line),
      onClusterEvent: (event) => this.onClusterEvent(event),
      onPodEvent: (event) => this.onPodEvent(event),
    });
    this.services = services;
    this.observer.timings.dynamodbLocalStartMs = await services.startDatabase();
    if (this.example) {
      await createExampleTables(services.dynamodb as NonNullable<RunServices['dynamodb']>, this.example);
      this.say(
        `processor: ${this.example.name} (${this.example.processor.module}) instead of replication; its tables: ${this.example.tables.map((t) => t.name).join(', ')}`,
      );
    }
    this.stepFunctions = new LocalStepFunctions({
      region: 'us-east-1',
      // Executions the CLI starts (npm start's own add the observed handlers to these).
      run: { controlPlane: this.controlPlane(), waitMs: 1_000, retryMs: 500, logLevel: 'SILENT' },
      log: (line) => this.say(line),
    });
    const cluster = await services.startCluster(this.reportDir);
    if (this.options.drill) this.drill = this.makeDrill();
    this.sampling = new SamplingLoop({
      dynamodb: services.dynamodb as NonNullable<RunServices['dynamodb']>,
      streams: services.streams as NonNullable<RunServices['streams']>,
      cluster,
      layer: services.layer,
      fleet: this.fleet(),
      scaling: () => this.scaling,
      phase: () => this.observer.phase,
      rollovers: () => services.database?.rollovers() ?? 0,
      rolloverMs: services.rolloverMs,
      load: this.load,
      timeline: this.timeline,
      reporter: this.reporter,
      drill: this.drill,
    });
    this.sampling.start();

    const { plan } = this.load;
    const load = {
      batches: plan.batches,
      itemsPerBatch: plan.itemsPerBatch,
      ratePerSecond: plan.ratePerSecond,
      // With a persisted data folder, each run writes items of its own (rewriting identical items makes no
      // stream records, so there would be nothing to replicate).
      ...(this.options.dataDir ? { prefix: `run-${this.timeline.startedAtMs.toString(36)}` } : {}),
    };
    this.say(
      `setup workflow: ${plan.total} items at ${this.options.rate}/s in ${plan.batches} batches, up to ${this.options.maxWorkers} workers, shardCount ${this.options.shardCount}`,
      RunEventKind.Workflow,
    );
    await this.runWorkflow(
      'setup',
      { fleet: this.fleet(), load },
      this.options.durationSeconds * 1000 + 420_000,
    );
    await this.waitForDrillAndSettle();
    await this.runWorkflow('verify', { fleet: this.fleet() }, 180_000);
    // One last sample after everything, so the report ends where the fleet is.
    await this.sampling.once();

    const { report, paths } = writeRunReport(this.output(), null);
    let browserCheck: RunResult['browserCheck'];
    if (this.options.browserCheck) {
      browserCheck = await this.checkInBrowser(paths.html);
      report.browserCheck = browserCheck;
      writeFileSync(paths.json, `${JSON.stringify(report, null, 2)}\n`);
    }
    const exitCode = report.summary.passed ? ExitCode.Passed : ExitCode.Failed;
    if (!this.options.keepRunning) this.reporter.stop();
    printRunSummary(this.output(), report.summary, paths, browserCheck, exitCode);
    return { exitCode, summary: report.summary, reportPaths: paths, browserCheck };
  }

  private async runWorkflow(workflow: 'setup' | 'verify', input: unknown, timeoutMs: number) {
    const execution = await this.observer.run(workflow, input, {
      stepFunctions: this.stepFunctions as LocalStepFunctions,
      controlPlane: this.controlPlane(),
      timeoutMs,
      executionName: `npm-start-${workflow}-${this.timeline.startedAtMs}`,
    });
    this.say(
      execution.status === 'SUCCEEDED'
        ? `${workflow} SUCCEEDED in ${(execution.durationMs / 1000).toFixed(1)} s${workflow === 'verify' ? ': the fleet is healthy' : ''}`
        : `${workflow} ${execution.status}: ${execution.error}: ${execution.cause}`,
      RunEventKind.Workflow,
    );
    return execution;
  }

  private makeDrill(): FaultDrill {
    return new FaultDrill(
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
      (event) => this.say(`drill: ${event.text}`, RunEventKind.Drill),
    );
  }

  /** KEDA's decisions retold as arithmetic, other cluster events as they are; pod events are the launcher's. */
  private onClusterEvent(event: ClusterEvent): void {
    const line = clusterRunEvent(event);
    if (line) this.say(line.text, line.kind);
  }

  private onPodEvent(event: PodEvent): void {
    this.timeline.add(RunEventKind.Pod, describePodEvent(event, shortPod(event.pod, FLEET_NAME)), {
      pod: event.pod,
      pid: event.pid,
      what: event.kind,
    });
  }

  /** The drill's scale-in: what `kubectl patch scaledobject … maxReplicaCount` does, through the cluster port. */
  private async setMaxReplicas(max: number): Promise<void> {
    const cluster = this.services?.cluster;
    if (!cluster) throw new Error('the local cluster is not running');
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

  /** Before verify: the drill done, every pod ready, no pod stopping (at most 90 s). */
  private async waitForDrillAndSettle(): Promise<void> {
    const deadline = Date.now() + 90_000;
    let said = false;
    while (Date.now() < deadline && this.interruption === undefined) {
      const last = this.sampling?.latest;
      const settled =
        last !== undefined &&
        last.workers.ready === last.workers.desired &&
        last.workers.pods.every((p) => !p.stopping) &&
        last.leases.unowned === 0;
      if ((this.drill === undefined || this.drill.done) && settled) return;
      if (!said) {
        this.say('waiting for the drill to finish and every worker to be ready before verify ...');
        said = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** What the report and the summary are made of. */
  private output(): RunOutput {
    return {
      options: this.options,
      io: this.io,
      reporter: this.reporter,
      reportDir: this.reportDir,
      timeline: this.timeline,
      observer: this.observer,
      load: this.load,
      sampling: this.sampling,
      services: this.services,
      example: this.example,
      java: this.java,
      fleet: this.fleet(),
      drill: this.drill,
      clusterEvents: this.clusterEvents,
    };
  }

  private async checkInBrowser(html: string): Promise<BrowserCheck | { skipped: string }> {
    // Loaded only when a check runs, so npm start works without playwright-core.
    const { checkOrSkip } = await import('../report/browser.js');
    const { result, line } = await checkOrSkip(html);
    this.say(line);
    return result;
  }

  // --- Keeping running and stopping ---------------------------------------------------------------------

  /** --keep-running: the live view goes on until the process is signalled. */
  async keepRunning(): Promise<void> {
    this.say('Everything keeps running (--keep-running). Press Ctrl-C to stop it.');
    const endpoint = this.services?.productEndpoint();
    if (endpoint)
      this.say(`DynamoDB Local behind the strict layer: ${endpoint} (region us-east-1, any credentials)`);
    const operator =
      this.stepFunctions &&
      (await this.services?.startOperatorEndpoints({
        region: 'us-east-1',
        dir: this.reportDir,
        setupInput: {
          fleet: this.fleet(),
          load: { batches: 4, itemsPerBatch: 100, ratePerSecond: 50, prefix: 'cli' },
        },
        stepFunctions: this.stepFunctions,
      }));
    if (operator) {
      for (const line of operatorHint(
        displayPath(operator.envFile),
        displayPath(join(this.reportDir, 'setup-input.json')),
      ))
        this.say(line);
    }
    await new Promise<void>(() => {});
  }

  /**
   * Stops everything this run started (see RunServices.stop): sampling first, the workers, then DynamoDB
   * Local. Safe to call twice.
   */
  async stop(graceMs = 8_000): Promise<StopOutcome> {
    this.reporter.stop();
    const outcome = this.services?.stop(graceMs, async () => {
      await this.sampling?.stop();
    });
    return (
      (await outcome) ?? {
        workers: { running: 0, killed: 0 },
        strictLayer: false,
        dynamodbLocal: null,
        operatorEndpoints: false,
      }
    );
  }

  /**
   * Ctrl-C (or SIGTERM): freeze the view, write a partial report marked interrupted (before stopping, so a
   * second Ctrl-C cannot lose it), stop everything, and say what was stopped and where the report is.
   * Returns the lines to print. A run interrupted before its report folder existed writes no report.
   */
  interrupt(signal: string, graceMs: number): Promise<{ report: string | undefined; stopped: StopOutcome }> {
    this.interruption ??= (async () => {
      this.reporter.stop();
      const interrupted = { signal, atMs: this.timeline.now(), phase: this.observer.phase, stopped: null };
      let report: { report: RunReport; paths: { json: string; html: string } } | undefined;
      if (this.services) report = writeRunReport(this.output(), interrupted);
      const stopped = await this.stop(graceMs);
      if (report) {
        report.report.summary.interrupted = { ...interrupted, stopped };
        writeFileSync(report.paths.json, `${JSON.stringify(report.report, null, 2)}\n`);
      }
      return { report: report ? displayPath(report.paths.html) : undefined, stopped };
    })();
    return this.interruption;
  }
}
