/**
 * The compare workflow's one function, by `step`: plan the segments, compare one segment for one bounded
 * invocation (resuming from its progress), or judge every segment's result. Reads the two tables only.
 */
import { controlPlaneHandler } from '../core/handler.js';
import { parseCompareInput } from '../core/inputs.js';
import { compareReplicasOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'compare-replicas',
  parse: parseCompareInput,
  run: (input, { ports, remainingMs }) => compareReplicasOperation(ports, input, { remainingMs }),
});
