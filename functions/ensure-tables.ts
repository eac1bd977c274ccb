/** Source and replica tables exist with the same key, the source streams NEW_AND_OLD_IMAGES; returns the stream ARN. */
import { controlPlaneHandler } from '../core/handler.js';
import { parseFleetInput } from '../core/inputs.js';
import { ensureTablesOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'ensure-tables',
  parse: parseFleetInput,
  run: (input, { ports }) => ensureTablesOperation(ports, input),
});
