/**
 * From what a run collected to its summary and report: pure functions, so a finished run and an interrupted
 * one (Ctrl-C) are written the same way, and every figure comes from the same place as the live view's
 * (local/start/figures.ts over the last sample).
 */
import { summariseSamples } from '../report/report.js';
import type { RunReport, RunSummary, TaskSpan, WorkflowRecord } from '../report/run-report.js';
import type { AwsRulesDigest } from './aws-rules.js';
import type { DrillEvent } from './drill.js';
import { fleetFigures } from './figures.js';
import type { LoadPlan, StartOptions } from './options.js';
import type { Sample } from './sampler.js';
import type { RunEvent } from './timeline.js';
import type { Verdictish } from './workflow-observer.js';

export interface RunRecord {
  fleetName: string;
  processor: RunSummary['processor'];
  startedAtMs: number;
  durationMs: number;
  timings: Record<string, number>;
  load: { target: number; written: number; ratePerSecond: number; durationMs: number | null };
  samples: readonly Sample[];
  workflows: readonly WorkflowRecord[];
  verdicts: { scaling: Verdictish | undefined; replication: Verdictish | undefined };
  rollovers: number;
  awsRules: AwsRulesDigest | null;
  interrupted: RunSummary['interrupted'];
}

interface ReplicationFigures {
  sourceItems?: number;
  replicaItems?: number;
  missing?: number;
  differing?: number;
  extra?: number;
  processedBy?: Record<string, number>;
}

function verdictSentence(record: RunRecord, passed: boolean, figures: ReplicationFigures): string {
  if (record.interrupted) {
    return `interrupted by ${record.interrupted.signal} during ${record.interrupted.phase}: this report is partial`;
  }
  if (passed && record.processor) {
    return `the verify workflow passed: the fleet is healthy and ${record.processor.name} keeps up (no replica to compare)`;
  }
  if (passed) {
    return `the verify workflow passed: the replica equals the source (${figures.sourceItems ?? '?'} items) and the fleet is healthy`;
  }
  const failed = record.workflows.find((w) => w.status !== 'SUCCEEDED');
  if (failed)
    return `the ${failed.workflow} workflow ${failed.status}: ${failed.error ?? ''}: ${failed.cause ?? ''}`;
  return 'verification did not pass';
}

/** When a check ran, in ms since the run started (its verdict's checkedAt). */
function checkedAtMs(verdict: Verdictish | undefined, startedAtMs: number): number | null {
  const at = Date.parse(verdict?.checkedAt ?? '');
  return Number.isNaN(at) ? null : Math.max(0, at - startedAtMs);
}

export function summariseRun(record: RunRecord): RunSummary {
  const { samples } = record;
  const last = samples[samples.length - 1];
  const { scaling, replication } = record.verdicts;
  const figures = (replication?.figures ?? {}) as ReplicationFigures;
  const workflowsPassed =
    record.workflows.length === 2 &&
    record.workflows.every((w) => w.status === 'SUCCEEDED') &&
    (record.workflows.find((w) => w.workflow === 'verify')?.output as { healthy?: boolean } | undefined)
      ?.healthy === true;
  const passed = record.interrupted === null && workflowsPassed;
  const shown = last
    ? fleetFigures(last, { fleetName: record.fleetName, lag: { p50: undefined, p99: undefined } })
    : undefined;
  return {
    passed,
    interrupted: record.interrupted,
    verdict: verdictSentence(record, passed, figures),
    durationMs: record.durationMs,
    timings: { ...record.timings },
    load: record.load,
    processor: record.processor,
    replica: {
      sourceItems: figures.sourceItems ?? null,
      replicaItems: figures.replicaItems ?? null,
      missing: figures.missing ?? null,
      differing: figures.differing ?? null,
      extra: figures.extra ?? null,
      processedBy: figures.processedBy ?? {},
    },
    shards: last?.shards ?? null,
    rollovers: record.rollovers,
    sampledAtMs: last?.t ?? null,
    scaling: {
      kedaAsks: shown?.keda.trigger?.raw ?? 0,
      kedaTrigger: shown?.keda.triggerText ?? '—',
      kedaDesired: last?.keda.desired ?? null,
      needed: shown?.needed.arithmetic?.replicas ?? 0,
      neededText: shown?.needed.text ?? '—',
      maxReplicaCount: last?.scaling.maxReplicaCount ?? 0,
      peakWorkers: Math.max(0, ...samples.map((s) => s.workers.running)),
      finalWorkers: last?.workers.running ?? 0,
      readyWorkers: last?.workers.ready ?? 0,
    },
    ...summariseSamples(samples),
    checks: {
      scaling: scaling?.summary ?? null,
      replication: replication?.summary ?? null,
      reasons: [...(scaling?.reasons ?? []), ...(replication?.reasons ?? [])],
      atMs: checkedAtMs(scaling, record.startedAtMs),
    },
    awsRules: record.awsRules,
  };
}

export function buildRunReport(input: {
  record: RunRecord;
  summary: RunSummary;
  options: StartOptions;
  environment: RunReport['environment'];
  fleet: unknown;
  loadPlan: LoadPlan;
  tasks: readonly TaskSpan[];
  drill: readonly DrillEvent[];
  events: readonly RunEvent[];
  clusterEvents: readonly string[];
  finishedAtMs: number;
}): RunReport {
  return {
    report: 'streamfleet-local-run',
    version: 1,
    startedAt: new Date(input.record.startedAtMs).toISOString(),
    finishedAt: new Date(input.finishedAtMs).toISOString(),
    options: input.options,
    environment: input.environment,
    fleetName: input.record.fleetName,
    fleet: input.fleet,
    loadPlan: input.loadPlan,
    summary: input.summary,
    workflows: [...input.record.workflows],
    tasks: [...input.tasks],
    drill: [...input.drill],
    samples: [...input.record.samples],
    events: [...input.events],
    clusterEvents: [...input.clusterEvents],
  };
}
