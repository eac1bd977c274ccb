/**
 * `npm run test:node-versions`: the Node.js versions the README claims, tried on this machine. For each supported
 * major it installs that Node from the npm registry (the `node-<platform>-<arch>` package that ships the binary,
 * cached under node_modules/.cache), then with it first on PATH (so the workers npm start launches use it too):
 * the unit tests, and a short `npm start` (no drill, no browser) that must verify. Prints one line per check and
 * exits non-zero when one fails. Not part of `npm test`: it downloads two Node builds and takes minutes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { SUPPORTED_NODE_MAJORS } from './node-support.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'streamfleet-node');

function nodeBinary(major: number): string {
  const pkg = `node-${process.platform}-${process.arch}`;
  const prefix = join(CACHE, String(major));
  const binary = join(prefix, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(binary)) {
    const install = spawnSync(
      'npm',
      ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `${pkg}@${major}`],
      {
        stdio: 'inherit',
      },
    );
    if (install.status !== 0) throw new Error(`could not install ${pkg}@${major} from the npm registry`);
  }
  return binary;
}

function run(label: string, node: string, args: string[]): boolean {
  const started = Date.now();
  const result = spawnSync(node, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}`, CI: '' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const ok = result.status === 0;
  const took = ((Date.now() - started) / 1000).toFixed(0);
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${label} (${took} s)\n`);
  if (!ok) process.stdout.write(`${(result.stdout + result.stderr).slice(-3000)}\n`);
  return ok;
}

let failures = 0;
for (const major of SUPPORTED_NODE_MAJORS) {
  const node = nodeBinary(major);
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  process.stdout.write(`Node.js ${version}\n`);
  const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  if (!run(`${version}: unit tests`, node, [vitest, 'run', 'test/unit', 'test/local/units.test.ts']))
    failures++;
  const reportDir = mkdtempSync(join(tmpdir(), `streamfleet-node${major}-`));
  const start = ['--import', 'tsx', 'local/start.ts', '--items', '200', '--rate', '40', '--max-workers', '2'];
  const options = ['--no-drill', '--no-browser-check', '--quiet', '--report-dir', reportDir];
  if (!run(`${version}: npm start (200 items) verifies`, node, [...start, ...options])) failures++;
  rmSync(reportDir, { recursive: true, force: true });
}
process.stdout.write(`${failures === 0 ? 'every check passed' : `${failures} check(s) failed`}\n`);
process.exit(failures === 0 ? 0 : 1);
