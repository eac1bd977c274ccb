/**
 * `node dist/consumer.js`: one worker. Exit codes: 0 after a graceful stop, 2 for bad configuration,
 * 3 for a missing or unusable stream or table, 1 for anything else.
 */
import { hostname } from 'node:os';
import { systemClock } from '../core/clock.js';
import { ConfigurationError, ResourceError } from '../core/errors.js';
import { parseConfig } from './config.js';
import { WorkerEvents } from './observability/events.js';
import { createLogger } from './observability/logger.js';
import { startWorker, type Worker } from './worker.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function fail(code: number, kind: string, message: string): never {
  process.stderr.write(`streamfleet consumer: ${kind}: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(process.env, hostname());
  } catch (error) {
    if (error instanceof ConfigurationError) fail(2, 'configuration error', error.message);
    throw error;
  }
  const log = createLogger(config.instanceName, config.logLevel);
  const events = new WorkerEvents(log);
  let worker: Worker | undefined;
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
    (worker ? worker.shutdown() : Promise.resolve()).then(
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
    events.emit(
      'worker.starting',
      {
        streamArn: config.streamArn,
        targetTable: config.targetTableName,
        leaseTable: config.applicationName,
        writeMode: config.writeMode,
      },
      'starting worker',
    );
    worker = await startWorker(config, log, systemClock, events);
    if (stopping) await worker.shutdown().then(() => process.exit(0));
  } catch (error) {
    if (error instanceof ResourceError) fail(3, 'resource error', error.message);
    log.fatal({ err: error }, 'worker failed to start');
    fail(1, 'start-up failed', error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }
}

main().catch((error: unknown) =>
  fail(1, 'fatal', error instanceof Error ? (error.stack ?? error.message) : String(error)),
);
