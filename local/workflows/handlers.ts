/** The real handler in functions/ behind each control-plane function, loaded on first use. */
import type { Context } from 'aws-lambda';
import type { ControlPlaneFunction } from '../../core/workflows.js';

/** A handler as Lambda calls it. */
export type LambdaLike = (event: unknown, context: Context) => Promise<unknown>;

type HandlerModule = { handler: LambdaLike };

const HANDLER_MODULES: Record<ControlPlaneFunction, () => Promise<HandlerModule>> = {
  'ensure-tables': () => import('../../functions/ensure-tables.js') as Promise<HandlerModule>,
  'wire-irsa': () => import('../../functions/wire-irsa.js') as Promise<HandlerModule>,
  'deploy-consumer': () => import('../../functions/deploy-consumer.js') as Promise<HandlerModule>,
  'install-scaler': () => import('../../functions/install-scaler.js') as Promise<HandlerModule>,
  'generate-load': () => import('../../functions/generate-load.js') as Promise<HandlerModule>,
  'verify-scaling': () => import('../../functions/verify-scaling.js') as Promise<HandlerModule>,
  'verify-replication': () => import('../../functions/verify-replication.js') as Promise<HandlerModule>,
  'publish-metrics': () => import('../../functions/publish-metrics.js') as Promise<HandlerModule>,
  'handle-alarm': () => import('../../functions/handle-alarm.js') as Promise<HandlerModule>,
  teardown: () => import('../../functions/teardown.js') as Promise<HandlerModule>,
  'compare-replicas': () => import('../../functions/compare-replicas.js') as Promise<HandlerModule>,
};

export async function loadHandler(fn: ControlPlaneFunction): Promise<LambdaLike> {
  return (await HANDLER_MODULES[fn]()).handler;
}
