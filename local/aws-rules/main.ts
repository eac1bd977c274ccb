/**
 * The strict layer as a process of its own: `node --import tsx local/aws-rules/main.ts --upstream URL`.
 * Prints one JSON line `{"endpoint": "http://127.0.0.1:PORT", "rules": "all"}` once it listens, then serves
 * until SIGTERM/SIGINT. The bench runs it apart from itself so the layer and the bench's own load generator
 * never share an event loop; anyone can put it in front of DynamoDB Local to try code under AWS's rules.
 *
 * Options: --upstream URL (required), --streams-upstream URL, --port N, --rules SPEC (see parseRuleSwitches),
 * --commit-latency-ms N.
 */
import { parseArgs } from 'node:util';
import { AwsRulesProxy } from './proxy.js';
import { formatRuleSwitches, parseRuleSwitches, RuleSwitchesError } from './switches.js';

const USAGE =
  'usage: aws-rules --upstream URL [--streams-upstream URL] [--port N] [--rules all|none|-rule,...] [--commit-latency-ms N]\n';

function fail(message: string): never {
  process.stderr.write(`aws-rules: ${message}\n${USAGE}`);
  process.exit(2);
}

function wholeNumber(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) fail(`--${name} needs a whole number, got "${raw}"`);
  return Number(raw);
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        upstream: { type: 'string' },
        'streams-upstream': { type: 'string' },
        port: { type: 'string' },
        rules: { type: 'string' },
        'commit-latency-ms': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const upstream = values.upstream;
  if (typeof upstream !== 'string')
    fail('--upstream is required (DynamoDB Local, e.g. http://127.0.0.1:8000)');
  let rules: ReturnType<typeof parseRuleSwitches> | undefined;
  try {
    rules = typeof values.rules === 'string' ? parseRuleSwitches(values.rules) : undefined;
  } catch (error) {
    if (error instanceof RuleSwitchesError) fail(error.message);
    throw error;
  }
  const streamsUpstream = values['streams-upstream'];
  const port = wholeNumber('port', values.port as string | undefined);
  const latency = wholeNumber('commit-latency-ms', values['commit-latency-ms'] as string | undefined);
  const layer = await AwsRulesProxy.start({
    upstream,
    ...(typeof streamsUpstream === 'string' ? { streamsUpstream } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(rules ? { rules } : {}),
    ...(latency !== undefined ? { transactionCommitLatencyMs: latency } : {}),
  });
  process.stdout.write(
    `${JSON.stringify({ endpoint: layer.endpoint, rules: formatRuleSwitches(layer.rules()) })}\n`,
  );
  const stop = () => {
    void layer.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `aws-rules: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
