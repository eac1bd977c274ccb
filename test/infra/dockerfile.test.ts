/**
 * consumer/Dockerfile, linted by reading (no Docker engine or hadolint here): the rules hadolint would
 * enforce that matter for this image, and that its build steps are the ones CI runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSUMER_DEFAULTS } from '../../core/kubernetes/manifests.js';
import { REPO_ROOT } from './context.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (pending === undefined && (line === '' || line.startsWith('#'))) return;
    if (pending !== undefined && line.startsWith('#')) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1).trim() : line;
    pending =
      pending === undefined
        ? { text: body, line: index + 1 }
        : { ...pending, text: `${pending.text} ${body}` };
    if (!continued) {
      const [keyword = '', ...rest] = pending.text.split(/\s+/);
      out.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: pending.line });
      pending = undefined;
    }
  });
  return out;
}

function stages(instructions: Instruction[]): Instruction[][] {
  const result: Instruction[][] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') result.push([]);
    result.at(-1)?.push(instruction);
  }
  return result;
}

const dockerfile = readFileSync(join(REPO_ROOT, 'consumer', 'Dockerfile'), 'utf8');
const instructions = parseDockerfile(dockerfile);
const [build = [], runtime = []] = [stages(instructions)[0], stages(instructions).at(-1)];
const of = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword);

describe('consumer/Dockerfile', () => {
  it('is multi-stage: a named build stage and a runtime stage', () => {
    expect(stages(instructions)).toHaveLength(2);
    expect(build[0]?.args).toMatch(/ AS build$/i);
  });

  it('pins every base image by an exact tag, Node 22 slim, the same in both stages', () => {
    const bases = of(instructions, 'FROM').map((i) => i.args.split(/\s+/)[0]);
    for (const base of bases) expect(base).toMatch(/^node:22\.\d+\.\d+-[a-z]+-slim$/);
    expect(new Set(bases).size).toBe(1);
  });

  it('builds with the commands CI runs: npm ci as in .ci/run, then npm run build', () => {
    const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');
    const ciInstall = ci.split('\n').find((l) => l.trim().startsWith('npm ci'));
    const runs = of(build, 'RUN').map((i) => i.args);
    expect(runs).toEqual([ciInstall?.trim(), 'npm run build']);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.build).toBe('node esbuild.config.mjs');
    // CI's `npm test` runs the same build script.
    expect(pkg.scripts.test).toContain('npm run build');
    // The lock file is copied before the install (npm ci needs it; the layer caches on it).
    const firstCopy = of(build, 'COPY')[0]?.args;
    expect(firstCopy).toBe('package.json package-lock.json ./');
  });

  it('copies only the bundle (its source map and the chunks it loads) into the runtime stage', () => {
    const copies = of(runtime, 'COPY');
    expect(copies).toHaveLength(2);
    const parts = copies[0]?.args.split(/\s+/) ?? [];
    expect(parts[0]).toBe('--from=build');
    expect(parts.slice(1, -1)).toEqual(['/src/dist/consumer.js', '/src/dist/consumer.js.map']);
    expect(parts.at(-1)).toBe('./dist/');
    // The chunks the bundle imports (esbuild.config.mjs splits what it loads only when asked).
    expect(copies[1]?.args.split(/\s+/)).toEqual([
      '--from=build',
      '/src/dist/consumer-chunks/',
      './dist/consumer-chunks/',
    ]);
    expect(of(runtime, 'RUN')).toHaveLength(0);
  });

  it('runs as the numeric non-root user of the Deployment (runAsUser)', () => {
    const users = of(runtime, 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = (users[0]?.args ?? '').split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).not.toBe(0);
    expect(Number(uid)).toBe(CONSUMER_DEFAULTS.runAsUser);
    expect(Number(gid)).toBe(CONSUMER_DEFAULTS.runAsUser);
    // USER comes after every COPY, so nothing later runs as root.
    expect(users[0]?.line ?? 0).toBeGreaterThan(of(runtime, 'COPY')[0]?.line ?? Infinity);
  });

  it('starts node dist/consumer.js from /app, where the bundle was copied', () => {
    expect(of(runtime, 'WORKDIR').map((i) => i.args)).toEqual(['/app']);
    const cmd = of(runtime, 'CMD');
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0]?.args ?? '')).toEqual(['node', 'dist/consumer.js']);
    expect(of(runtime, 'ENTRYPOINT')).toHaveLength(0);
    expect(of(runtime, 'EXPOSE').map((i) => i.args)).toEqual([String(CONSUMER_DEFAULTS.port)]);
  });

  it('has no HEALTHCHECK (Kubernetes probes do it), no ADD, no URL downloads, no latest tags', () => {
    expect(of(instructions, 'HEALTHCHECK')).toHaveLength(0);
    expect(of(instructions, 'ADD')).toHaveLength(0);
    expect(dockerfile).not.toMatch(/\b(curl|wget)\b/);
    expect(dockerfile).not.toMatch(/:latest\b/);
    expect(of(instructions, 'MAINTAINER')).toHaveLength(0);
  });

  it('uses only known instructions', () => {
    const known = ['FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'USER', 'EXPOSE', 'CMD', 'ARG', 'LABEL'];
    for (const i of instructions) expect(known, `line ${i.line}`).toContain(i.keyword);
  });
});

describe('.dockerignore', () => {
  it('lets in only what npm ci and npm run build need (no node_modules, dist, cdk.out, tests)', () => {
    const lines = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    const included = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    expect(included.sort()).toEqual(
      [
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'esbuild.config.mjs',
        'consumer',
        'core',
        'functions',
      ].sort(),
    );
    // Everything the build stage copies is let in.
    for (const copy of of(build, 'COPY')) {
      for (const source of copy.args.split(/\s+/).slice(0, -1)) {
        expect(included, source).toContain(source.replace(/\/$/, ''));
      }
    }
  });
});
