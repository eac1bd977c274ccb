/**
 * Opens report.html in a real headless Chromium (Debian's, driven by playwright-core) and checks that every
 * chart was drawn with data and that the page logged no error; optionally saves a PNG of one element.
 * playwright-core is loaded only when a check runs, so `npm start` works without it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { baseLabel, MEETS } from './charts.js';

export const CHROMIUM_PATH = process.env.STREAMFLEET_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
] as const;

export interface BrowserCheck {
  ok: boolean;
  browser: string;
  /** Charts on the page, and those with at least one data point drawn on a non-blank canvas. */
  charts: number;
  chartsWithData: number;
  consoleErrors: string[];
  pageErrors: string[];
  /** Requests the page made that failed (a self-contained page makes none). */
  failedRequests: string[];
  durationMs: number;
  screenshot?: string;
}

/** Why no browser check can run here, or undefined when Chromium is installed. */
export function browserUnavailable(): string | undefined {
  if (!existsSync(CHROMIUM_PATH)) {
    return `Chromium is not installed at ${CHROMIUM_PATH} (Debian/Ubuntu: sudo apt-get install -y chromium).`;
  }
  return undefined;
}

interface ChartProbe {
  charts: number;
  withData: number;
}

/**
 * Runs in the page (a string: this project compiles without the DOM's types). A chart counts when Chart.js
 * knows it, it has at least one data point, and its canvas has painted pixels.
 */
const PROBE = `(() => {
  const canvases = Array.from(document.querySelectorAll('canvas'));
  let withData = 0;
  for (const canvas of canvases) {
    const chart = Chart.getChart(canvas);
    const points = !!chart && chart.data.datasets.some((d) => d.data.some((p) => p.y !== null));
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = false;
    for (let i = 3; i < pixels.length; i += 4 * 97) if (pixels[i] > 0) { painted = true; break; }
    if (points && painted) withData++;
  }
  return { charts: canvases.length, withData };
})()`;

/** One drawn series of a chart, as the page drew it (pixels), for checking that none hides under another. */
export interface DrawnSeries {
  label: string;
  dash: number[];
  width: number;
  /** Pixel positions of its points, rounded; null where it has no value. */
  points: ([number, number] | null)[];
}

export interface DrawnChart {
  id: string;
  stacked: boolean;
  series: DrawnSeries[];
}

/** Runs in the page: every chart's datasets with the pixels Chart.js placed their points at. */
const SERIES_PROBE = `(() => Array.from(document.querySelectorAll('canvas')).map((canvas) => {
  const chart = Chart.getChart(canvas);
  return {
    id: canvas.id,
    stacked: !!chart.options.scales.y.stacked,
    series: chart.data.datasets.map((d, i) => ({
      label: d.label,
      dash: d.borderDash || [],
      width: d.borderWidth,
      points: chart.getDatasetMeta(i).data.map((p, k) =>
        d.data[k] && d.data[k].y !== null ? [Math.round(p.x), Math.round(p.y)] : null),
    })),
  };
}))()`;

async function withPage<T>(
  width: number,
  use: (page: import('playwright-core').Page, version: string) => Promise<T>,
  timeoutMs = 30_000,
): Promise<T> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS],
    headless: true,
    timeout: timeoutMs,
  });
  try {
    const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
    return await use(page, browser.version());
  } finally {
    await browser.close();
  }
}

async function openReport(
  page: import('playwright-core').Page,
  htmlPath: string,
  timeoutMs: number,
): Promise<void> {
  await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: 'load' });
  await page.waitForFunction(
    'window.__streamfleetReport && window.__streamfleetReport.rendered === true',
    undefined,
    {
      timeout: timeoutMs,
    },
  );
}

/** Every chart's series as drawn in headless Chromium. */
export async function drawnSeries(htmlPath: string): Promise<DrawnChart[]> {
  return withPage(1280, async (page) => {
    await openReport(page, htmlPath, 15_000);
    return (await page.evaluate(SERIES_PROBE)) as DrawnChart[];
  });
}

export async function checkReportInBrowser(
  htmlPath: string,
  options: { screenshot?: { path: string; selector: string; width?: number }; timeoutMs?: number } = {},
): Promise<BrowserCheck> {
  const started = Date.now();
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  return withPage(
    options.screenshot?.width ?? 1280,
    async (page, version) => {
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('requestfailed', (request) => failedRequests.push(request.url()));
      await openReport(page, htmlPath, options.timeoutMs ?? 15_000);
      const probe = (await page.evaluate(PROBE)) as ChartProbe;
      let screenshot: string | undefined;
      if (options.screenshot) {
        await page.locator(options.screenshot.selector).first().screenshot({ path: options.screenshot.path });
        screenshot = options.screenshot.path;
      }
      const ok =
        probe.charts > 0 &&
        probe.withData === probe.charts &&
        consoleErrors.length === 0 &&
        pageErrors.length === 0 &&
        failedRequests.length === 0;
      return {
        ok,
        browser: `Chromium ${version}`,
        charts: probe.charts,
        chartsWithData: probe.withData,
        consoleErrors,
        pageErrors,
        failedRequests,
        durationMs: Date.now() - started,
        ...(screenshot ? { screenshot } : {}),
      };
    },
    options.timeoutMs ?? 30_000,
  );
}

/**
 * Pairs of series a reader could not tell apart: drawn on the same pixels everywhere (they should have been
 * merged into one line), or on the same pixels somewhere with the same dash and width, or somewhere without
 * the later one's legend naming the earlier. Stacked charts are bands, not lines, and are left out.
 */
export function indistinguishableSeries(charts: readonly DrawnChart[]): string[] {
  const found: string[] = [];
  const at = (p: [number, number] | null | undefined) => (p ? `${p[0]},${p[1]}` : null);
  for (const chart of charts.filter((c) => !c.stacked)) {
    chart.series.forEach((a, i) => {
      for (const b of chart.series.slice(i + 1)) {
        const shared = a.points.filter((p, k) => p !== null && at(p) === at(b.points[k])).length;
        if (shared === 0) continue;
        const everywhere =
          a.points.length === b.points.length && a.points.every((p, k) => at(p) === at(b.points[k]));
        const sameStyle = a.dash.join() === b.dash.join() && a.width === b.width;
        const named = (b.label.split(MEETS)[1] ?? '').split('; ').includes(baseLabel(a.label));
        if (everywhere || sameStyle || !named) {
          found.push(`${chart.id}: "${b.label}" lies on "${a.label}" at ${shared} point(s)`);
        }
      }
    });
  }
  return found;
}

/** The browser check as `npm start` runs it: the check, or why it was skipped, and one line to say so. */
export async function checkOrSkip(
  html: string,
): Promise<{ result: BrowserCheck | { skipped: string }; line: string }> {
  const why = browserUnavailable();
  if (why) return { result: { skipped: why }, line: `report not checked in a browser: ${why}` };
  try {
    const check = await checkReportInBrowser(html);
    const errors = [...check.consoleErrors, ...check.pageErrors].join('; ') || 'none';
    return {
      result: check,
      line: check.ok
        ? `report checked in ${check.browser}: ${check.chartsWithData} charts drawn, no console errors`
        : `report check in ${check.browser} FAILED: ${check.chartsWithData}/${check.charts} charts drawn, errors: ${errors}`,
    };
  } catch (error) {
    const message =
      (error instanceof Error ? error.message.split('\n')[0] : String(error)) || 'unknown error';
    return { result: { skipped: message }, line: `report not checked in a browser: ${message}` };
  }
}
