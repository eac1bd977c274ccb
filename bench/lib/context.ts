/** What every benchmark gets from the runner. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { LoopName } from './bundle.js';

export interface BenchContext {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
  /** The DynamoDB Local java process, for its CPU time. */
  readonly javaPid: number | undefined;
  readonly quick: boolean;
  readonly loops: Record<LoopName | 'profiler-preload', string>;
  /** Where profiles go (bench/profiles). */
  readonly profileDir: string;
  log(message: string): void;
}
