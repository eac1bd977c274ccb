/**
 * Source and replica tables exist with the same key, the source streams NEW_AND_OLD_IMAGES; returns the stream
 * ARN. The setup workflow's first step: it receives the whole execution input and rejects a wrong one
 * (fleet or load) before anything is made.
 */
import { controlPlaneHandler } from '../core/handler.js';
import { parseSetupInput } from '../core/inputs.js';
import { ensureTablesOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'ensure-tables',
  parse: parseSetupInput,
  run: (input, { ports }) => ensureTablesOperation(ports, input),
});
