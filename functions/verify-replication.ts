/** The replication check: source against replica, processed_by spread, lag. Never throws for unhealthy. */
import { controlPlaneHandler } from '../core/handler.js';
import { parseFleetInput } from '../core/inputs.js';
import { verifyReplicationOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'verify-replication',
  parse: parseFleetInput,
  run: (input, { ports }) => verifyReplicationOperation(ports, input),
});
