/**
 * The run's heartbeat: about once a second, one sample of the whole fleet (local/start/sampler.ts), kept for
 * the report, shown on the live view through `fleetFigures`, handed to the fault drill, and followed by a
 * look at what the strict layer refused since the last one.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { ScalingConfig } from '../../core/kubernetes/keda.js';
import { systemClock } from '../../core/vocabulary/clock.js';
import type { AwsRulesProxy } from '../aws-rules/index.js';
import type { LocalCluster } from '../cluster/index.js';
import { lagPercentiles } from '../report/report.js';
import { type AwsRulesDigest, digestAwsRules, refusalLines } from './aws-rules.js';
import { drillDigest, type FaultDrill } from './drill.js';
import { fleetFigures } from './figures.js';
import type { LoadProgress } from './load-progress.js';
import { type Sample, Sampler, type SamplerDeps } from './sampler.js';
import { RunEventKind, type Timeline } from './timeline.js';
import type { Reporter } from './view.js';

const SAMPLE_EVERY_MS = 1_000;

export interface SamplingDeps {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  cluster: LocalCluster;
  layer: AwsRulesProxy | undefined;
  fleet: SamplerDeps['fleet'];
  scaling: () => ScalingConfig;
  phase: () => string;
  rollovers: () => number;
  rolloverMs: number;
  load: LoadProgress;
  timeline: Timeline;
  reporter: Reporter;
  drill: FaultDrill | undefined;
}

export class SamplingLoop {
  readonly samples: Sample[] = [];
  readonly sampler: Sampler;
  private refusalsSeen: AwsRulesDigest | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: SamplingDeps) {
    this.sampler = new Sampler({
      dynamodb: deps.dynamodb,
      streams: deps.streams,
      cluster: deps.cluster,
      fleet: deps.fleet,
      config: deps.scaling,
      startedAtMs: deps.timeline.startedAtMs,
      phase: deps.phase,
      load: () => deps.load.snapshot(),
      rollovers: deps.rollovers,
    });
  }

  get latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  start(): void {
    this.loop ??= (async () => {
      while (!this.stopped) {
        const began = Date.now();
        await this.once();
        await systemClock.sleep(Math.max(100, SAMPLE_EVERY_MS - (Date.now() - began)));
      }
    })();
  }

  /** Stops the loop; waits at most `withinMs` for a sample in flight. */
  async stop(withinMs = 1_000): Promise<void> {
    this.stopped = true;
    await Promise.race([this.loop ?? Promise.resolve(), systemClock.sleep(withinMs)]);
  }

  /** Items in the source table before this run's load (a persisted --data-dir), so progress counts from it. */
  async takeBaseline(): Promise<void> {
    this.sampler.setBaseline((await this.sampler.sourceItems()) ?? 0);
  }

  async once(): Promise<void> {
    const { deps } = this;
    let sample: Sample;
    try {
      sample = await this.sampler.sample();
    } catch {
      return; // a failed look changes nothing; the next one comes in a second
    }
    this.samples.push(sample);
    const { drill } = deps;
    if (drill && !drill.done && deps.load.startedMs !== undefined) {
      await drill.step(sample, this.sampler.leases, deps.load.finished).catch((error: unknown) => {
        deps.timeline.add(
          RunEventKind.Drill,
          `drill: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
    }
    this.reportRefusals();
    deps.reporter.update(
      fleetFigures(sample, { fleetName: deps.fleet.name, lag: lagPercentiles(this.samples) }),
      {
        rolloverMs: deps.rolloverMs,
        drill: drill ? (drill.done ? drillDigest(drill.events, deps.fleet.name) : drill.status) : undefined,
      },
    );
  }

  /** A live-view event for every kind of request the strict layer refused since the last sample. */
  private reportRefusals(): void {
    if (!this.deps.layer) return;
    const now = digestAwsRules(this.deps.layer.stats());
    for (const line of refusalLines(this.refusalsSeen, now))
      this.deps.timeline.add(RunEventKind.AwsRules, line);
    this.refusalsSeen = now;
  }
}
