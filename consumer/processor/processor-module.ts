/**
 * PROCESSOR_MODULE: the container runs a user's stream application by importing the module this names (a file
 * path, or a package installed beside the worker) and taking its `default` or `processor` export — a record
 * processor, or a function (sync or async) that returns one.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigurationError } from '../../core/vocabulary/errors.js';
import type { RecordProcessor } from './record-processor.js';

const VARIABLE = 'PROCESSOR_MODULE';

function isProcessor(value: unknown): value is RecordProcessor {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { processRecords?: unknown }).processRecords === 'function'
  );
}

/** A path (absolute, or relative to the working directory) becomes a file URL; a package name stays as it is. */
export function moduleSpecifier(module: string, cwd = process.cwd()): string {
  const path =
    module.startsWith('.') || isAbsolute(module) || module.startsWith('file:') ? module : undefined;
  if (path === undefined) return module;
  return path.startsWith('file:') ? path : pathToFileURL(resolve(cwd, path)).href;
}

export async function loadProcessorModule(module: string): Promise<RecordProcessor> {
  let exports: Record<string, unknown>;
  try {
    exports = (await import(moduleSpecifier(module))) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new ConfigurationError(
      VARIABLE,
      missing
        ? `cannot find module "${module}" (${(error as Error).message}). Give a path to a built .js/.mjs file (absolute, or relative to ${process.cwd()}), or the name of a package installed beside the worker.`
        : `module "${module}" failed to load: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      { cause: error },
    );
  }
  for (const name of ['default', 'processor'] as const) {
    let candidate = exports[name];
    if (typeof candidate === 'function' && !isProcessor(candidate)) {
      try {
        candidate = await (candidate as () => unknown)();
      } catch (error) {
        throw new ConfigurationError(
          VARIABLE,
          `the "${name}" export of "${module}" threw while creating the processor: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    }
    if (isProcessor(candidate)) return candidate;
  }
  throw new ConfigurationError(
    VARIABLE,
    `module "${module}" exports no record processor: export one as \`default\` or \`processor\` (an object with a processRecords(input) function, or a function returning one). It exports: ${Object.keys(exports).join(', ') || 'nothing'}.`,
  );
}
