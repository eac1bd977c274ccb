/**
 * `npm run iam-report`: the least-privilege run on this machine (local/identities/proof.ts) — its own DynamoDB
 * Local, the strict layer with every rule on, a local cluster with real workers and the local KEDA, every
 * workflow — then, per principal, every action it used against every action it is granted. Prints the
 * figures and the tables, writes them to reports/iam/ (Markdown and JSON), and exits 1 when a call was
 * refused or a grant went unused without a written reason. About a minute.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AwsRulesProxy, fetchAwsRulesStats } from '../aws-rules/index.js';
import { startLocalCluster } from '../cluster/index.js';
import { startDynamoDbLocal } from '../dynamodb-local.js';
import { deployedPrincipals, ProofRun, proofFleetInput } from './proof.js';
import { mergeCounts, renderUsageReport, usageFigures, usageReport } from './usage-report.js';

const REPORT_DIR = resolve(import.meta.dirname, '../../reports/iam');

async function main(): Promise<number> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const database = await startDynamoDbLocal();
  const layer = await AwsRulesProxy.start({ upstream: database.endpoint });
  const cluster = await startLocalCluster({
    name: 'iam-report',
    dynamodbEndpoint: layer.endpoint,
    pollingIntervalMs: 500,
    readinessIntervalMs: 200,
  });
  const run = new ProofRun({
    endpoint: layer.endpoint,
    directEndpoint: database.endpoint,
    fleetInput: proofFleetInput(cluster.name, 'iam-report'),
    log: (line) => log(`· ${line}`),
  });
  try {
    await run.exercise();
    const principals = await deployedPrincipals(run.fleetInput);
    await run.teardown();
    const last = await fetchAwsRulesStats(layer.endpoint);
    const report = usageReport({
      principals,
      allowed: mergeCounts(last.iam.allowed, cluster.stsUsage()),
      refused: last.refused.iam.byPrincipal,
    });
    const text = renderUsageReport(report);
    mkdirSync(REPORT_DIR, { recursive: true });
    writeFileSync(join(REPORT_DIR, 'report.md'), `# Used against granted, per principal\n\n${text}`);
    writeFileSync(join(REPORT_DIR, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    log('');
    log(text);
    log(`Written to ${join(REPORT_DIR, 'report.md')} and report.json.`);
    const figures = usageFigures(report);
    const failed =
      figures.some((f) => f.usedNotGranted > 0 || f.grantedNotUsed > 0) || last.refused.iam.total > 0;
    for (const refusal of last.refused.iam.recent) log(`refused: ${refusal.message}`);
    return failed ? 1 : 0;
  } finally {
    run.close();
    await cluster.stop();
    await layer.close();
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `iam-report: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
