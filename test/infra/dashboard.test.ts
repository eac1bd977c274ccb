/**
 * The CloudWatch dashboard beside the alarms: it exists in the synthesized template, shows every alarm's state,
 * and graphs each alarm's own metric and the fleet metrics `verify` publishes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourcesOf, type Synthesized, synth } from './support.js';

/** The dashboard body with each CloudFormation reference replaced by «logicalId», parsed. */
function dashboardBody(body: unknown): { widgets: { type: string; properties: Record<string, unknown> }[] } {
  const join = (body as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  const parts = join ? join[1] : [body];
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const ref = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      return `«${ref.Ref ?? ref['Fn::GetAtt']?.[0] ?? 'token'}»`;
    })
    .join('');
  return JSON.parse(text);
}

/** Every metric a widget draws, as "Namespace/MetricName" (CloudWatch's metric arrays start with both). */
function metricsOf(widgets: { properties: Record<string, unknown> }[]): Set<string> {
  const found = new Set<string>();
  for (const widget of widgets) {
    for (const metric of (widget.properties.metrics ?? []) as unknown[][]) {
      if (typeof metric[0] === 'string' && typeof metric[1] === 'string')
        found.add(`${metric[0]}/${metric[1]}`);
    }
  }
  return found;
}

describe('CloudWatch dashboard', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });
  afterAll(() => s?.cleanup());

  it('exists, named after the stack', () => {
    const dashboards = resourcesOf(s.template, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]?.[1].Properties.DashboardName).toBe('Streamfleet-fleet');
  });

  it("shows every alarm's state and graphs every alarm's metric", () => {
    const [, dashboard] = resourcesOf(s.template, 'AWS::CloudWatch::Dashboard')[0] ?? [];
    const { widgets } = dashboardBody(dashboard?.Properties.DashboardBody);
    const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThan(0);
    const status = widgets.find((w) => w.type === 'alarm');
    expect(status?.properties.alarms).toEqual(expect.arrayContaining(alarms.map(([id]) => `«${id}»`)));
    const drawn = metricsOf(widgets);
    for (const [id, alarm] of alarms) {
      const { Namespace, MetricName } = alarm.Properties as { Namespace: string; MetricName: string };
      expect(drawn.has(`${Namespace}/${MetricName}`), `${id}: ${Namespace}/${MetricName}`).toBe(true);
    }
  });

  it('graphs the scaling and replication figures verify publishes', () => {
    const [, dashboard] = resourcesOf(s.template, 'AWS::CloudWatch::Dashboard')[0] ?? [];
    const drawn = metricsOf(dashboardBody(dashboard?.Properties.DashboardBody).widgets);
    for (const metric of [
      'KedaSteadyStateReplicas',
      'NeededReplicas',
      'DesiredReplicas',
      'ReadyReplicas',
      'Shards',
      'UnfinishedShards',
      'ReplicationLag',
      'MissingItems',
    ]) {
      expect(drawn.has(`Streamfleet/${metric}`), metric).toBe(true);
    }
  });
});
