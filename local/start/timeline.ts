/**
 * The run's clock and its events: every line that stays on screen (phases, pod starts, restarts and exits,
 * KEDA's decisions, drill steps, refusals of the strict layer) is recorded here with its kind and time since
 * the start, then shown by the reporter. The report keeps the same list, so a test reads structured events,
 * not the terminal's text.
 */
import type { Reporter } from './view.js';

export const RunEventKind = {
  Run: 'run',
  Workflow: 'workflow',
  Pod: 'pod',
  Keda: 'keda',
  Drill: 'drill',
  Cluster: 'cluster',
  AwsRules: 'aws-rules',
} as const;
export type RunEventKind = (typeof RunEventKind)[keyof typeof RunEventKind];

export interface RunEvent {
  /** Milliseconds since the run started. */
  t: number;
  kind: RunEventKind;
  text: string;
  /** Pod events: the pod's full name, its process, and what happened to it. */
  pod?: string;
  pid?: number | null;
  what?: 'started' | 'restarted' | 'exited';
}

export class Timeline {
  readonly startedAtMs: number;
  readonly events: RunEvent[] = [];

  constructor(
    private reporter: Reporter,
    startedAtMs = Date.now(),
  ) {
    this.startedAtMs = startedAtMs;
  }

  /** Milliseconds since the start. */
  now(): number {
    return Date.now() - this.startedAtMs;
  }

  add(kind: RunEventKind, text: string, extra: Omit<RunEvent, 't' | 'kind' | 'text'> = {}): void {
    const event: RunEvent = { t: this.now(), kind, text, ...extra };
    this.events.push(event);
    this.reporter.event(event.t, text);
  }
}
