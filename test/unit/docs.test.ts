/** The README must match the code: every variable the worker reads and every metric it exports. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../consumer/config.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';

const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');

describe('README', () => {
  it('starts with the two commands a newcomer needs', () => {
    const head = readme.split('\n').slice(0, 8).join('\n');
    expect(head).toMatch(/npm install && npm start/);
    expect(head).toMatch(/npm test/);
  });

  it.each(Object.keys(CONFIG_VARIABLES))('documents %s', (variable) => {
    expect(readme).toContain(`| \`${variable}\` |`);
  });

  it('documents every metric the worker exports', async () => {
    const metrics = await new WorkerMetrics().registry.getMetricsAsJSON();
    for (const metric of metrics) expect(readme, metric.name).toContain(metric.name);
  });
});
