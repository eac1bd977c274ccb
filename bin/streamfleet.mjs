#!/usr/bin/env node
// `npx streamfleet …` from a clone after `npm install`: the CLI's TypeScript (cli/main.ts) through tsx's loader.
// The npm package is the library only (dist/lib); its copy of this file says so instead of failing on an import.
import { existsSync } from 'node:fs';

const cli = new URL('../cli/main.ts', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(
    'streamfleet: this install is the library (import { startWorker } from "streamfleet").\n' +
      'The streamfleet command line runs from a clone of the repository: npm install, then npx streamfleet --help.\n',
  );
  process.exit(2);
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
