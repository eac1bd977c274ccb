/** What `npm run bench` writes to bench/results.json: the figures of every benchmark that ran, and the machine. */
import type { CostResult } from '../benchmarks/cost.js';
import type { DrainResult } from '../benchmarks/drain.js';
import type { FailoverResult } from '../benchmarks/failover.js';
import type { SwitchResult } from '../benchmarks/kcl-switch.js';
import type { LagResult } from '../benchmarks/lag.js';
import type { ScaleResult } from '../benchmarks/scale.js';
import type { VerifyResult } from '../benchmarks/verify.js';
import type { BenchmarkName } from './cli.js';
import type { machineInfo } from './proc.js';

export interface BenchResults {
  version: 1;
  date: string;
  mode: 'full' | 'quick';
  only: BenchmarkName[];
  /** The strict layer's switches for the headline figures (`all` unless --aws-rules said otherwise). */
  awsRules: string;
  machine: ReturnType<typeof machineInfo> & {
    loadAverageAtEnd: number[];
    /** Average busy cores while the bench ran (whole machine); the bench itself accounts for some of it. */
    averageBusyCores: number | undefined;
    dynamodbLocal: string;
  };
  durationSeconds: number;
  drain?: DrainResult;
  lag?: LagResult;
  failover?: FailoverResult;
  kclSwitch?: SwitchResult;
  cost?: CostResult;
  scale?: ScaleResult;
  verify?: VerifyResult;
  [name: string]: unknown;
}
