/** KEDA's TriggerAuthentication and the fleet's ScaledObject (classic or unfinished-shards mode). */

import { controlPlaneHandler } from '../core/handler.js';
import { parseScalerInput } from '../core/inputs.js';
import { connectEksCluster } from '../core/kubernetes/eks.js';
import { installScalerOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'install-scaler',
  cluster: connectEksCluster,
  parse: parseScalerInput,
  run: (input, { ports }) => installScalerOperation(ports, input),
});
