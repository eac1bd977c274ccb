/**
 * docs/architecture.md, held against the code: every relative import of every source file is read, and an
 * import that runs against the page's arrows fails here, naming the file, what it imports and the rule.
 * Type-only imports count: a type is a dependency of the reader too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TOP_ROOMS = ['consumer', 'core', 'local', 'bench', 'infra', 'cli', 'functions'] as const;
const CORE_ROOMS = [
  'core/vocabulary',
  'core/tables',
  'core/kubernetes',
  'core/iam',
  'core/fleet',
  'core/verification',
] as const;

/** Each core room may import the rooms before it in CORE_ROOMS (and itself); core/ itself, all of them. */
const below = (room: (typeof CORE_ROOMS)[number]): string[] => CORE_ROOMS.slice(0, CORE_ROOMS.indexOf(room));
const ALL_CORE = ['core', ...CORE_ROOMS];

/** The arrows of docs/architecture.md: what each room may import besides itself. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  ...Object.fromEntries(CORE_ROOMS.map((room) => [room, below(room)])),
  core: CORE_ROOMS,
  consumer: ['core/vocabulary'],
  functions: ALL_CORE,
  infra: ALL_CORE,
  cli: ALL_CORE,
  local: [...ALL_CORE, 'consumer', 'functions', 'infra'],
  bench: [...ALL_CORE, 'consumer', 'local', 'cli', 'test'],
};

/** The only modules that import @kubernetes/client-node (tests aside). */
const KUBERNETES_CLIENT_DOORS = ['core/kubernetes/client.ts', 'consumer/peers/kubernetes-pods.ts'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function roomOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'core') return parts.length > 2 ? `core/${parts[1]}` : 'core';
  return parts[0] ?? file;
}

interface Import {
  readonly from: string;
  readonly to: string;
}

const files = TOP_ROOMS.flatMap((room) => sourceFiles(room));
const texts = new Map(files.map((file) => [file, readFileSync(join(root, file), 'utf8')]));
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

function importsOf(file: string): { relative: Import[]; packages: string[] } {
  const relative: Import[] = [];
  const packages: string[] = [];
  for (const match of (texts.get(file) ?? '').matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? '';
    if (!specifier.startsWith('.')) {
      packages.push(specifier);
      continue;
    }
    const to = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
    relative.push({ from: file, to });
  }
  return { relative, packages };
}

const imports = files.flatMap((file) => importsOf(file).relative);

describe('the architecture (docs/architecture.md)', () => {
  it('reads the imports of every room', () => {
    expect(imports.length).toBeGreaterThan(500);
    for (const room of [...TOP_ROOMS.filter((r) => r !== 'core'), ...ALL_CORE]) {
      expect(
        files.some((file) => roomOf(file) === room),
        room,
      ).toBe(true);
    }
  });

  it('every import runs along an arrow: a room imports only itself and the rooms the page lets it', () => {
    const against = imports
      .filter(({ from, to }) => roomOf(from) !== roomOf(to))
      .filter(({ from, to }) => !(MAY_IMPORT[roomOf(from)] ?? []).includes(roomOf(to)))
      .map(
        ({ from, to }) =>
          `${from} imports ${to}: ${roomOf(from)} may import ${MAY_IMPORT[roomOf(from)]?.join(', ') || 'nothing'}`,
      );
    expect(against).toEqual([]);
  });

  it('the worker imports only the vocabulary of core/', () => {
    const core = imports.filter(({ from, to }) => roomOf(from) === 'consumer' && to.startsWith('core/'));
    expect(core.length).toBeGreaterThan(0);
    expect(core.filter(({ to }) => roomOf(to) !== 'core/vocabulary')).toEqual([]);
  });

  it('no two source files import each other, directly or round a loop', () => {
    const next = new Map<string, string[]>();
    for (const { from, to } of imports) next.set(from, [...(next.get(from) ?? []), to]);
    const done = new Set<string>();
    const circles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      const at = path.indexOf(file);
      if (at >= 0) {
        circles.push([...path.slice(at), file].join(' -> '));
        return;
      }
      if (done.has(file)) return;
      for (const to of next.get(file) ?? []) visit(to, [...path, file]);
      done.add(file);
    };
    for (const file of files) visit(file, []);
    expect(circles).toEqual([]);
  });

  it('@kubernetes/client-node is reached through its doors only, never through its dist/ paths elsewhere', () => {
    const users = files.filter((file) =>
      importsOf(file).packages.some((name) => name.startsWith('@kubernetes/client-node')),
    );
    expect(users.sort()).toEqual([...KUBERNETES_CLIENT_DOORS].sort());
    const deep = files.filter(
      (file) =>
        file !== 'core/kubernetes/client.ts' &&
        importsOf(file).packages.some((name) => name.startsWith('@kubernetes/client-node/')),
    );
    expect(deep).toEqual([]);
  });

  it('the page names every room it rules', () => {
    const page = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
    for (const room of [...TOP_ROOMS, ...CORE_ROOMS]) expect(page, room).toContain(`${room}/`);
  });
});
