/**
 * The strict layer: an HTTP proxy between every AWS SDK client and DynamoDB Local that enforces the AWS
 * rules the emulator does not, so the worker is tested and measured under them.
 *
 * | rule (switch) | AWS source | answer |
 * |---|---|---|
 * | `transactionConflicts` | DynamoDB Developer Guide, "Transaction conflict handling in DynamoDB" | `TransactionConflictException`, `TransactionCanceledException` (reason `TransactionConflict`) |
 * | `getRecordsRate` | DynamoDB Streams GetRecords `LimitExceededException`; Kinesis' 5 reads/s per shard | `LimitExceededException` |
 * | `readersPerShard` | DynamoDB Streams API reference: "more than 2 processes reading from the same streams shard" | `LimitExceededException` |
 * | `describeStreamRate` | DescribeStream about 10 calls/s | `LimitExceededException` |
 * | `tableUpdates` | UpdateTable: no second UpdateTable while the table is UPDATING | `ResourceInUseException` |
 * | `iam` | IAM policy evaluation ("Policy evaluation logic"), per action and exact resource ARN | `AccessDeniedException` |
 *
 * What each models and leaves out is written at the top of `transaction-conflicts.ts`,
 * `stream-limits.ts` and `iam-rule.ts` (with `iam-requests.ts` and core/iam/iam-evaluation.ts).
 *
 * ```ts
 * const layer = await AwsRulesProxy.start({ upstream: inject('ddbEndpoint') });
 * const ddb = new DynamoDBClient({ endpoint: layer.endpoint, region, credentials });
 * // ... run the worker, then:
 * const { refused } = layer.stats(); // or await fetchAwsRulesStats(layer.endpoint) from another process
 * layer.setRules({ transactionConflicts: false });
 * await layer.close();
 * ```
 */
export {
  AwsRulesControlError,
  CONTROL_PREFIX,
  deleteIamRole,
  fetchAwsRules,
  fetchAwsRulesStats,
  fetchIamRoles,
  registerIamCredentials,
  registerIamRole,
  resetAwsRulesStats,
  setAwsRules,
} from './control.js';
export type { Principal, RegisteredCredentials, RegisteredRole } from './iam-registry.js';
export { IamRegistrationError } from './iam-registry.js';
export { DYNAMODB_LOCAL_LOCATION } from './iam-requests.js';
export type { AwsRulesProxyOptions } from './proxy.js';
export { AwsRulesProxy, DEFAULT_TRANSACTION_COMMIT_LATENCY_MS } from './proxy.js';
export { peakReadsPerShardSecond, type RefusedCounts, refusedCounts } from './refusals.js';
export type { Admission, AwsRequest, RequestHead, ResponseWatch, Rule, UpstreamOutcome } from './rule.js';
export type {
  AwsRulesStats,
  CountByPrincipal,
  CountByShard,
  CountByStream,
  CountByTable,
  IamRefusal,
  TransactionConflictRefusals,
} from './stats.js';
export type { RulesClock, StreamLimitsConfig } from './stream-limits.js';
export { DEFAULT_STREAM_LIMITS } from './stream-limits.js';
export type { RuleName, RuleSwitches } from './switches.js';
export {
  ALL_RULES_OFF,
  ALL_RULES_ON,
  formatRuleSwitches,
  parseRuleSwitches,
  RULE_NAMES,
  RuleSwitchesError,
} from './switches.js';
