/** IRSA: OIDC provider, consumer and KEDA operator roles, annotated ServiceAccounts, KEDA operator restarted when its role changed. */

import { controlPlaneHandler } from '../core/handler.js';
import { parseStreamInput } from '../core/inputs.js';
import { connectEksCluster } from '../core/kubernetes/eks.js';
import { wireIrsaOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'wire-irsa',
  cluster: connectEksCluster,
  parse: parseStreamInput,
  run: (input, { ports }) => wireIrsaOperation(ports, input),
});
