/** Structured JSON logs (pino) that always carry the worker's name. */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(worker: string, level: string): Logger {
  return pino({
    level,
    base: { worker },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
