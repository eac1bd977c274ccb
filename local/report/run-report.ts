/** What a local run's report holds (report.json, and the HTML page drawn from it). */
import type { AwsRulesDigest } from '../start/aws-rules.js';
import type { DrillEvent } from '../start/drill-steps.js';
import type { LoadPlan, StartOptions } from '../start/options.js';
import type { Sample } from '../start/sampler.js';
import type { StopOutcome } from '../start/services.js';
import type { RunEvent } from '../start/timeline.js';

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
