/** What every benchmark gets from the runner. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { LoopName } from './bundle.js';
import type { RulesLayer } from './rules.js';

export interface BenchContext {
  /** The strict layer in front of DynamoDB Local: what workers and bare loops talk to. */
  readonly endpoint: string;
  /** DynamoDB Local itself: the bench's own traffic (preloads, load, observers), never counted or limited. */
  readonly directEndpoint: string;
  /** The strict layer's switches and counters. */
  readonly rules: RulesLayer;
  /** On the direct endpoint. */
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
