/** One teardown step: scaler, consumer, roles, or tables (only with deleteTables: true). */
import { connectEksCluster } from '../core/eks.js';
import { controlPlaneHandler } from '../core/handler.js';
import { parseTeardownInput } from '../core/inputs.js';
import { teardownOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'teardown',
  cluster: connectEksCluster,
  parse: parseTeardownInput,
  run: (input, { ports }) => teardownOperation(ports, input),
});
