/**
 * The bare loop (bench/loops/bare-loop.ts), the limit the drain and lag benchmarks hold the worker against,
 * started the one way both use: its replica table and its fence table (one lease item for the shard, owned by
 * `bare-loop`) made first, then the loop's process with its configuration in BENCH_LOOP, against the strict
 * layer (a caller may measure between the two). The caller reads its output and waits for it; `spawnTracked`
 * kills it on every exit path.
 */
import type { ChildProcess } from 'node:child_process';
import type { BareLoopConfig } from '../loops/bare-loop.js';
import { spawnTracked } from './cleanup.js';
import type { BenchContext } from './context.js';
import { createFenceTable, createTable } from './ddb.js';

const INSTANCE_NAME = 'bare-loop';

/** What a run decides; the rest (endpoint, shard, tables, name) is the same for every run. */
export type BareLoopRun = Omit<
  BareLoopConfig,
  'endpoint' | 'streamArn' | 'shardId' | 'target' | 'fenceTable' | 'instanceName'
>;

export interface BareLoopTables {
  target: string;
  fenceTable: string;
}

/** The loop's replica table, and its fence table with the shard's lease item owned by the loop. */
export async function createBareLoopTables(
  ctx: BenchContext,
  shardId: string,
  tables: BareLoopTables,
): Promise<void> {
  await createTable(ctx.client, tables.target);
  await createFenceTable(ctx.client, tables.fenceTable, shardId, INSTANCE_NAME);
}

export function spawnBareLoop(
  ctx: BenchContext,
  source: { streamArn: string; shardId: string },
  tables: BareLoopTables,
  run: BareLoopRun,
): ChildProcess {
  const config: BareLoopConfig = {
    endpoint: ctx.endpoint,
    streamArn: source.streamArn,
    shardId: source.shardId,
    target: tables.target,
    fenceTable: tables.fenceTable,
    instanceName: INSTANCE_NAME,
    ...run,
  };
  return spawnTracked(process.execPath, [ctx.loops['bare-loop']], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      BENCH_LOOP: JSON.stringify(config),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
