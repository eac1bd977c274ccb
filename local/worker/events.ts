/**
 * A worker's structured events as its log carries them: JSON lines with a stable `event` field (the worker's
 * typed event map, consumer/observability). Read from a worker's output by the tests and the bench, so that
 * they depend on event names and data, never on message wording.
 */

/** One structured event as a worker logs it: `event` names it (stable); the other fields are its data. */
export interface LoggedEvent {
  event: string;
  time: string;
  worker: string;
  shardId?: string;
  [field: string]: unknown;
}

/** The events in `output` (named `name`, when given), in order; a line cut short by a kill is skipped. */
export function loggedEvents(output: string, name?: string): LoggedEvent[] {
  const events: LoggedEvent[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{') || !line.includes('"event":')) continue;
    try {
      const parsed = JSON.parse(line) as LoggedEvent;
      if (typeof parsed.event === 'string' && (name === undefined || parsed.event === name))
        events.push(parsed);
    } catch {
      // a line cut by a kill: not an event
    }
  }
  return events;
}

/** Whether `output` holds an event named `name`: a text search, cheap enough to poll a long output with. */
export function hasLoggedEvent(output: string, name: string): boolean {
  return output.includes(`"event":${JSON.stringify(name)}`);
}
