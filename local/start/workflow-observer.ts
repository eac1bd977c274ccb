/**
 * The setup and verify workflows as `npm start` watches them: each Task state's real handler wrapped so the
 * run knows the phase (for the view), the span of every call (for the report), the load's progress, and the
 * checks' verdicts (said once each time they change). `run` executes a workflow locally and records it.
 */
import type { Context } from 'aws-lambda';
import type { ControlPlaneConfig } from '../../core/control-plane-config.js';
import type { ControlPlaneFunction } from '../../core/workflows.js';
import type { TaskSpan, WorkflowRecord } from '../report/run-report.js';
import type { LocalStepFunctions } from '../stepfunctions/index.js';
import { type LambdaLike, loadHandler } from '../workflows/index.js';
import type { WorkflowExecution } from '../workflows/run.js';
import type { LoadProgress } from './load-progress.js';
import { RunEventKind, type Timeline } from './timeline.js';

export type WorkflowName = 'setup' | 'verify';

/** A check's verdict as the workflows return it. */
export interface Verdictish {
  healthy?: boolean;
  summary?: string;
  reasons?: string[];
  figures?: Record<string, unknown>;
  /** ISO time the check was made. */
  checkedAt?: string;
}

/** The Task state a function call stands for, told apart by workflow and input where one function serves two. */
export function stateName(workflow: string, fn: ControlPlaneFunction, event: unknown): string {
  const input = (event ?? {}) as { sampleLeases?: boolean };
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
      if (workflow === 'verify') return 'VerifyScaling';
      return input.sampleLeases === false ? 'CheckLeases' : 'CheckScaling';
    case 'verify-replication':
      return workflow === 'verify' ? 'VerifyReplication' : 'CheckReplication';
    case 'publish-metrics':
      return 'PublishMetrics';
    default:
      return fn;
  }
}

/** The functions the setup and verify workflows call, watched on their way. */
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

/** Functions called many times in a row: their phase is not announced each time. */
const QUIET = new Set<ControlPlaneFunction>(['generate-load', 'verify-scaling', 'verify-replication']);

export class WorkflowObserver {
  phase = 'starting';
  readonly tasks: TaskSpan[] = [];
  readonly workflows: WorkflowRecord[] = [];
  readonly timings: Record<string, number> = {};
  private readonly verdicts: Record<string, Verdictish> = {};
  private readonly lastCheckText = new Map<string, string>();

  constructor(
    private readonly timeline: Timeline,
    private readonly load: LoadProgress,
    /** Awaited before the first batch of the load is written (the sampler's baseline). */
    private readonly beforeFirstBatch: () => Promise<void>,
  ) {}

  /** The last verdict of a check, verify's first, setup's otherwise. */
  verdict(fn: 'verify-scaling' | 'verify-replication'): Verdictish | undefined {
    return this.verdicts[`verify:${fn}`] ?? this.verdicts[`setup:${fn}`];
  }

  private say(text: string): void {
    this.timeline.add(RunEventKind.Workflow, text);
  }

  handlers(workflow: WorkflowName): Partial<Record<ControlPlaneFunction, LambdaLike>> {
    const handlers: Partial<Record<ControlPlaneFunction, LambdaLike>> = {};
    for (const fn of OBSERVED_FUNCTIONS) {
      handlers[fn] = async (event: unknown, context: Context) => {
        const handler = await loadHandler(fn);
        const state = stateName(workflow, fn, event);
        if (fn === 'generate-load') await this.beginBatch();
        const span: TaskSpan = {
          fn,
          workflow,
          startMs: this.timeline.now(),
          endMs: undefined,
          ok: undefined,
        };
        this.tasks.push(span);
        const label = `${workflow} ▸ ${state}`;
        if (this.phase !== label) {
          if (!QUIET.has(fn)) this.say(label);
          this.phase = label;
        }
        try {
          const result = await handler(event, context);
          span.endMs = this.timeline.now();
          span.ok = true;
          this.afterTask(workflow, state, fn, result);
          return result;
        } catch (error) {
          span.endMs = this.timeline.now();
          span.ok = false;
          span.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          throw error;
        }
      };
    }
    return handlers;
  }

  private async beginBatch(): Promise<void> {
    if (this.load.begin(this.timeline.now())) {
      const { plan } = this.load;
      this.say(`setup ▸ GenerateLoad: ${plan.batches} batches of ${plan.itemsPerBatch}, two at a time`);
    }
    await this.beforeFirstBatch();
  }

  private afterTask(workflow: string, state: string, fn: ControlPlaneFunction, result: unknown): void {
    if (fn === 'generate-load') {
      const written = (result as { written?: number } | null)?.written ?? 0;
      if (this.load.finish(this.timeline.now(), written)) {
        this.say(
          `setup ▸ GenerateLoad done: ${this.load.itemsDone} items in ${((this.load.durationMs ?? 0) / 1000).toFixed(1)} s`,
        );
      }
      return;
    }
    if (fn !== 'verify-scaling' && fn !== 'verify-replication') return;
    const verdict = (result ?? {}) as Verdictish;
    this.verdicts[`${workflow}:${fn}`] = verdict;
    let text: string;
    if (state === 'CheckLeases') {
      const leases = (verdict.figures?.leases as { total?: number } | undefined)?.total ?? 0;
      text = leases > 0 ? `${leases} lease(s) exist: workers are running` : 'no lease yet';
    } else {
      text = verdict.healthy
        ? (verdict.summary ?? 'healthy')
        : `not yet: ${verdict.reasons?.[0] ?? verdict.summary}`;
    }
    if (this.lastCheckText.get(state) !== text) this.say(`${workflow} ▸ ${state}: ${text}`);
    this.lastCheckText.set(state, text);
  }

  /**
   * Runs one workflow with the observed handlers as an execution of the run's Step Functions endpoint (so the
   * CLI finds it, as it finds executions on AWS) and records it for the report.
   */
  async run(
    workflow: WorkflowName,
    input: unknown,
    options: {
      stepFunctions: LocalStepFunctions;
      controlPlane: ControlPlaneConfig;
      timeoutMs: number;
      executionName: string;
    },
  ): Promise<WorkflowExecution & { executionArn: string }> {
    const startMs = this.timeline.now();
    this.phase = workflow;
    const execution = await options.stepFunctions.execute(workflow, input, {
      name: options.executionName,
      run: {
        controlPlane: options.controlPlane,
        waitMs: 1_000,
        waitTimeOverrides: { WaitForScaling: 2_000, WaitForReplication: 2_000 },
        retryMs: 500,
        handlers: this.handlers(workflow),
        logLevel: 'SILENT',
        timeoutMs: options.timeoutMs,
      },
    });
    this.timings[`${workflow}Ms`] = execution.durationMs;
    const states = execution.history
      .filter((h) => h.type === 'StateEntered' && h.state !== undefined)
      .map((h) => ({ state: h.state as string, t: h.at - this.timeline.startedAtMs }));
    this.workflows.push({
      workflow,
      executionArn: execution.executionArn,
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
}
