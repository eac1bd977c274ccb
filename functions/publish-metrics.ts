/** The verdicts as CloudWatch metrics (namespace Streamfleet, dimension ApplicationName) and one health report. */
import { controlPlaneHandler } from '../core/handler.js';
import { parseVerdictsInput } from '../core/inputs.js';
import { publishMetricsOperation } from '../core/operations.js';

export const handler = controlPlaneHandler({
  name: 'publish-metrics',
  parse: parseVerdictsInput,
  run: (input, { ports }) => publishMetricsOperation(ports, input),
});
