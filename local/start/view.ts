/**
 * What a person watches while `npm start` runs (the I/O; the layout is local/start/layout.ts):
 * - in a terminal, the live block redrawn about once a second at the terminal's width, events scrolling
 *   above it, wrapped at word boundaries;
 * - without a TTY (CI, a pipe, `tee`), every event as a line and, at most every few seconds, one line per
 *   fact that changed;
 * - `--quiet` and `--json`: nothing.
 */
import type { Writable } from 'node:stream';
import type { Figures } from './figures.js';
import { COLOR, eventLines, factLines, liveBlock, PLAIN } from './layout.js';

export interface ViewContext {
  rolloverMs: number;
  /** The drill's current step, or its digest once done; undefined without a drill. */
  drill: string | undefined;
}

export interface Reporter {
  /** A line that stays (phase changes, pod starts and exits, KEDA decisions, drill steps). */
  event(t: number, text: string): void;
  /** The live view from the latest figures. */
  update(figures: Figures, context: ViewContext): void;
  /**
   * Text that stays (the summary): above the live block while it is drawn, so a redraw never erases it
   * (--keep-running goes on drawing after the summary); plainly once stopped.
   */
  print(text: string): void;
  /** Stop drawing (before the summary or an interruption's message is printed). */
  stop(): void;
}

/** Terminals narrower than this are drawn as if they had this many columns. */
const MIN_WIDTH = 60;

export class TerminalReporter implements Reporter {
  private drawn = 0;
  private block: string[] = [];
  private stopped = false;

  constructor(
    private readonly stream: Writable & { columns?: number },
    private readonly now: () => number,
    private readonly color = !process.env.NO_COLOR,
  ) {}

  private width(): number {
    return Math.max(MIN_WIDTH, this.stream.columns ?? 80);
  }

  private draw(prefix = ''): void {
    const erase = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[0J` : '';
    this.stream.write(`${erase}${prefix}${this.block.map((l) => `${l}\n`).join('')}`);
    this.drawn = this.block.length;
  }

  event(t: number, text: string): void {
    if (this.stopped) return;
    const lines = eventLines(t, text, this.width(), this.color ? COLOR : PLAIN);
    this.draw(lines.map((l) => `${l}\n`).join(''));
  }

  print(text: string): void {
    const body = text.endsWith('\n') ? text : `${text}\n`;
    if (this.stopped || this.drawn === 0) {
      this.stream.write(body);
      return;
    }
    this.draw(body);
  }

  update(figures: Figures, context: ViewContext): void {
    if (this.stopped) return;
    this.block = liveBlock(figures, {
      width: this.width(),
      now: this.now(),
      rolloverMs: context.rolloverMs,
      drill: context.drill,
      paint: this.color ? COLOR : PLAIN,
    });
    this.draw();
  }

  stop(): void {
    this.stopped = true;
  }
}

/** Lines for a log: 80 columns, one fact per line, only what changed since the last print. */
export class LineReporter implements Reporter {
  private lastPrintAt = Number.NEGATIVE_INFINITY;
  private readonly printed = new Map<string, string>();
  private stopped = false;

  constructor(
    private readonly stream: Writable,
    private readonly intervalMs = 5_000,
    private readonly width = 80,
  ) {}

  event(t: number, text: string): void {
    if (this.stopped) return;
    this.stream.write(`${eventLines(t, text, this.width).join('\n')}\n`);
  }

  update(figures: Figures, context: ViewContext): void {
    if (this.stopped || figures.t - this.lastPrintAt < this.intervalMs) return;
    this.lastPrintAt = figures.t;
    const facts = factLines(figures);
    if (context.drill) facts.push({ key: 'drill', text: `drill: ${context.drill}` });
    const out: string[] = [];
    for (const fact of facts) {
      if (this.printed.get(fact.key) === fact.text) continue;
      this.printed.set(fact.key, fact.text);
      out.push(...eventLines(figures.t, fact.text, this.width));
    }
    if (out.length > 0) this.stream.write(`${out.join('\n')}\n`);
  }

  print(text: string): void {
    this.stream.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  stop(): void {
    this.stopped = true;
  }
}

/** `--quiet` and `--json`: nothing while it runs; then the summary (or the JSON document) alone. */
export class SilentReporter implements Reporter {
  constructor(private readonly stream: Writable) {}
  event(): void {}
  update(): void {}
  print(text: string): void {
    this.stream.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  stop(): void {}
}
