/**
 * Is the lease loop working? A loop that keeps failing (AccessDenied on a call the role lacks, a lease table
 * deleted, throttling that never ends) must not leave the worker looking ready: `/readyz` fails once a loop has
 * not completed a pass for `staleAfterMs`. Each failure is counted by cause; the first of a cause is logged
 * loudly (an error event), its repeats only at debug level, and a recovery once.
 */

import type { Clock } from '../../core/vocabulary/clock.js';
import { errorName } from '../../core/vocabulary/errors.js';
import type { WorkerEvents } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';

export type LeaseLoop = 'renewer' | 'taker';

interface LoopState {
  lastSuccessAt: number;
  failing: Map<string, number>;
}

export class LeaseLoopHealth {
  private readonly loops = new Map<LeaseLoop, LoopState>();

  constructor(
    private readonly staleAfterMs: number,
    private readonly clock: Clock,
    private readonly events: WorkerEvents,
    private readonly metrics: WorkerMetrics,
    private readonly log: Logger,
  ) {}

  succeeded(loop: LeaseLoop): void {
    const state = this.state(loop);
    state.lastSuccessAt = this.clock.now();
    for (const [cause, failures] of state.failing)
      this.events.emit('lease-loop.recovered', { loop, cause, failures }, 'lease loop recovered');
    state.failing.clear();
  }

  failed(loop: LeaseLoop, error: unknown): void {
    const cause = errorName(error);
    const state = this.state(loop);
    const failures = (state.failing.get(cause) ?? 0) + 1;
    state.failing.set(cause, failures);
    this.metrics.leaseLoopFailures.inc({ loop, error: cause });
    if (failures === 1) {
      this.events.emit(
        'lease-loop.failed',
        { loop, error, cause },
        `lease ${loop} pass failed (${cause}); it keeps retrying, and the worker turns not ready if it does not recover`,
      );
    } else {
      this.log.debug({ loop, cause, failures, err: error }, 'lease loop pass failed again');
    }
  }

  /** Every loop completed a pass recently. */
  healthy(): boolean {
    const now = this.clock.now();
    for (const state of this.loops.values()) if (now - state.lastSuccessAt >= this.staleAfterMs) return false;
    return true;
  }

  /** Causes a loop is failing with now, for diagnostics. */
  failingCauses(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [loop, state] of this.loops) if (state.failing.size > 0) out[loop] = [...state.failing.keys()];
    return out;
  }

  private state(loop: LeaseLoop): LoopState {
    let state = this.loops.get(loop);
    if (!state) {
      state = { lastSuccessAt: this.clock.now(), failing: new Map() };
      this.loops.set(loop, state);
    }
    return state;
  }
}
