/**
 * Opens report.html in a real headless Chromium (Debian's, driven by playwright-core) and checks that every
 * chart was drawn with data and that the page logged no error; optionally saves a PNG of one element.
 * playwright-core is loaded only when a check runs, so `npm start` works without it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

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

export async function checkReportInBrowser(
  htmlPath: string,
  options: { screenshot?: { path: string; selector: string; width?: number }; timeoutMs?: number } = {},
): Promise<BrowserCheck> {
  const started = Date.now();
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS],
    headless: true,
    timeout: options.timeoutMs ?? 30_000,
  });
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  try {
    const page = await browser.newPage({
      viewport: { width: options.screenshot?.width ?? 1280, height: 900 },
      deviceScaleFactor: 1,
    });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('requestfailed', (request) => failedRequests.push(request.url()));
    await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: 'load' });
    await page.waitForFunction(
      'window.__streamfleetReport && window.__streamfleetReport.rendered === true',
      undefined,
      {
        timeout: options.timeoutMs ?? 15_000,
      },
    );
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
      browser: `Chromium ${browser.version()}`,
      charts: probe.charts,
      chartsWithData: probe.withData,
      consoleErrors,
      pageErrors,
      failedRequests,
      durationMs: Date.now() - started,
      ...(screenshot ? { screenshot } : {}),
    };
  } finally {
    await browser.close();
  }
}
