/**
 * What a person watches while `npm start` runs. In a terminal: a block of lines redrawn about once a second
 * (load progress bar, shards, KEDA's number beside the needed one, workers, leases per worker, records and
 * lag, the drill), with events scrolling above it. Without a TTY (CI, a pipe): one status line per interval
 * and one line per event. `--quiet` and `--json` print neither.
 */
import type { Writable } from 'node:stream';
import type { Sample } from './sampler.js';
import { clock } from './stats.js';

export interface ViewContext {
  fleetName: string;
  endpoint: string | undefined;
  rolloverMs: number;
  shardCount: number;
  maxReplicaCount: number;
  drill: string | undefined;
  lag: { p50: number | undefined; p99: number | undefined };
}

export interface Reporter {
  /** A line that stays (phase changes, drill steps, KEDA decisions). */
  event(t: number, text: string): void;
  /** The live view from the latest sample. */
  update(sample: Sample, context: ViewContext): void;
  /** Stop redrawing (before the summary is printed). */
  stop(): void;
}

const ansi = (code: string) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;
const plain = (text: string) => text;

function styles(color: boolean) {
  return {
    bold: color ? ansi('1') : plain,
    dim: color ? ansi('2') : plain,
    green: color ? ansi('32') : plain,
    yellow: color ? ansi('33') : plain,
    cyan: color ? ansi('36') : plain,
  };
}

function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/** The pod name without the Deployment's prefix: `users-replicator-3fa9c1-7b2d0` → `3fa9c1-7b2d0`. */
export function shortPod(name: string, fleetName: string): string {
  return name.startsWith(`${fleetName}-`) ? name.slice(fleetName.length + 1) : name;
}

export function progressBar(done: number, total: number, width = 28): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

function leasesText(sample: Sample, fleetName: string): string {
  const live = new Set(sample.workers.pods.filter((p) => !p.stopping).map((p) => p.name));
  const parts = Object.entries(sample.leases.byOwner)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([owner, count]) => `${shortPod(owner, fleetName)}${live.has(owner) ? '' : ' (gone)'}: ${count}`);
  if (sample.leases.unowned > 0) parts.push(`unowned: ${sample.leases.unowned}`);
  return parts.length > 0 ? parts.join(' · ') : '—';
}

/** The terminal block, one string per line (not yet cut to the terminal's width). */
export function renderLiveBlock(sample: Sample, context: ViewContext, color = false): string[] {
  const s = styles(color);
  const { load, shards, workers } = sample;
  const pct = load.target > 0 ? Math.floor((load.written / load.target) * 100) : 0;
  const rollover =
    context.rolloverMs > 0
      ? `rollover #${sample.rollovers} (every ${context.rolloverMs / 1000} s)`
      : 'no rollovers';
  const kedaAsks = shards ? `ceil(${shards.total}/${context.shardCount}) = ${sample.keda.asks}` : '—';
  const neededFrom = shards ? `ceil(${shards.unfinished}/${context.shardCount}) → ${sample.needed}` : '—';
  return [
    `${s.bold('Streamfleet local')} ${s.dim('·')} ${clock(sample.t)} ${s.dim('·')} ${s.cyan(sample.phase)} ${s.dim('·')} ${rollover}`,
    `${s.bold('Load      ')} ${progressBar(load.written, load.target)} ${load.written}/${load.target} items ${pct}% · ${sample.writes.perSecond} writes/s · batch ${load.batchesDone}/${load.batches}`,
    `${s.bold('Shards    ')} ${shards ? `${shards.total} total · ${shards.open} open · ${shards.closed} closed (${shards.closedFinished} finished) · ${shards.unfinished} unfinished` : '—'}`,
    `${s.bold('KEDA      ')} its count asks ${s.yellow(kedaAsks)} · unfinished shards need ${s.green(neededFrom)} · desired ${sample.keda.desired ?? '—'} (max ${context.maxReplicaCount})`,
    `${s.bold('Workers   ')} ${workers.running} running · ${workers.ready} ready · Deployment replicas ${workers.desired}${workers.pods.some((p) => p.stopping) ? ` · ${workers.pods.filter((p) => p.stopping).length} stopping` : ''}`,
    `${s.bold('Leases    ')} ${leasesText(sample, context.fleetName)} ${s.dim(`(unfinished, per worker; ${sample.leases.total} in the table)`)}`,
    `${s.bold('Replicated')} ${sample.items.replica ?? '—'} items in the replica · ${sample.records.processed} records processed · ${sample.records.perSecond}/s`,
    `${s.bold('Lag       ')} end to end now ${ms(sample.lag.endToEndMs)} · p50 ${ms(context.lag.p50)} · p99 ${ms(context.lag.p99)} ${s.dim(`(workers' gauge now ${ms(sample.lag.maxMs)})`)}`,
    ...(context.drill ? [`${s.bold('Drill     ')} ${context.drill}`] : []),
  ];
}

/** The one-line form for logs and CI. */
export function renderStatusLine(sample: Sample, context: ViewContext): string {
  const { load, shards, workers } = sample;
  const pct = load.target > 0 ? Math.floor((load.written / load.target) * 100) : 0;
  return [
    `[${clock(sample.t)}] ${sample.phase}`,
    `load ${load.written}/${load.target} (${pct}%)`,
    shards ? `shards ${shards.total} (open ${shards.open}, unfinished ${shards.unfinished})` : 'shards —',
    `KEDA asks ${sample.keda.asks}, desired ${sample.keda.desired ?? '—'}, needed ${sample.needed}`,
    `workers ${workers.running} (ready ${workers.ready})`,
    `leases ${leasesText(sample, context.fleetName)}`,
    `replica ${sample.items.replica ?? '—'} items, ${sample.records.processed} records (${sample.records.perSecond}/s)`,
    `lag ${ms(sample.lag.endToEndMs)} p50 ${ms(context.lag.p50)} p99 ${ms(context.lag.p99)}`,
  ].join(' | ');
}

/** Cuts a line to `width` visible columns (ANSI codes kept), so redraws never wrap. */
export function fitToWidth(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      if (end > 0) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width - 1) {
      out += '…\x1b[0m';
      return out;
    }
    out += line[i];
    visible++;
  }
  return out;
}

export class TerminalReporter implements Reporter {
  private drawn = 0;
  private block: string[] = [];
  private stopped = false;

  constructor(
    private readonly stream: Writable & { columns?: number },
    private readonly color = !process.env.NO_COLOR,
  ) {}

  private width(): number {
    return Math.max(40, this.stream.columns ?? 120);
  }

  private erase(): string {
    return this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[0J` : '';
  }

  private draw(prefix = ''): void {
    const width = this.width();
    const lines = this.block.map((line) => fitToWidth(line, width));
    this.stream.write(`${this.erase()}${prefix}${lines.map((l) => `${l}\n`).join('')}`);
    this.drawn = lines.length;
  }

  event(t: number, text: string): void {
    if (this.stopped) return;
    this.draw(`${styles(this.color).dim(`[${clock(t)}]`)} ${text}\n`);
  }

  update(sample: Sample, context: ViewContext): void {
    if (this.stopped) return;
    this.block = renderLiveBlock(sample, context, this.color);
    this.draw();
  }

  stop(): void {
    this.stopped = true;
  }
}

export class LineReporter implements Reporter {
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly stream: Writable,
    private readonly intervalMs = 5_000,
  ) {}

  event(t: number, text: string): void {
    if (this.stopped) return;
    this.stream.write(`[${clock(t)}] ${text}\n`);
  }

  update(sample: Sample, context: ViewContext): void {
    if (this.stopped || sample.t - this.lastLineAt < this.intervalMs) return;
    this.lastLineAt = sample.t;
    this.stream.write(`${renderStatusLine(sample, context)}\n`);
  }

  stop(): void {
    this.stopped = true;
  }
}

/** `--quiet` and `--json`: nothing while it runs. */
export class SilentReporter implements Reporter {
  event(): void {}
  update(): void {}
  stop(): void {}
}
