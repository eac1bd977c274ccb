/** Bundles the bench's child-process loops with esbuild, the way dist/consumer.js is built. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { onCleanup } from './cleanup.js';

const LOOPS = ['bare-loop', 'aws-rules'] as const;
export type LoopName = (typeof LOOPS)[number];

/** Where each child program's source is: the bench's loops, and the strict layer's own entry point. */
const SOURCES: Record<LoopName, string> = {
  'bare-loop': resolve(import.meta.dirname, '..', 'loops', 'bare-loop.ts'),
  'aws-rules': resolve(import.meta.dirname, '..', '..', 'local', 'aws-rules', 'main.ts'),
};

/**
 * Started with NODE_OPTIONS=--require (node refuses --cpu-prof there): profiles the whole process through
 * node:inspector and writes the .cpuprofile to $BENCH_CPU_PROFILE on exit (the session answers synchronously).
 */
const PROFILER_PRELOAD = `
const inspector = require('node:inspector');
const fs = require('node:fs');
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (error, result) => {
    if (!error) fs.writeFileSync(process.env.BENCH_CPU_PROFILE, JSON.stringify(result.profile));
  });
});
`;

export async function bundleLoops(): Promise<Record<LoopName | 'profiler-preload', string>> {
  const dir = mkdtempSync(join(tmpdir(), 'streamfleet-bench-'));
  onCleanup('bench bundle dir', () => rmSync(dir, { recursive: true, force: true }));
  await build({
    entryPoints: LOOPS.map((name) => ({ in: SOURCES[name], out: name })),
    outdir: dir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __sfCreateRequire } from 'node:module'; const require = __sfCreateRequire(import.meta.url);",
    },
  });
  const preload = join(dir, 'profiler-preload.cjs');
  writeFileSync(preload, PROFILER_PRELOAD);
  return {
    ...(Object.fromEntries(LOOPS.map((name) => [name, join(dir, `${name}.js`)])) as Record<LoopName, string>),
    'profiler-preload': preload,
  };
}
