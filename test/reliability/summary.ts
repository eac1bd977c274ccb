/**
 * Prints the reliability suite's last figures as a Markdown table: `npx tsx test/reliability/summary.ts`
 * (after `npx vitest run test/reliability`, which writes reports/reliability/<scenario>.json).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPORT_DIR, type ScenarioReport } from './harness.js';

const rows = readdirSync(REPORT_DIR)
  .filter((name) => name.endsWith('.json'))
  .map(
    (name) =>
      JSON.parse(readFileSync(join(REPORT_DIR, name), 'utf8')) as ScenarioReport & { faultsInjected: number },
  )
  .sort((a, b) => a.scenario.localeCompare(b.scenario));

const faults = (row: ScenarioReport) =>
  Object.entries(row.faults)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');

console.log(
  '| scenario | faults injected | records written | replicated items | replayed | lost | stale overwrites | s |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const row of rows) {
  console.log(
    `| ${row.scenario} | ${faults(row) || '-'} | ${row.recordsWritten} | ${row.replicated} | ${row.replayed} | ${row.lost} | ${row.staleOverwrites} | ${(row.durationMs / 1000).toFixed(1)} |`,
  );
}
const total = (key: 'recordsWritten' | 'lost' | 'staleOverwrites' | 'faultsInjected') =>
  rows.reduce((n, row) => n + (row[key] ?? 0), 0);
console.log(
  `\n${rows.length} scenarios, ${total('faultsInjected')} faults injected, ${total('recordsWritten')} records written, ` +
    `${total('lost')} lost, ${total('staleOverwrites')} stale overwrites (the conditional-mode zombie control expects 1).`,
);
