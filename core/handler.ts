/**
 * The edge of every control-plane Lambda: middy with Powertools' logger and metrics middlewares, the input
 * parsed (InvalidInputError naming the field), the domain call made through the ports, and errors normalised
 * for Step Functions, which retries and catches by error name: retriable AWS errors become `TransientError`,
 * Streamfleet errors keep their class name, and the message says what to do.
 */

import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { handlerObservability, MetricUnit } from './observability.js';
import {
  type ClusterPorts,
  type ControlPlanePorts,
  connectClustersWith,
  controlPlanePorts,
  type EksConnector,
} from './ports.js';
import { errorName, isRetriableAwsError, StreamfleetError, TransientError } from './vocabulary/errors.js';

export interface HandlerTools<P extends ControlPlanePorts = ControlPlanePorts> {
  ports: P;
  logger: Logger;
  /** Milliseconds left before Lambda stops this invocation. */
  remainingMs(): number;
}

export interface ControlPlaneHandlerSpec<I, O> {
  /** The function's short name, e.g. `ensure-tables`. */
  name: string;
  parse(event: unknown): I;
  run(input: I, tools: HandlerTools): Promise<O>;
}

/**
 * A function that talks to its cluster names how it reaches an EKS cluster (core/kubernetes/eks.ts `connectEksCluster`)
 * and gets `ports.cluster`; the others cannot ask for a cluster (it is not in their ports' type), and their
 * bundles carry no Kubernetes client.
 */
export interface ClusterHandlerSpec<I, O> {
  name: string;
  parse(event: unknown): I;
  cluster: EksConnector;
  run(input: I, tools: HandlerTools<ClusterPorts>): Promise<O>;
}

export type ControlPlaneHandler<O> = MiddyfiedHandler<unknown, O, Error, Context>;

/** What Step Functions sees of an error: its name (the `Error`), its message (inside the `Cause`). */
export function normalizeError(error: unknown): Error {
  if (error instanceof StreamfleetError) return error;
  if (isRetriableAwsError(error)) {
    return new TransientError(`${errorName(error)}: ${(error as Error).message ?? String(error)}`, {
      cause: error,
    });
  }
  if (error instanceof Error) return error;
  return new Error(String(error));
}

function errorHandling(
  name: string,
  logger: Logger,
  metrics: Metrics,
): MiddlewareObj<unknown, unknown, Error, Context> {
  return {
    name: 'streamfleet-errors',
    onError: (request) => {
      const error = normalizeError(request.error);
      // The Cause a workflow shows names the step: "deploy-consumer: fleet.image: is required ...".
      if (!error.message.startsWith(`${name}: `)) error.message = `${name}: ${error.message}`;
      request.error = error;
      const retriable = error instanceof StreamfleetError ? error.retriable : false;
      logger.error(`${name} failed`, { error: { name: error.name, message: error.message }, retriable });
      metrics.addMetric('Failures', MetricUnit.Count, 1);
    },
  };
}

export function controlPlaneHandler<I, O>(spec: ClusterHandlerSpec<I, O>): ControlPlaneHandler<O>;
export function controlPlaneHandler<I, O>(spec: ControlPlaneHandlerSpec<I, O>): ControlPlaneHandler<O>;
export function controlPlaneHandler<I, O>(
  spec: ControlPlaneHandlerSpec<I, O> | ClusterHandlerSpec<I, O>,
): ControlPlaneHandler<O> {
  const { logger, metrics } = handlerObservability(spec.name);
  if ('cluster' in spec) connectClustersWith(spec.cluster);
  const base = async (event: unknown, context: Context): Promise<O> => {
    const input = spec.parse(event);
    logger.info(`${spec.name} started`);
    const result = await spec.run(input, {
      ports: controlPlanePorts(),
      logger,
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    metrics.addMetric('Succeeded', MetricUnit.Count, 1);
    logger.info(`${spec.name} finished`);
    return result;
  };
  return middy<unknown, O, Error, Context>(base)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(errorHandling(spec.name, logger, metrics) as MiddlewareObj<unknown, O, Error, Context>);
}
