/**
 * cdk-nag's AwsSolutions checks on the app as `cdk synth` builds it, with CDK's CloudFormation validation
 * on: the one synth of the suite that runs it (the others set CDK_VALIDATION=false for speed). A finding
 * that is not acknowledged fails the synth. A second synth without the acknowledgements shows that every
 * acknowledgement answers a real finding, on the construct that has it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acknowledgementsOf } from '../../infra/nag.js';
import { type Synthesized, synth } from './support.js';

const done: Synthesized[] = [];
afterAll(() => {
  for (const s of done) s.cleanup();
});

/** `[path, id]` of every finding in a failed synth's report. */
function findings(error: unknown): { path: string; id: string }[] {
  const text = error instanceof Error ? error.message : String(error);
  return [...text.matchAll(/^\s+(\S+) \S+\n\s+Acknowledge with '(?:AwsSolutions::)?([^']+)'/gm)].map((m) => ({
    path: m[1] ?? '',
    id: m[2] ?? '',
  }));
}

describe.each([
  ['a cluster the app creates', {}],
  ['an imported cluster with KEDA installed by the app', { clusterName: 'demo', installKeda: 'true' }],
])('AwsSolutions on %s', (_name, context) => {
  let acknowledged: Synthesized['stack'] | undefined;

  it('synthesizes with validation and no unacknowledged finding, every acknowledgement with a reason', () => {
    const started = performance.now();
    const s = synth(context, { validation: true });
    done.push(s);
    acknowledged = s.stack;
    // Neither cdk-nag nor CloudFormation validation left anything in the report, not even a warning.
    const report = JSON.parse(readFileSync(join(s.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: unknown[];
    };
    expect(report.pluginReports).toEqual([]);
    const acks = acknowledgementsOf(s.stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(60);
    }
    // Synth time with validation, for the record (CI shows it).
    console.info(`synth with validation and cdk-nag: ${Math.round(performance.now() - started)} ms`);
  });

  it('acknowledges only real findings, each on the construct that has it', () => {
    let failure: unknown;
    try {
      done.push(synth(context, { acknowledgeNagFindings: false }));
    } catch (error) {
      failure = error;
    }
    expect(failure, 'without acknowledgements the synth must fail').toBeDefined();
    const found = findings(failure);
    expect(found.length).toBeGreaterThan(0);
    const acks = acknowledged === undefined ? [] : acknowledgementsOf(acknowledged);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      const matched = found.some(
        (f) => f.id === ack.id && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)),
      );
      expect(matched, `${ack.path}: ${ack.id} matches no finding`).toBe(true);
    }
    for (const f of found) {
      const covered = acks.some(
        (a) => a.id === f.id && (f.path === a.path || f.path.startsWith(`${a.path}/`)),
      );
      expect(covered, `${f.path}: ${f.id} is not acknowledged`).toBe(true);
    }
  });
});
