// One bundler for every deployable: the consumer container runs dist/consumer.js, Lambda runs dist/functions/*.

import { existsSync, readdirSync } from 'node:fs';
import { build } from 'esbuild';

const shared = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Some CommonJS dependencies call require(); give ESM bundles a require of their own.
  banner: {
    js: "import { createRequire as __sfCreateRequire } from 'node:module'; const require = __sfCreateRequire(import.meta.url);",
  },
};

const entries = [{ in: 'consumer/main.ts', out: 'consumer' }];
if (existsSync('functions')) {
  for (const file of readdirSync('functions')) {
    if (file.endsWith('.ts') && !file.endsWith('.d.ts'))
      entries.push({ in: `functions/${file}`, out: `functions/${file.slice(0, -3)}` });
  }
}

await build({ ...shared, entryPoints: entries, outdir: 'dist' });
