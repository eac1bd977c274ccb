/** A CloudWatch alarm state change plus fresh verdicts → a diagnosis published to the alerts topic. */
import { controlPlaneHandler } from '../core/handler.js';
import { parseAlarmInput } from '../core/inputs.js';
import { handleAlarmOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'handle-alarm',
  parse: parseAlarmInput,
  run: (input, { ports }) => handleAlarmOperation(ports, input),
});
