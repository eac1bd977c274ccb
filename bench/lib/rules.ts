/**
 * The strict layer (local/aws-rules) in front of the bench's DynamoDB Local, as a child process of its own so
 * that it never shares an event loop with the bench's load generator and observers. Every worker and bare loop
 * talks to it; the bench's own traffic (preloads, the load, the replica observer) goes to DynamoDB Local
 * directly, so the layer's counters hold the measured programs' requests only.
 */
import type { RuleSwitches } from '../../local/aws-rules/index.js';
import {
  type AwsRulesStats,
  fetchAwsRulesStats,
  formatRuleSwitches,
  resetAwsRulesStats,
  setAwsRules,
} from '../../local/aws-rules/index.js';
import { onCleanup, spawnTracked } from './cleanup.js';

export interface RulesLayer {
  readonly endpoint: string;
  /** The switches as started (the run's headline: all on unless --aws-rules says otherwise). */
  readonly headline: RuleSwitches;
  set(switches: Partial<RuleSwitches>): Promise<RuleSwitches>;
  stats(): Promise<AwsRulesStats>;
  reset(): Promise<void>;
  /** Runs `body` with `switches`, then restores the headline switches. */
  with<T>(switches: Partial<RuleSwitches>, body: () => Promise<T>): Promise<T>;
}

export async function startRulesLayer(
  program: string,
  upstream: string,
  headline: RuleSwitches,
): Promise<RulesLayer & { stop(): Promise<void> }> {
  const child = spawnTracked(
    process.execPath,
    [program, '--upstream', upstream, '--rules', formatRuleSwitches(headline)],
    { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { endpoint: string }).endpoint);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`strict layer exited ${code}: ${err.slice(-2000)}`)));
  });
  const stop = onCleanup('strict layer', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  });
  const layer = {
    endpoint,
    headline,
    set: (switches: Partial<RuleSwitches>) => setAwsRules(endpoint, switches),
    stats: () => fetchAwsRulesStats(endpoint),
    reset: () => resetAwsRulesStats(endpoint),
    async with<T>(switches: Partial<RuleSwitches>, body: () => Promise<T>): Promise<T> {
      await setAwsRules(endpoint, switches);
      try {
        return await body();
      } finally {
        await setAwsRules(endpoint, headline);
      }
    },
    stop,
  };
  return layer;
}
