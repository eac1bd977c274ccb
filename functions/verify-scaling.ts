/** The scaling check: shards, KEDA's and the needed replica counts, ready pods, leases. Never throws for unhealthy. */

import { controlPlaneHandler } from '../core/handler.js';
import { parseScalingCheckInput } from '../core/inputs.js';
import { connectEksCluster } from '../core/kubernetes/eks.js';
import { verifyScalingOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'verify-scaling',
  cluster: connectEksCluster,
  parse: parseScalingCheckInput,
  run: (input, { ports }) => verifyScalingOperation(ports, input),
});
