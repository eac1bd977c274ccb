/** The consumer's ServiceAccount and Deployment, by server-side apply; KEDA sets the replicas. */

import { controlPlaneHandler } from '../core/handler.js';
import { parseDeployInput } from '../core/inputs.js';
import { connectEksCluster } from '../core/kubernetes/eks.js';
import { deployConsumerOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'deploy-consumer',
  cluster: connectEksCluster,
  parse: parseDeployInput,
  run: (input, { ports }) => deployConsumerOperation(ports, input),
});
