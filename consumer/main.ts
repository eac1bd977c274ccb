/**
 * `node dist/consumer.js`: one worker, configured by its environment, running the processor PROCESSOR_MODULE
 * names or the built-in replication. Exit codes: 0 after a graceful stop, 2 for bad configuration (a processor
 * module that is missing or exports no processor included), 3 for a missing or unusable stream or table, 1 for
 * anything else.
 */
import { hostname } from 'node:os';
import { systemClock } from '../core/vocabulary/clock.js';
import { ConfigurationError, errorName, ResourceError } from '../core/vocabulary/errors.js';
import { type EnvironmentConfig, parseConfig } from './config.js';
import { WorkerEvents } from './observability/events.js';
import { createLogger } from './observability/logger.js';
import { loadProcessorModule } from './processor/processor-module.js';
import type { RecordProcessor } from './processor/record-processor.js';
import { ReplicationProcessor } from './replication/replication-processor.js';
import { type RunningWorker, runWorker } from './worker.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function fail(code: number, kind: string, message: string): never {
  process.stderr.write(`streamfleet consumer: ${kind}: ${message}\n`);
  process.exit(code);
}

async function processorOf(config: EnvironmentConfig): Promise<{ processor: RecordProcessor; name: string }> {
  if (config.processorModule !== undefined)
    return { processor: await loadProcessorModule(config.processorModule), name: config.processorModule };
  // parseConfig reads replication's settings whenever no module is named.
  return {
    processor: new ReplicationProcessor(config.replication as NonNullable<typeof config.replication>),
    name: 'replication',
  };
}

async function main(): Promise<void> {
  let config: EnvironmentConfig;
  let chosen: { processor: RecordProcessor; name: string };
  try {
    config = parseConfig(process.env, hostname());
    chosen = await processorOf(config);
  } catch (error) {
    if (error instanceof ConfigurationError) fail(2, 'configuration error', error.message);
    throw error;
  }
  const log = createLogger(config.instanceName, config.logLevel);
  const events = new WorkerEvents(log);
  let worker: RunningWorker | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    events.emit('worker.stopping', { signal }, 'stopping: draining batches in hand and releasing leases');
    const force = setTimeout(() => {
      log.error('graceful stop took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000);
    force.unref();
    (worker ? worker.stop() : Promise.resolve()).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    worker = await runWorker(config, {
      processor: chosen.processor,
      processorName: chosen.name,
      log,
      events,
      clock: systemClock,
    });
    if (stopping) await worker.stop().then(() => process.exit(0));
  } catch (error) {
    // By name, not class: a processor module that imports the streamfleet package has its own copy of the classes.
    const name = errorName(error);
    const message = error instanceof Error ? error.message : String(error);
    if (name === ConfigurationError.name) fail(2, 'configuration error', message);
    if (name === ResourceError.name) fail(3, 'resource error', message);
    log.fatal({ err: error }, 'worker failed to start');
    fail(1, 'start-up failed', error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }
}

main().catch((error: unknown) =>
  fail(1, 'fatal', error instanceof Error ? (error.stack ?? error.message) : String(error)),
);
