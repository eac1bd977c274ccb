/**
 * `npx tsx local/report/screenshot.ts REPORT.html OUT.png [CSS selector]`: opens a report in headless
 * Chromium, checks it like `npm start` does, and saves a PNG of one element (default: the workers and KEDA
 * chart, `#panel-scaling`; others: `#panel-shards`, `#panel-lag`, `#panel-throughput`, `#panel-leases`) or, with
 * `page`, of the whole page. How docs/images/local-report.png was made (with `page`).
 */
import { checkReportInBrowser } from './browser.js';

const [html, out, selector = '#panel-scaling'] = process.argv.slice(2);
if (!html || !out) {
  process.stderr.write('usage: tsx local/report/screenshot.ts REPORT.html OUT.png [CSS selector | page]\n');
  process.exit(2);
}
const check = await checkReportInBrowser(html, {
  screenshot: { path: out, selector: selector === 'page' ? 'body' : selector, width: 1100 },
});
process.stdout.write(`${JSON.stringify(check, null, 2)}\n`);
process.exit(check.ok ? 0 : 1);
