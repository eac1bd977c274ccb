/**
 * `npm start -- [options]`: what a person can choose, parsed and checked with messages that name the option.
 * Pure (no I/O) so the rules are unit-tested; `planLoad` turns items, rate and duration into the setup
 * workflow's `load` input (batches that the GenerateLoad Map state writes two at a time).
 */
import { parseArgs } from 'node:util';
import { ALL_RULES_ON, parseRuleSwitches, type RuleSwitches, RuleSwitchesError } from '../aws-rules/index.js';

export const OutputMode = { Live: 'live', Quiet: 'quiet', Json: 'json' } as const;
export type OutputMode = (typeof OutputMode)[keyof typeof OutputMode];

export interface StartOptions {
  /** Items the load writes (rounded up to whole batches). */
  items: number;
  /** Items per second, over the whole load. */
  rate: number;
  /** Seconds the load lasts (items / rate). */
  durationSeconds: number;
  /** The ScaledObject's maxReplicaCount. */
  maxWorkers: number;
  /** KEDA's trigger `shardCount`: shards per worker. */
  shardCount: number;
  /** Milliseconds between DynamoDB Local's shard rollovers; 0 = none (one shard for ever). */
  rolloverMs: number;
  keepRunning: boolean;
  /** Persist DynamoDB Local's data here instead of in memory. */
  dataDir: string | undefined;
  /** Where report.json and report.html go. */
  reportDir: string | undefined;
  output: OutputMode;
  drill: boolean;
  browserCheck: boolean;
  /** The strict layer's rules (docs/aws-rules.md): all on unless --aws-rules says otherwise. */
  awsRules: RuleSwitches;
  /** An example of examples/ that runs instead of replication (local/start/example-processor.ts). */
  processor: string | undefined;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const DEFAULTS = {
  rate: 50,
  durationSeconds: 90,
  maxWorkers: 4,
  shardCount: 2,
  rolloverSeconds: 5,
} as const;

export const HELP = `Usage: npm start -- [options]

Runs Streamfleet's whole story on this machine: DynamoDB Local with real shard rollovers, the setup
workflow (statemachines/setup.asl.json with the real handlers) against a local-process cluster with a
local KEDA, a load, a fault drill, then the verify workflow. Shows it live, writes a JSON and an HTML
report, and exits 0 only when verification passed.

Load (give at most two of the three; the third follows):
  --items N             items to write (default: rate x duration = ${DEFAULTS.rate * DEFAULTS.durationSeconds})
  --rate N              items per second (default ${DEFAULTS.rate})
  --duration S          seconds of load (default ${DEFAULTS.durationSeconds})

Fleet:
  --max-workers N       KEDA's maxReplicaCount (default ${DEFAULTS.maxWorkers})
  --shard-count N       KEDA's shardCount trigger setting: shards per worker (default ${DEFAULTS.shardCount})
  --rollover-seconds S  close every open shard and open a child every S seconds (default ${DEFAULTS.rolloverSeconds})
  --no-rollovers        no rollovers: the stream keeps one shard, as DynamoDB Local does by itself
  --no-drill            skip the fault drill (SIGKILL one worker, scale one in)

Run:
  --keep-running        after verification, keep everything running (live view goes on) until Ctrl-C
  --data-dir DIR        persist DynamoDB Local's data in DIR (default: in memory)
  --aws-rules SPEC      AWS's rules the strict layer enforces in front of DynamoDB Local: all (default),
                        none, or e.g. -transactionConflicts (docs/aws-rules.md)
  --report-dir DIR      write report.json and report.html to DIR (default: reports/local/<time>)
  --no-browser-check    do not open the HTML report in headless Chromium to check its charts
  --processor NAME      run an example of examples/ instead of replication
                        (email-domains: users per e-mail domain, docs/processors.md)
  --quiet               print only the summary and the report's path
  --json                print only one JSON document (the report's summary) on stdout
  -h, --help            show this help

Exit codes: 0 verified, 1 setup or verification failed, 2 bad option, 3 Java 17 or the build missing,
130 interrupted (Ctrl-C).
`;

function whole(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    throw new UsageError(`--${name} expects a whole number from ${min} to ${max}, got "${raw}".`);
  }
  return n;
}

/** The parsed options, or 'help' when help was asked for. Throws UsageError with a sentence for a person. */
export function parseStartOptions(argv: readonly string[]): StartOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        items: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        'max-workers': { type: 'string' },
        'shard-count': { type: 'string' },
        'rollover-seconds': { type: 'string' },
        'no-rollovers': { type: 'boolean' },
        'no-drill': { type: 'boolean' },
        'keep-running': { type: 'boolean' },
        'data-dir': { type: 'string' },
        'aws-rules': { type: 'string' },
        'report-dir': { type: 'string' },
        'no-browser-check': { type: 'boolean' },
        processor: { type: 'string' },
        quiet: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(
      `${error instanceof Error ? error.message : String(error)} (see npm start -- --help)`,
    );
  }
  if (values.help) return 'help';
  const text = (name: string) => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const given = ['items', 'rate', 'duration'].filter((name) => text(name) !== undefined);
  if (given.length === 3) {
    throw new UsageError('Give at most two of --items, --rate and --duration: the third follows from them.');
  }
  let items = text('items') === undefined ? undefined : whole('items', text('items') as string, 1, 100_000);
  let rate = text('rate') === undefined ? undefined : whole('rate', text('rate') as string, 1, 2_000);
  let duration =
    text('duration') === undefined ? undefined : whole('duration', text('duration') as string, 1, 3_600);
  if (items !== undefined && duration !== undefined) rate = Math.max(1, Math.ceil(items / duration));
  rate ??= DEFAULTS.rate;
  if (items === undefined) items = rate * (duration ?? DEFAULTS.durationSeconds);
  if (items > 100_000) {
    throw new UsageError(`--rate x --duration makes ${items} items; at most 100000 are allowed.`);
  }
  duration = Math.ceil(items / rate);

  const rolloverSeconds =
    text('rollover-seconds') === undefined
      ? DEFAULTS.rolloverSeconds
      : whole('rollover-seconds', text('rollover-seconds') as string, 1, 3_600);
  if (values['no-rollovers'] && text('rollover-seconds') !== undefined) {
    throw new UsageError('--no-rollovers and --rollover-seconds contradict each other: choose one.');
  }
  if (values.quiet && values.json) throw new UsageError('--quiet and --json exclude each other.');
  const output = values.json ? OutputMode.Json : values.quiet ? OutputMode.Quiet : OutputMode.Live;
  const dataDir = text('data-dir');
  const reportDir = text('report-dir');
  if (dataDir === '') throw new UsageError('--data-dir expects a folder.');
  let awsRules: RuleSwitches = { ...ALL_RULES_ON };
  const rulesSpec = text('aws-rules');
  if (rulesSpec !== undefined) {
    try {
      awsRules = parseRuleSwitches(rulesSpec);
    } catch (error) {
      if (error instanceof RuleSwitchesError) throw new UsageError(`--aws-rules: ${error.message}`);
      throw error;
    }
  }
  if (reportDir === '') throw new UsageError('--report-dir expects a folder.');
  return {
    items,
    rate,
    durationSeconds: duration,
    maxWorkers:
      text('max-workers') === undefined
        ? DEFAULTS.maxWorkers
        : whole('max-workers', text('max-workers') as string, 1, 16),
    shardCount:
      text('shard-count') === undefined
        ? DEFAULTS.shardCount
        : whole('shard-count', text('shard-count') as string, 1, 100),
    rolloverMs: values['no-rollovers'] ? 0 : rolloverSeconds * 1000,
    keepRunning: values['keep-running'] === true,
    dataDir,
    reportDir,
    output,
    drill: values['no-drill'] !== true,
    browserCheck: values['no-browser-check'] !== true,
    awsRules,
    processor: text('processor'),
  };
}

/** The setup workflow's `load` input. */
export interface LoadPlan {
  batches: number;
  itemsPerBatch: number;
  /** Per GenerateLoad invocation; the Map state runs two at a time. */
  ratePerSecond: number;
  /** batches x itemsPerBatch: at least the items asked for, less than one item per batch more. */
  total: number;
}

/** Seconds one batch should take: short enough for a smooth progress bar, long enough to be cheap. */
const BATCH_SECONDS = 6;
/** The setup workflow's GenerateLoad Map state runs this many batches at once. */
export const LOAD_CONCURRENCY = 2;

export function planLoad(items: number, rate: number): LoadPlan {
  const concurrency = items >= LOAD_CONCURRENCY ? LOAD_CONCURRENCY : 1;
  const ratePerSecond = Math.max(1, Math.ceil(rate / concurrency));
  let itemsPerBatch = Math.min(5_000, Math.max(1, Math.round(ratePerSecond * BATCH_SECONDS)));
  let batches = Math.max(concurrency, Math.ceil(items / itemsPerBatch));
  batches = Math.min(batches, 1_000, items);
  itemsPerBatch = Math.ceil(items / batches);
  return { batches, itemsPerBatch, ratePerSecond, total: batches * itemsPerBatch };
}
