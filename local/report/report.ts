/**
 * The record of one `npm start` run: every sample the live view showed, the drill's steps, the cluster's
 * events, both workflow executions (status, output, the states they went through) and a summary of the
 * figures. Written as report.json (for scripts) and report.html (charts, for people) in one folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RefusedCounts } from '../aws-rules/index.js';
import type { DrillEvent } from '../start/drill.js';
import type { LoadPlan, StartOptions } from '../start/options.js';
import type { Sample } from '../start/sampler.js';
import type { StopOutcome } from '../start/services.js';
import { mean, percentile } from '../start/stats.js';
import type { RunEvent } from '../start/timeline.js';
import { renderReportHtml } from './html.js';

export interface TaskSpan {
  /** The control-plane function (the Task state's resource). */
  fn: string;
  workflow: string;
  startMs: number;
  endMs: number | undefined;
  ok: boolean | undefined;
  error?: string;
}

export interface WorkflowRecord {
  workflow: string;
  /** The execution of the run's Step Functions endpoint (`streamfleet follow` takes it). */
  executionArn: string;
  status: string;
  error?: string;
  cause?: string;
  durationMs: number;
  startMs: number;
  /** Every state entered, in order, with its time since the run started. */
  states: { state: string; t: number }[];
  output?: unknown;
}

export interface RunSummary {
  passed: boolean;
  /** Set when Ctrl-C (or SIGTERM) stopped the run: the report is partial. */
  interrupted: { signal: string; atMs: number; phase: string; stopped: StopOutcome | null } | null;
  /** One sentence: what passed, or what failed. */
  verdict: string;
  durationMs: number;
  timings: Record<string, number>;
  load: { target: number; written: number; ratePerSecond: number; durationMs: number | null };
  /** `--processor NAME`: the example that ran instead of replication (so no replica figures). */
  processor: { name: string; module: string } | null;
  replica: {
    sourceItems: number | null;
    replicaItems: number | null;
    missing: number | null;
    differing: number | null;
    extra: number | null;
    processedBy: Record<string, number>;
  };
  shards: { total: number; open: number; closed: number; closedFinished: number; unfinished: number } | null;
  rollovers: number;
  /**
   * When the last sample was taken (ms since the start): shards, KEDA, needed and workers are as of then,
   * and a live view that goes on (--keep-running) shows later ones.
   */
  sampledAtMs: number | null;
  /** From the last sample through local/start/figures.ts, the numbers the live view showed. */
  scaling: {
    /** What KEDA's trigger asks for over every listed shard, unlimited: ceil(shards / shardCount). */
    kedaAsks: number;
    /** The same within the ScaledObject's limits, as arithmetic: "21 shards → ceil(21/2) = 11, capped at 3". */
    kedaTrigger: string;
    kedaDesired: number | null;
    needed: number;
    /** "1 unfinished → ceil(1/2) = 1". */
    neededText: string;
    maxReplicaCount: number;
    peakWorkers: number;
    finalWorkers: number;
    readyWorkers: number;
  };
  /**
   * End-to-end lag from item counts (see Sample.lag): the age of the oldest item not yet in the replica, over
   * the samples from the first item until the replica caught up. `workersGaugeMax`: another measure, the
   * highest value of the workers' own gauge in those samples — the age of the last record a worker processed
   * when it processed it (one-second precision, replays after a failover included, 0 once caught up).
   */
  lagMs: {
    p50: number | null;
    p99: number | null;
    max: number | null;
    workersGaugeMax: number | null;
    samples: number;
  };
  throughput: { peakRecordsPerSecond: number; meanRecordsPerSecond: number | null; recordsProcessed: number };
  /** The verify workflow's checks, as of `atMs` (ms since the start; null when they did not run). */
  checks: { scaling: string | null; replication: string | null; reasons: string[]; atMs: number | null };
  /** What the strict layer (docs/aws-rules.md) enforced and refused over the whole run. */
  awsRules: AwsRulesDigest | null;
}

export interface AwsRulesDigest {
  /** `all`, `none`, or `all,-rule,...`. */
  rules: string;
  requests: number;
  refused: RefusedCounts;
  /** Most GetRecords let through on one shard in any second. */
  peakReadsPerShardSecond: number;
  /** What IAM refused, by role, action and resource (empty when nothing was). */
  iamRefusals: { roleArn: string; action: string; resource: string; count: number }[];
}

export interface RunReport {
  report: 'streamfleet-local-run';
  version: 1;
  startedAt: string;
  finishedAt: string;
  options: StartOptions;
  environment: {
    node: string;
    platform: string;
    cpus: number;
    /** `java -version`'s first line. */
    java: string;
    dynamodbLocal: { endpoint: string; rolloverMs: number; rollovers: number; dataDir: string | null } | null;
    rolloverNote?: string;
  };
  /** The Deployment's name; pods are named after it. */
  fleetName: string;
  fleet: unknown;
  loadPlan: LoadPlan;
  summary: RunSummary;
  workflows: WorkflowRecord[];
  tasks: TaskSpan[];
  drill: DrillEvent[];
  samples: Sample[];
  /** Every line the live view showed as an event, with its kind (pod starts, restarts and exits; KEDA; drill). */
  events: RunEvent[];
  clusterEvents: string[];
  browserCheck?: unknown;
}

/** The samples that count for lag: from the first source item until the replica has caught up. */
function lagSamples(samples: readonly Sample[]): Sample[] {
  return samples.filter(
    (s) =>
      s.lag.endToEndMs !== null &&
      (s.items.source ?? 0) > 0 &&
      (s.writes.perSecond > 0 || (s.items.replica ?? 0) < (s.items.source ?? 0)),
  );
}

/** End-to-end lag percentiles over the run so far (see Sample.lag). */
export function lagPercentiles(samples: readonly Sample[]): {
  p50: number | undefined;
  p99: number | undefined;
} {
  const values = lagSamples(samples).map((s) => s.lag.endToEndMs as number);
  return { p50: percentile(values, 50), p99: percentile(values, 99) };
}

export function summariseSamples(samples: readonly Sample[]): Pick<RunSummary, 'lagMs' | 'throughput'> {
  const counted = lagSamples(samples);
  const lag = counted.map((s) => s.lag.endToEndMs as number);
  const gauge = counted.map((s) => s.lag.maxMs ?? 0);
  const rates = samples.map((s) => s.records.perSecond);
  const flowing = rates.filter((r) => r > 0);
  const last = samples[samples.length - 1];
  const round = (v: number | undefined) => (v === undefined ? null : Math.round(v));
  return {
    lagMs: {
      p50: round(percentile(lag, 50)),
      p99: round(percentile(lag, 99)),
      max: lag.length > 0 ? Math.round(Math.max(...lag)) : null,
      workersGaugeMax: gauge.length > 0 ? Math.round(Math.max(...gauge)) : null,
      samples: lag.length,
    },
    throughput: {
      peakRecordsPerSecond: rates.length > 0 ? Math.max(...rates) : 0,
      meanRecordsPerSecond: mean(flowing) === undefined ? null : Math.round(mean(flowing) as number),
      recordsProcessed: last?.records.processed ?? 0,
    },
  };
}

/** The default report folder: reports/local/<UTC time> under the working directory. */
export function defaultReportDir(now = new Date()): string {
  const stamp = now.toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
  return resolve('reports', 'local', stamp);
}

export function writeReport(dir: string, report: RunReport): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderReportHtml(report));
  return { json, html };
}
