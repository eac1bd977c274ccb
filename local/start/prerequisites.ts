/**
 * What `npm start` needs before it starts anything: the built worker bundle and a Java 17+ runtime for
 * DynamoDB Local. Each missing piece is a MissingPrerequisiteError (exit 3) that says how to get it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CONSUMER_BUNDLE } from '../cluster/index.js';

export class MissingPrerequisiteError extends Error {
  override readonly name = 'MissingPrerequisiteError';
}

/** dist/consumer.js, which every local pod runs. */
export function checkConsumerBundle(): void {
  if (!existsSync(CONSUMER_BUNDLE)) {
    throw new MissingPrerequisiteError(`${CONSUMER_BUNDLE} is missing: run "npm run build" first.`);
  }
}

/** Java 17 or newer on PATH, or a MissingPrerequisiteError that says how to get it. */
export function checkJava(): string {
  let banner: string;
  try {
    banner = execFileSync('java', ['-version'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr;
    if (typeof stderr === 'string' && /version/.test(stderr)) banner = stderr;
    else
      throw new MissingPrerequisiteError(
        'DynamoDB Local needs a Java 17+ runtime and "java" is not on PATH. ' +
          'On Debian/Ubuntu: sudo apt-get install -y openjdk-17-jdk-headless (the JDK also gives DynamoDB Local ' +
          'its shard rollovers); on macOS: brew install openjdk@17; elsewhere: any Java 17+ distribution, with java on PATH.',
      );
  }
  const version = /version "(\d+)(?:\.(\d+))?/.exec(banner);
  const major = version ? Number(version[1] === '1' ? version[2] : version[1]) : Number.NaN;
  if (Number.isFinite(major) && major < 17) {
    throw new MissingPrerequisiteError(
      `DynamoDB Local needs Java 17 or newer; "java" on PATH is Java ${major}. ` +
        'On Debian/Ubuntu: sudo apt-get install -y openjdk-17-jdk-headless and put it first on PATH.',
    );
  }
  return banner.split('\n')[0]?.trim() ?? '';
}
