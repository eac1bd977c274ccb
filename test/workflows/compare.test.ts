/**
 * The compare workflow (statemachines/compare.asl.json) run locally on the real definition against DynamoDB
 * Local: a Map over parallel-scan segments, each segment continued across bounded invocations of the real
 * compare-replicas handler, then the verdict and its metrics. It finds every planted difference; a segment
 * resumes from its LastEvaluatedKey; a retried invocation counts nothing twice.
 */
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localServices } from '../../core/ports.js';
import {
  type ComparisonVerdict,
  initialProgress,
  type SegmentProgress,
} from '../../core/verification/compare-plan.js';
import { compareSegmentStep } from '../../core/verification/full-compare.js';
import { type LambdaLike, loadHandler, runWorkflowLocally } from '../../local/workflows/index.js';
import { seededRandom } from '../support/fault-proxy.js';
import { localClient, uniqueName } from '../support/fleet.js';
import { fillPair, plantDifferences, USERS_KEY } from '../support/replica-tables.js';
import { localControlPlane } from './local-fleet.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
afterAll(() => client.destroy());

const N = 3_000;

async function tablePair(prefix: string) {
  const tables = { source: `${prefix}-users`, replica: `${prefix}-users_replica` };
  for (const TableName of Object.values(tables)) {
    await client.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  await fillPair(client, tables, { to: N });
  return tables;
}

function fleetFor(tables: { source: string; replica: string }, prefix: string) {
  return {
    name: 'users-replicator',
    clusterName: 'not-needed',
    sourceTableName: tables.source,
    replicaTableName: tables.replica,
    applicationName: `${prefix}-app`,
  };
}

/** The real handler, with every segment step's answer and the report kept for the assertions. */
function recordingCompare() {
  const steps: SegmentProgress[] = [];
  let report: ComparisonVerdict | undefined;
  const handler: LambdaLike = async (event: unknown, context: Context) => {
    const result = await (await loadHandler('compare-replicas'))(event, context);
    const step = (event as { step?: string }).step;
    if (step === 'segment') steps.push(result as SegmentProgress);
    if (step === 'report') report = result as ComparisonVerdict;
    return result;
  };
  return { handler, steps, report: () => report };
}

const COMPARE = {
  segments: 4,
  maxConcurrency: 3,
  itemsPerInvocation: 400,
  recheckAfterMs: 0,
  maxExamples: 20,
};
const RUN = { retryMs: 10, timeoutMs: 120_000, controlPlane: localControlPlane(endpoint) };

describe('compare workflow', () => {
  let prefix: string;
  let tables: { source: string; replica: string };

  beforeAll(async () => {
    prefix = uniqueName('cmp');
    tables = await tablePair(prefix);
  }, 60_000);

  it('compares every item across segments and invocations, and succeeds on a true replica', async () => {
    const recorder = recordingCompare();
    const run = await runWorkflowLocally(
      'compare',
      { fleet: fleetFor(tables, prefix), compare: COMPARE },
      { ...RUN, handlers: { 'compare-replicas': recorder.handler } },
    );
    expect(run.status).toBe('SUCCEEDED');
    const { comparison } = run.output as { comparison: ComparisonVerdict };
    expect(comparison.figures).toMatchObject({
      totalSegments: 4,
      segmentsDone: 4,
      sourceItems: N,
      replicaItems: N,
      missing: 0,
      differing: 0,
      extra: 0,
    });
    expect(comparison.figures.readUnits.total).toBeGreaterThan(0);
    // 2 × 3,000 items read in segments of ~1,500, at most 400 an invocation: every segment resumed.
    expect(comparison.figures.maxInvocation.items).toBeLessThanOrEqual(400);
    for (const segment of comparison.figures.segments) expect(segment.invocations).toBeGreaterThan(1);
    expect(recorder.steps.filter((s) => s.cursor !== null && !s.done).length).toBeGreaterThan(0);
    // Published as metrics, like the scheduled check's.
    const read = (name: string) =>
      localServices.metrics.latest('Streamfleet', name, { ApplicationName: `${prefix}-app` });
    expect(read('ComparisonHealthy')).toBe(1);
    expect(read('ComparisonReadUnits')).toBe(comparison.figures.readUnits.total);
  }, 120_000);

  it('finds every planted difference, missing, differing and extra, and fails with them', async () => {
    const planted = await plantDifferences(client, tables, {
      count: N,
      missing: 7,
      differing: 6,
      extra: 5,
      random: seededRandom(42),
    });
    const recorder = recordingCompare();
    const run = await runWorkflowLocally(
      'compare',
      { fleet: fleetFor(tables, prefix), compare: COMPARE },
      { ...RUN, handlers: { 'compare-replicas': recorder.handler } },
    );
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('ReplicaDiffers');
    const figures = recorder.report()?.figures;
    expect(figures).toMatchObject({
      missing: 7,
      differing: 6,
      extra: 5,
      sourceItems: N - 5,
      replicaItems: N - 7,
    });
    expect([...(figures?.examples.missing ?? [])].sort()).toEqual(planted.missing);
    expect([...(figures?.examples.differing ?? [])].sort()).toEqual(planted.differing);
    expect([...(figures?.examples.extra ?? [])].sort()).toEqual(planted.extra);
    // Found across the segments, not in one.
    const withFinds = figures?.segments.filter((s) => s.missing + s.differing + s.extra > 0) ?? [];
    expect(withFinds.length).toBeGreaterThan(1);
  }, 120_000);

  it('resumes a segment from its progress after JSON, and a retried invocation counts nothing twice', async () => {
    const deps = { sleep: async () => {}, now: Date.now, peakRssMiB: () => 1 };
    const compared = { key: USERS_KEY, sourceTable: tables.source, replicaTable: tables.replica };
    const options = { itemsPerInvocation: 300, secondsPerInvocation: 60, recheckAfterMs: 0, maxExamples: 20 };
    let total = { source: 0, replica: 0, missing: 0, differing: 0, extra: 0 };
    for (let segment = 0; segment < 3; segment++) {
      let progress = initialProgress(segment, 3);
      while (!progress.done) {
        const next = await compareSegmentStep(client, deps, compared, progress, options);
        // Step Functions retries a failed invocation with the same input: the same answer, counted once.
        const retried = await compareSegmentStep(client, deps, compared, progress, options);
        const counts = (p: SegmentProgress) => ({
          phase: p.phase,
          cursor: p.cursor,
          scanned: p.scanned,
          tally: p.tally,
        });
        expect(counts(retried)).toEqual(counts(next));
        progress = JSON.parse(JSON.stringify(next)) as SegmentProgress;
      }
      total = {
        source: total.source + progress.scanned.source,
        replica: total.replica + progress.scanned.replica,
        missing: total.missing + progress.tally.missing,
        differing: total.differing + progress.tally.differing,
        extra: total.extra + progress.tally.extra,
      };
    }
    expect(total).toEqual({ source: N - 5, replica: N - 7, missing: 7, differing: 6, extra: 5 });
  }, 120_000);
});
