/**
 * The setup workflow's load as the run sees it: GenerateLoad invocations begun and done, items they wrote,
 * when the first began and the last ended. Fed by the observed handlers; read by the sampler and the summary.
 */
import type { LoadPlan } from './options.js';

export class LoadProgress {
  batchesStarted = 0;
  batchesDone = 0;
  itemsDone = 0;
  startedMs: number | undefined;
  endedMs: number | undefined;

  constructor(readonly plan: LoadPlan) {}

  /** A GenerateLoad invocation begins; true for the first one. */
  begin(now: number): boolean {
    this.batchesStarted++;
    if (this.startedMs !== undefined) return false;
    this.startedMs = now;
    return true;
  }

  /** A GenerateLoad invocation wrote `written` items; true when it was the last batch. */
  finish(now: number, written: number): boolean {
    this.batchesDone++;
    this.itemsDone += written;
    if (this.batchesDone !== this.plan.batches) return false;
    this.endedMs = now;
    return true;
  }

  get finished(): boolean {
    return this.plan.total > 0 && this.itemsDone >= this.plan.total;
  }

  get durationMs(): number | null {
    return this.startedMs !== undefined && this.endedMs !== undefined ? this.endedMs - this.startedMs : null;
  }

  /** What the sampler reads each second. */
  snapshot() {
    return {
      target: this.plan.total,
      batchesDone: this.batchesDone,
      batchesStarted: this.batchesStarted,
      batches: this.plan.batches,
      itemsDone: this.itemsDone,
    };
  }
}
