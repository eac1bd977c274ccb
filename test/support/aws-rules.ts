/**
 * The strict layer (local/aws-rules) for tests that start their own DynamoDB Local or stream endpoint: the
 * shared one in front of the global DynamoDB Local is set up by global-setup.ts.
 */
import { inject } from 'vitest';
import { AwsRulesProxy, type AwsRulesProxyOptions, parseRuleSwitches } from '../../local/aws-rules/index.js';

/**
 * DynamoDB Local itself, not the run's shared strict layer, for a test file whose own layer must not stack on
 * another. The global setup provides it as `ddbDirectEndpoint` when it puts a layer in front (looked up by
 * name: a run without that layer has no such key); `ddbEndpoint` is the emulator otherwise.
 */
export function emulatorEndpoint(): string {
  const provided = inject as (key: string) => string | undefined;
  return provided('ddbDirectEndpoint') ?? inject('ddbEndpoint');
}

const started = new Set<AwsRulesProxy>();

/** A layer with the run's switches (STREAMFLEET_AWS_RULES), closed after the test file. */
export async function startAwsRules(options: AwsRulesProxyOptions): Promise<AwsRulesProxy> {
  const spec = process.env.STREAMFLEET_AWS_RULES;
  const layer = await AwsRulesProxy.start({
    ...options,
    rules: { ...(spec ? parseRuleSwitches(spec) : {}), ...options.rules },
  });
  started.add(layer);
  return layer;
}

/**
 * Stream limits in front of a scripted stream (test/support/scripted-stream.ts), DynamoDB requests passed on
 * to `ddbEndpoint` (already behind the shared layer, which models the transaction rule once).
 */
export function streamLimitsInFrontOf(streamEndpoint: string, ddbEndpoint: string): Promise<AwsRulesProxy> {
  return startAwsRules({
    upstream: ddbEndpoint,
    streamsUpstream: streamEndpoint,
    rules: { transactionConflicts: false },
  });
}

/** Closes every layer this file started (test/support/per-file-setup.ts runs it after each test file). */
export async function closeAwsRulesLayers(): Promise<void> {
  await Promise.all([...started].map((layer) => layer.close()));
  started.clear();
}
