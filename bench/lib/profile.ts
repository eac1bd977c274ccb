/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) of the bundled worker: self time by function and by package,
 * mapped back to the original sources through dist/consumer.js.map with node:module's SourceMap.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  wallSeconds: number;
  records: number;
  sampledSeconds: number;
  /** Share of the samples where the process was idle (waiting on I/O). */
  idleShare: number;
  busySeconds: number;
  busyMsPer1000Records: number;
  byPackage: { name: string; seconds: number; share: number }[];
  topFrames: { frame: string; seconds: number; share: number }[];
  /** Time under frames of the consumer's own code (inclusive), by function. */
  consumerInclusive: { frame: string; seconds: number; share: number }[];
}

const maps = new Map<string, SourceMap | undefined>();

function sourceMapFor(url: string): SourceMap | undefined {
  if (maps.has(url)) return maps.get(url);
  let map: SourceMap | undefined;
  try {
    const path = url.startsWith('file:') ? fileURLToPath(url) : url;
    if (existsSync(`${path}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
  } catch {
    map = undefined;
  }
  maps.set(url, map);
  return map;
}

function origin(frame: CallFrame): { source: string; line: number } {
  const map = frame.url ? sourceMapFor(frame.url) : undefined;
  if (map && frame.lineNumber >= 0) {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (entry.originalSource) return { source: entry.originalSource, line: (entry.originalLine ?? 0) + 1 };
  }
  return { source: frame.url, line: frame.lineNumber + 1 };
}

function packageOf(source: string, functionName: string): string {
  if (source === '') {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(program)') return '(program: V8/native)';
    return '(native)';
  }
  if (source.startsWith('node:')) return 'node: core';
  const nm = source.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = source.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? source);
  }
  const match = /(consumer|core|test|bench)\/.*/.exec(source);
  return match ? match[0].split('/').slice(0, 2).join('/') : source;
}

function shortSource(source: string): string {
  const nm = source.lastIndexOf('node_modules/');
  if (nm >= 0) return source.slice(nm + 'node_modules/'.length);
  const match = /(consumer|core|test|bench)\/.*/.exec(source);
  return match ? match[0] : source;
}

export async function summarizeProfile(
  file: string,
  context: { wallSeconds: number; records: number },
): Promise<ProfileSummary> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const sampled = [...self.values()].reduce((a, b) => a + b, 0) / 1e6;

  const packages = new Map<string, number>();
  const frames = new Map<string, number>();
  const consumer = new Map<string, number>();
  let idle = 0;
  for (const [id, micros] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const seconds = micros / 1e6;
    const { source, line } = origin(node.callFrame);
    const name = node.callFrame.functionName || '(anonymous)';
    const pkg = packageOf(source, node.callFrame.functionName);
    if (pkg === '(idle)') {
      idle += seconds;
      continue;
    }
    packages.set(pkg, (packages.get(pkg) ?? 0) + seconds);
    const key = source ? `${name} ${shortSource(source)}:${line}` : name;
    frames.set(key, (frames.get(key) ?? 0) + seconds);
    // Inclusive time of the consumer's own functions: walk up once per distinct consumer frame.
    const seen = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const ancestor = byId.get(cursor);
      if (!ancestor) break;
      const at = origin(ancestor.callFrame);
      if (!/(^|\/)consumer\//.test(at.source) || at.source.includes('node_modules')) continue;
      const label = `${ancestor.callFrame.functionName || '(anonymous)'} ${shortSource(at.source)}`;
      if (seen.has(label)) continue;
      seen.add(label);
      consumer.set(label, (consumer.get(label) ?? 0) + seconds);
    }
  }
  const busy = sampled - idle;
  const rank = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, seconds]) => ({ name, seconds: round3(seconds), share: round3(seconds / busy) }));
  return {
    file,
    wallSeconds: round3(context.wallSeconds),
    records: context.records,
    sampledSeconds: round3(sampled),
    idleShare: round3(idle / sampled),
    busySeconds: round3(busy),
    busyMsPer1000Records: round3((busy * 1000) / (context.records / 1000)),
    byPackage: rank(packages, 12),
    topFrames: rank(frames, 15).map(({ name, seconds, share }) => ({ frame: name, seconds, share })),
    consumerInclusive: rank(consumer, 12).map(({ name, seconds, share }) => ({
      frame: name,
      seconds,
      share,
    })),
  };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
