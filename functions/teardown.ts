/** One teardown step: scaler, consumer, roles, or tables (only with deleteTables: true). */

import { controlPlaneHandler } from '../core/handler.js';
import { parseTeardownInput } from '../core/inputs.js';
import { connectEksCluster } from '../core/kubernetes/eks.js';
import { teardownOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'teardown',
  cluster: connectEksCluster,
  parse: parseTeardownInput,
  run: (input, { ports }) => teardownOperation(ports, input),
});
