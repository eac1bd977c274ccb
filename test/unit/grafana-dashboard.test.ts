/**
 * The Grafana dashboard in the repository (consumer/observability/grafana-dashboard.json) graphs only metrics the
 * worker exports, covers what an operator watches (lag, records/s, leases per worker, throttles, conflicts,
 * errors, lease-loop failures), and is a well-formed classic dashboard model (unique panel ids, a 24-column grid
 * without overlaps, every query on the dashboard's Prometheus data source variable).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; legendFormat?: string }[];
}

const dashboard = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../consumer/observability/grafana-dashboard.json'), 'utf8'),
) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };

const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, ...t })));

/** Metric names a PromQL expression reads; a histogram's series are read through its _bucket/_sum/_count. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bstreamfleet_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

describe('Grafana dashboard', () => {
  it('queries only metrics the worker exports', async () => {
    const exported = new Set((await new WorkerMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    expect(queries.length).toBeGreaterThan(10);
    for (const query of queries) {
      const names = metricsIn(query.expr);
      expect(names.length, `${query.panel.title}: ${query.expr}`).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${query.panel.title}: ${name}`).toBe(true);
    }
  });

  it('shows lag, records/s, leases per worker, throttles, conflicts, errors and lease-loop failures', () => {
    const read = new Set(queries.flatMap((q) => metricsIn(q.expr)));
    for (const metric of [
      'streamfleet_replication_lag_ms',
      'streamfleet_records_processed_total',
      'streamfleet_leases_held',
      'streamfleet_throttles_total',
      'streamfleet_transaction_conflicts_total',
      'streamfleet_processing_errors_total',
      'streamfleet_lease_loop_failures_total',
    ]) {
      expect(read.has(metric), metric).toBe(true);
    }
    const perWorker = queries.find(
      (q) => q.expr.includes('streamfleet_leases_held') && q.legendFormat === '{{pod}}',
    );
    expect(perWorker, 'leases per worker, one series per pod').toBeDefined();
  });

  it('is a well-formed dashboard model', () => {
    expect(dashboard.uid).toBe('streamfleet-workers');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const variables = new Set(dashboard.templating.list.map((v) => v.name));
    expect(variables).toEqual(new Set(['datasource', 'namespace', 'pod']));
    for (const query of queries) {
      // Grafana's own variable syntax, not a template literal.
      expect(query.panel.datasource).toEqual({ type: 'prometheus', uid: ['$', '{datasource}'].join('') });
      expect(query.expr).toContain('namespace=~"$namespace", pod=~"$pod"');
    }
    // No two panels overlap on the 24-column grid.
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });
});
