/**
 * One observability module for every control-plane handler: Powertools for AWS Lambda's Logger (structured
 * JSON with the Lambda context) and Metrics (CloudWatch EMF, flushed after each invocation), one pair per
 * handler so its `service` names the function. They are made from the POWERTOOLS_* variables when a handler
 * module loads; the local runtime sets those first (no EMF on stdout) and may change the log level later.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** The handlers' own metrics (invocations, failures); the fleet's health goes to `Streamfleet`. */
export const CONTROL_PLANE_METRICS_NAMESPACE = 'Streamfleet/ControlPlane';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

export interface HandlerObservability {
  logger: Logger;
  metrics: Metrics;
}

const made = new Map<string, HandlerObservability>();
let levelOverride: LogLevel | undefined;

/** The logger and metrics of one handler (`streamfleet-<name>`), made once. */
export function handlerObservability(name: string): HandlerObservability {
  let pair = made.get(name);
  if (!pair) {
    const serviceName = `streamfleet-${name}`;
    pair = {
      logger: new Logger({ serviceName }),
      metrics: new Metrics({ namespace: CONTROL_PLANE_METRICS_NAMESPACE, serviceName }),
    };
    if (levelOverride) pair.logger.setLogLevel(levelOverride);
    made.set(name, pair);
  }
  return pair;
}

/** Sets every handler's log level, now and for handlers loaded later. */
export function setControlPlaneLogLevel(level: LogLevel): void {
  levelOverride = level;
  for (const pair of made.values()) pair.logger.setLogLevel(level);
}

export { MetricUnit };
