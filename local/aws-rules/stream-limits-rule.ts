/**
 * The I/O side of the stream limits (`stream-limits.ts`): reads GetShardIterator, GetRecords and
 * DescribeStream requests, learns iterators from their answers, and answers `LimitExceededException`
 * in AWS's wire shape when a limit is hit.
 */
import { errorTypeOf, limitExceeded } from './errors.js';
import { type Admission, type AwsRequest, PASS, type RequestHead, type Rule, refuse } from './rule.js';
import { nextShardIteratorIn } from './shard-iterators.js';
import type { AwsRulesStatsRecorder } from './stats.js';
import type { StreamLimits } from './stream-limits.js';
import type { RuleSwitches } from './switches.js';

/** Errors after which an iterator can never be read again, so its reader is gone. */
const DEAD_ITERATOR = new Set([
  'ExpiredIteratorException',
  'TrimmedDataAccessException',
  'ResourceNotFoundException',
]);

export class StreamLimitsRule implements Rule {
  readonly name = 'streamLimits';

  constructor(
    private readonly limits: StreamLimits,
    private readonly stats: AwsRulesStatsRecorder,
  ) {}

  inspects(head: RequestHead, switches: RuleSwitches): boolean {
    if (head.service !== 'streams') return false;
    switch (head.operation) {
      case 'GetShardIterator':
      case 'GetRecords':
        return switches.getRecordsRate || switches.readersPerShard;
      case 'DescribeStream':
        return switches.describeStreamRate;
      default:
        return false;
    }
  }

  admit(request: AwsRequest, switches: RuleSwitches): Admission {
    const input = request.json();
    switch (request.operation) {
      case 'GetShardIterator':
        return this.watchIterator(input?.StreamArn, input?.ShardId);
      case 'GetRecords':
        return this.admitGetRecords(input?.ShardIterator, switches);
      case 'DescribeStream':
        return this.admitDescribeStream(input?.StreamArn, switches);
      default:
        return PASS;
    }
  }

  private watchIterator(streamArn: unknown, shardId: unknown): Admission {
    if (typeof streamArn !== 'string' || typeof shardId !== 'string') return PASS;
    return {
      kind: 'pass',
      watch: {
        settle: (outcome) => {
          if (outcome.kind !== 'answered' || outcome.status !== 200 || !outcome.complete) return;
          const iterator = shardIteratorOf(outcome.tail);
          if (iterator) this.limits.iteratorIssued({ streamArn, shardId }, iterator);
        },
      },
    };
  }

  private admitGetRecords(iterator: unknown, switches: RuleSwitches): Admission {
    if (typeof iterator !== 'string') return PASS;
    const verdict = this.limits.getRecords(iterator, switches);
    if (verdict.kind === 'unattributed') {
      this.stats.getRecordsUnattributed();
      return PASS;
    }
    const { shardId, streamArn } = verdict.shard;
    if (verdict.kind === 'refused') {
      if (verdict.rule === 'getRecordsRate') {
        this.stats.getRecordsRateRefused(shardId);
        return refuse(limitExceeded(`Rate exceeded for shard ${shardId} in stream ${streamArn}`));
      }
      this.stats.readersRefused(shardId);
      return refuse(
        limitExceeded(
          `Too many readers for shard ${shardId} in stream ${streamArn}: ${verdict.otherReaders} other readers ` +
            `are active, and at most ${this.limits.config.readersPerShard} processes may read from the same ` +
            'streams shard at the same time',
        ),
      );
    }
    this.stats.getRecordsAccepted(shardId, this.limits.now());
    return {
      kind: 'pass',
      watch: {
        settle: (outcome) => {
          if (outcome.kind !== 'answered') return;
          if (outcome.status === 200) {
            this.limits.getRecordsAnswered(iterator, nextShardIteratorIn(outcome.tail));
          } else if (DEAD_ITERATOR.has(errorTypeOf(outcome.tail) ?? '')) {
            this.limits.getRecordsAnswered(iterator, undefined);
          }
        },
      },
    };
  }

  private admitDescribeStream(streamArn: unknown, switches: RuleSwitches): Admission {
    if (typeof streamArn !== 'string') return PASS;
    if (this.limits.describeStream(streamArn, switches)) return PASS;
    this.stats.describeStreamRefused(streamArn);
    return refuse(
      limitExceeded(
        `Rate exceeded for DescribeStream on stream ${streamArn}: at most ` +
          `${this.limits.config.describeStreamPerSecond} calls a second`,
      ),
    );
  }
}

function shardIteratorOf(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { ShardIterator?: unknown };
    return typeof parsed.ShardIterator === 'string' ? parsed.ShardIterator : undefined;
  } catch {
    return undefined;
  }
}
