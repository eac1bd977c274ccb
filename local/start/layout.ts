/**
 * How the figures are laid out on a terminal or in a log, as pure functions of the figures and a width:
 * - `liveBlock`: the block a terminal redraws. Every key number is on it at 80 columns; a wider terminal gets
 *   more detail (closed and finished shards, the Deployment's replicas, the workers' own lag gauge), never
 *   other facts. A line longer than the width is wrapped at a " · " (or a space) under its label, never cut.
 * - `factLines`: without a TTY, one short fact per line ("KEDA: 21 shards → ceil(21/2) = 11, capped at 3;
 *   desired 3"), so a log or CI output is scanned line by line.
 * - `wrapText`: an event or a summary value wrapped at word boundaries, continuation lines indented.
 */
import type { Figures } from './figures.js';
import { clock } from './stats.js';

/** The label column of the live block and the summary. */
export const LABEL_WIDTH = 9;
/** Wider than this, the live block adds its detail. */
export const WIDE = 110;

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

/** Columns a string takes on a terminal (ANSI codes take none; each code point one column). */
export function visibleWidth(text: string): number {
  return [...text.replace(ANSI, '')].length;
}

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * `text` in lines of at most `width` columns: broken after a " · " separator where one fits, else at a
 * space, else (a single word longer than the line) at the width. Continuation lines start with `indent`.
 */
export function wrapText(text: string, width: number, indent = ''): string[] {
  const lines: string[] = [];
  let rest = text;
  let prefix = '';
  while (visibleWidth(prefix + rest) > width) {
    const room = width - visibleWidth(prefix);
    const plain = [...stripAnsi(rest)];
    // Styled text is never broken: callers style only what fits (labels, a head line that fits).
    if (plain.length !== [...rest].length) break;
    const head = plain.slice(0, room + 1).join('');
    let cut = head.lastIndexOf(' · ');
    let skip = 3;
    if (cut <= 0 || cut + 2 > room) {
      cut = head.lastIndexOf(' ');
      skip = 1;
    }
    if (cut <= 0) {
      cut = room;
      skip = 0;
    }
    const keep = cut + (skip === 3 ? 2 : 0);
    lines.push(`${prefix}${plain.slice(0, keep).join('').trimEnd()}`);
    rest = plain.slice(cut + skip).join('');
    prefix = indent;
  }
  lines.push(`${prefix}${rest}`);
  return lines;
}

export interface Paint {
  bold(text: string): string;
  dim(text: string): string;
  accent(text: string): string;
}

const ansi = (code: string) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;
export const PLAIN: Paint = { bold: (t) => t, dim: (t) => t, accent: (t) => t };
export const COLOR: Paint = { bold: ansi('1'), dim: ansi('2'), accent: ansi('36') };

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/** Filled cells: rounded down, so the bar is full only at 100 %. */
export function progressBar(done: number, total: number, width: number): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.floor(ratio * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

export interface BlockContext {
  width: number;
  /** The time the block is drawn (so it is never older than an event printed above it). */
  now: number;
  rolloverMs: number;
  drill: string | undefined;
  paint?: Paint;
}

function leasesText(f: Figures): string {
  const parts = f.leases.byWorker.map((w) => `${w.worker}${w.gone ? ' (gone)' : ''} ${w.count}`);
  if (f.leases.unowned > 0) parts.push(`unowned ${f.leases.unowned}`);
  return parts.length > 0 ? parts.join(' · ') : '—';
}

function batchesText(f: Figures): string {
  const { done, writing, total } = f.load.batches;
  return `batches ${done}/${total} done${writing > 0 ? `, ${writing} writing` : ''}`;
}

/** The live block, each line at most `context.width` columns. */
export function liveBlock(f: Figures, context: BlockContext): string[] {
  const p = context.paint ?? PLAIN;
  const wide = context.width >= WIDE;
  const rows: [string, string][] = [];
  const rollover =
    context.rolloverMs > 0
      ? `rollover #${f.rollovers}${wide ? ` (every ${context.rolloverMs / 1000} s)` : ''}`
      : 'no rollovers';
  const barWidth = wide ? 28 : 16;
  rows.push([
    'Load',
    `${progressBar(f.load.written, f.load.target, barWidth)} ${f.load.written}/${f.load.target} ${f.load.percent}% · ${f.load.writesPerSecond}/s · ${batchesText(f)}`,
  ]);
  const s = f.shards;
  rows.push([
    'Shards',
    s
      ? `${s.total} listed · ${s.open} open · ${s.unfinished} unfinished${wide ? ` · ${s.closed} closed (${s.closedFinished} finished)` : ''}`
      : '—',
  ]);
  rows.push([
    'KEDA',
    `${f.keda.triggerText} · desired ${f.keda.desired ?? '—'}${wide ? ` (maxReplicaCount ${f.keda.maxReplicaCount})` : ''}`,
  ]);
  rows.push(['Needed', f.needed.text]);
  rows.push([
    'Workers',
    `${f.workers.running} running · ${f.workers.ready} ready${f.workers.stopping > 0 ? ` · ${f.workers.stopping} stopping` : ''}${wide ? ` · Deployment replicas ${f.workers.deployment}` : ''}`,
  ]);
  rows.push(['Leases', `${leasesText(f)}${wide ? ` (unfinished; ${f.leases.total} in the table)` : ''}`]);
  rows.push([
    'Replica',
    `${f.replica.items ?? '—'} items (source ${f.replica.sourceItems ?? '—'}) · ${f.replica.recordsProcessed} records · ${f.replica.recordsPerSecond}/s`,
  ]);
  rows.push([
    'Lag',
    `now ${formatMs(f.lag.nowMs)} · p50 ${formatMs(f.lag.p50Ms)} · p99 ${formatMs(f.lag.p99Ms)}${wide ? ` · workers' gauge ${formatMs(f.lag.workersGaugeMs)}` : ''}`,
  ]);
  if (context.drill) rows.push(['Drill', context.drill]);
  const head = `Streamfleet ${clock(context.now)} · ${f.phase} · ${rollover}`;
  const indent = ' '.repeat(LABEL_WIDTH);
  return [
    ...(visibleWidth(head) <= context.width
      ? [`${p.bold('Streamfleet')} ${clock(context.now)} · ${p.accent(f.phase)} · ${rollover}`]
      : wrapText(head, context.width, indent)),
    ...rows.flatMap(([label, value]) =>
      wrapText(value, context.width - LABEL_WIDTH, '').map(
        (line, i) => `${i === 0 ? p.bold(label.padEnd(LABEL_WIDTH)) : indent}${line}`,
      ),
    ),
  ];
}

/** Without a TTY: one fact per line, keyed so a caller prints only the facts that changed. */
export function factLines(f: Figures): { key: string; text: string }[] {
  const s = f.shards;
  const facts: { key: string; text: string }[] = [
    { key: 'phase', text: `phase: ${f.phase}` },
    {
      key: 'load',
      text: `load: ${f.load.written}/${f.load.target} items (${f.load.percent}%), ${f.load.writesPerSecond}/s, ${batchesText(f)}`,
    },
    {
      key: 'shards',
      text: s ? `shards: ${s.total} listed, ${s.open} open, ${s.unfinished} unfinished` : 'shards: —',
    },
    { key: 'keda', text: `KEDA: ${f.keda.triggerText}; desired ${f.keda.desired ?? '—'}` },
    { key: 'needed', text: `needed: ${f.needed.text}` },
    {
      key: 'workers',
      text: `workers: ${f.workers.running} running, ${f.workers.ready} ready${f.workers.stopping > 0 ? `, ${f.workers.stopping} stopping` : ''}`,
    },
    { key: 'leases', text: `leases: ${leasesText(f).replaceAll(' · ', ', ')}` },
    {
      key: 'replica',
      text: `replica: ${f.replica.items ?? '—'} items (source ${f.replica.sourceItems ?? '—'}), ${f.replica.recordsProcessed} records, ${f.replica.recordsPerSecond}/s`,
    },
    {
      key: 'lag',
      text: `lag: now ${formatMs(f.lag.nowMs)}, p50 ${formatMs(f.lag.p50Ms)}, p99 ${formatMs(f.lag.p99Ms)}`,
    },
  ];
  return facts;
}

/** "[01:12] text", wrapped at `width` with continuation lines under the text. */
export function eventLines(t: number, text: string, width: number, paint: Paint = PLAIN): string[] {
  const stamp = `[${clock(t)}] `;
  const lines = wrapText(`${stamp}${text}`, width, ' '.repeat(stamp.length));
  const first = lines[0] ?? '';
  return [`${paint.dim(stamp.trimEnd())} ${first.slice(stamp.length)}`, ...lines.slice(1)];
}
