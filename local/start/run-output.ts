/**
 * What a local run leaves behind and says (local/start/run.ts runs it): its record, report.json and report.html,
 * the summary printed at the end (or JSON with --output json), the operator's hint, and what an interruption
 * stopped. Everything here reads the run's state; nothing starts or stops anything.
 */
import { cpus } from 'node:os';
import { isAbsolute, relative } from 'node:path';
import type { Writable } from 'node:stream';
import type { BrowserCheck } from '../report/browser.js';
import { writeReport } from '../report/report.js';
import type { RunReport, RunSummary } from '../report/run-report.js';
import { digestAwsRules } from './aws-rules.js';
import type { FaultDrill } from './drill.js';
import type { ExampleProcessor } from './example-processor.js';
import type { LoadProgress } from './load-progress.js';
import { FLEET_NAME } from './local-fleet.js';
import { OutputMode, type StartOptions } from './options.js';
import { buildRunReport, type RunRecord, summariseRun } from './run-record.js';
import type { SamplingLoop } from './sampling.js';
import { describeStopOutcome, type RunServices, type StopOutcome } from './services.js';
import { renderSummary } from './summary.js';
import type { Timeline } from './timeline.js';
import { LineReporter, type Reporter, SilentReporter, TerminalReporter } from './view.js';
import type { WorkflowObserver } from './workflow-observer.js';

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

/**
 * What to type in another terminal (from this folder) to drive the run with the CLI: every line a whole
 * command that works as printed (test/local/operator-path.test.ts runs each one). The status and verify find
 * the fleet of npm start's own setup, an execution of the run's Step Functions endpoint.
 */
export function operatorHint(envFile: string, setupInput: string): string[] {
  return [
    'streamfleet CLI: in another terminal, in this folder, run',
    `  . ${envFile}`,
    '  npx streamfleet status',
    '  npx streamfleet verify',
    `  npx streamfleet setup --input ${setupInput}`,
  ];
}

/** Relative to the working directory when inside it, else absolute. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

export function makeReporter(options: StartOptions, io: RunIo, now: () => number): Reporter {
  if (options.output !== OutputMode.Live) return new SilentReporter(io.stdout);
  return io.stdout.isTTY ? new TerminalReporter(io.stdout, now) : new LineReporter(io.stdout, 5_000);
}

/** The run's state that its report and summary are made of. */
export interface RunOutput {
  options: StartOptions;
  io: RunIo;
  reporter: Reporter;
  reportDir: string;
  timeline: Timeline;
  observer: WorkflowObserver;
  load: LoadProgress;
  sampling: SamplingLoop | undefined;
  services: RunServices | undefined;
  example: ExampleProcessor | undefined;
  java: string;
  fleet: unknown;
  drill: FaultDrill | undefined;
  clusterEvents: readonly string[];
}

function runRecord(state: RunOutput, interrupted: RunSummary['interrupted']): RunRecord {
  const services = state.services;
  return {
    fleetName: FLEET_NAME,
    processor: state.example ? { name: state.example.name, module: state.example.processor.module } : null,
    startedAtMs: state.timeline.startedAtMs,
    durationMs: state.timeline.now(),
    timings: state.observer.timings,
    load: {
      target: state.load.plan.total,
      written: state.load.itemsDone,
      ratePerSecond: state.options.rate,
      durationMs: state.load.durationMs,
    },
    samples: state.sampling?.samples ?? [],
    workflows: state.observer.workflows,
    verdicts: {
      scaling: state.observer.verdict('verify-scaling'),
      replication: state.observer.verdict('verify-replication'),
    },
    rollovers: services?.database?.rollovers() ?? 0,
    awsRules: services?.layer ? digestAwsRules(services.layer.stats()) : null,
    interrupted,
  };
}

export function writeRunReport(
  state: RunOutput,
  interrupted: RunSummary['interrupted'],
): {
  report: RunReport;
  paths: { json: string; html: string };
} {
  const record = runRecord(state, interrupted);
  const summary = summariseRun(record);
  const database = state.services?.database;
  const report = buildRunReport({
    record,
    summary,
    options: state.options,
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      java: state.java,
      dynamodbLocal: database
        ? {
            endpoint: database.endpoint,
            rolloverMs: state.services?.rolloverMs ?? 0,
            rollovers: database.rollovers(),
            dataDir: state.options.dataDir ?? null,
          }
        : null,
      ...(state.services?.rolloverNote ? { rolloverNote: state.services.rolloverNote } : {}),
    },
    fleet: state.fleet,
    loadPlan: state.load.plan,
    tasks: state.observer.tasks,
    drill: state.drill?.events ?? [],
    events: state.timeline.events,
    clusterEvents: state.clusterEvents,
    finishedAtMs: Date.now(),
  });
  return { report, paths: writeReport(state.reportDir, report) };
}

export function printRunSummary(
  state: RunOutput,
  summary: RunSummary,
  paths: { json: string; html: string },
  browserCheck: RunResult['browserCheck'],
  exitCode: number,
): void {
  if (state.options.output === OutputMode.Json) {
    state.reporter.print(
      JSON.stringify(
        {
          passed: summary.passed,
          exitCode,
          summary,
          report: paths,
          drill: state.drill?.events ?? [],
          browserCheck: browserCheck ?? null,
        },
        null,
        2,
      ),
    );
    return;
  }
  const tty = state.io.stdout.isTTY === true;
  const lines = renderSummary({
    summary,
    drill: state.drill?.events ?? [],
    reportPaths: { json: displayPath(paths.json), html: displayPath(paths.html) },
    browserCheck,
    width: tty ? Math.max(60, state.io.stdout.columns ?? 80) : 80,
    color: tty && !process.env.NO_COLOR && state.options.output === OutputMode.Live,
  });
  // Through the reporter: with --keep-running the live block goes on below it and must not erase it.
  state.reporter.print(`\n${lines.join('\n')}`);
}

/** "stopped 3 workers (…), the strict layer and DynamoDB Local (pid 4242)" and the report's path. */
export function describeInterruption(result: { report: string | undefined; stopped: StopOutcome }): string[] {
  return [
    `stopped ${describeStopOutcome(result.stopped)}.`,
    result.report
      ? `partial report (marked interrupted): ${result.report}`
      : 'no report: the run had not started.',
  ];
}
