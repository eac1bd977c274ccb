// One bundler for every deployable: the consumer container runs dist/consumer.js, Lambda runs dist/functions/*,
// and the package (`npm pack`) ships dist/lib: the library's one ESM file and, with --package, its one .d.ts.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { build } from 'esbuild';

/**
 * Modules the bundles would carry but never run, replaced by stubs that throw (naming themselves) if ever
 * called — only where the named package imports them. @kubernetes/client-node's KubeConfig imports every auth
 * provider and proxy agent; the functions reach EKS with a bearer token and no proxy, so the OIDC, Azure and
 * GCP providers (openid-client, jsonpath-plus) and the SOCKS/HTTP proxy agents never run in Lambda.
 * node-fetch only falls back to whatwg-url where Node has no global URL (Node < 10). About 0.6 MB per bundle
 * that has the client; only the functions that talk to their cluster have it at all (core/handler.ts
 * `cluster`, test/infra/bundles.test.ts).
 * The CLI runs from source (tsx) and keeps them all: there a kubeconfig may use any of them.
 */
const NEVER_RUN_IN_BUNDLES = {
  'openid-client': { importer: '@kubernetes/client-node', exports: ['discovery', 'refreshTokenGrant'] },
  'jsonpath-plus': { importer: '@kubernetes/client-node', exports: ['JSONPath'] },
  'socks-proxy-agent': { importer: '@kubernetes/client-node', exports: ['SocksProxyAgent'] },
  hpagent: { importer: '@kubernetes/client-node', exports: ['HttpProxyAgent', 'HttpsProxyAgent'] },
  'whatwg-url': { importer: 'node-fetch', commonjs: true },
};

const neverRunStubs = {
  name: 'never-run-stubs',
  setup(build) {
    const filter = new RegExp(`^(${Object.keys(NEVER_RUN_IN_BUNDLES).join('|')})$`);
    build.onResolve({ filter }, (args) => {
      const stub = NEVER_RUN_IN_BUNDLES[args.path];
      if (!args.importer.includes(`/node_modules/${stub.importer}/`)) return undefined;
      return { path: args.path, namespace: 'never-run' };
    });
    build.onLoad({ filter: /.*/, namespace: 'never-run' }, (args) => {
      const stub = NEVER_RUN_IN_BUNDLES[args.path];
      const fail = `function fail() { throw new Error('${args.path} is left out of this bundle (esbuild.config.mjs NEVER_RUN_IN_BUNDLES): Streamfleet does not use what needs it here.'); }`;
      if (stub.commonjs) return { contents: `${fail}\nmodule.exports = {};`, loader: 'js' };
      const exports = stub.exports.map((name) => `export function ${name}() { fail(); }`).join('\n');
      return { contents: `${fail}\n${exports}`, loader: 'js' };
    });
  },
};

const shared = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  legalComments: 'none',
  // Errors are told apart by name where a processor module brings its own copy of the classes (consumer/main.ts).
  keepNames: true,
  logLevel: 'warning',
  plugins: [neverRunStubs],
  // Some CommonJS dependencies call require(); give ESM bundles a require of their own.
  banner: {
    js: "import { createRequire as __sfCreateRequire } from 'node:module'; const require = __sfCreateRequire(import.meta.url);",
  },
};

/**
 * The worker: dist/consumer.js, and in dist/consumer-chunks/ what it imports only when asked (the Kubernetes client
 * behind PEER_POD_SELECTOR). Bundled into the one file, that client cost every worker about 115 MB of memory at
 * start even when never loaded; split, a worker without pod evidence never reads it.
 */
await build({
  ...shared,
  entryPoints: [{ in: 'consumer/main.ts', out: 'consumer' }],
  outdir: 'dist',
  splitting: true,
  chunkNames: 'consumer-chunks/[name]-[hash]',
});

const entries = [];
if (existsSync('functions')) {
  for (const file of readdirSync('functions')) {
    if (file.endsWith('.ts') && !file.endsWith('.d.ts'))
      entries.push({ in: `functions/${file}`, out: `functions/${file.slice(0, -3)}` });
  }
}

// The example applications (examples/NAME/processor.ts → dist/examples/NAME.js), as a user would build theirs
// for PROCESSOR_MODULE: `npm start -- --processor email-domains` and the tests run them in real workers.
if (existsSync('examples')) {
  for (const name of readdirSync('examples')) {
    if (existsSync(`examples/${name}/processor.ts`))
      entries.push({ in: `examples/${name}/processor.ts`, out: `examples/${name}` });
  }
}

await build({ ...shared, entryPoints: entries, outdir: 'dist' });

/**
 * The library (package.json `exports`): its dependencies stay imports (the package declares them), so a user's
 * project shares one AWS SDK with it. No banner: the library itself never calls require().
 */
await build({
  ...shared,
  banner: {},
  packages: 'external',
  entryPoints: [{ in: 'consumer/index.ts', out: 'index' }],
  outdir: 'dist/lib',
});

if (process.argv.includes('--package')) {
  // One declaration file, the public types only; the AWS SDK's types stay imports of the declared dependencies.
  execFileSync(
    'npx',
    [
      'dts-bundle-generator',
      '--project',
      'tsconfig.package.json',
      '--no-check',
      '--export-referenced-types=false',
      '--silent',
      '-o',
      'dist/lib/index.d.ts',
      'consumer/index.ts',
    ],
    { stdio: 'inherit' },
  );
}
