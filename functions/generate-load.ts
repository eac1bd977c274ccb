/** One batch of the recipe's load (email, name, city), rate-limited and bounded per invocation. */
import { controlPlaneHandler } from '../core/handler.js';
import { parseLoadInput } from '../core/inputs.js';
import { generateLoadOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'generate-load',
  parse: parseLoadInput,
  run: (input, { ports }) => generateLoadOperation(ports, input),
});
