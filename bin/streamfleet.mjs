#!/usr/bin/env node
// `npx streamfleet …` from a clone after `npm install`: the CLI's TypeScript (cli/main.ts) through tsx's loader.
import { register } from 'tsx/esm/api';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
