/**
 * Replicates a batch into the target table: coalesce per item, write order-safely, then deal with records
 * the target refuses for good according to the poison-record policy.
 */

import { PoisonRecordError } from '../../core/errors.js';
import { PoisonPolicy } from '../config.js';
import type { WorkerEvents } from '../observability/events.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { coalesce } from './change.js';
import type { DeadLetterTable } from './dead-letter.js';
import type { ProcessRecordsInput, ProcessResult, ShardRecordProcessor } from './record-processor.js';
import type { ReplicaWriter } from './replica-writer.js';

export interface ReplicationProcessorOptions {
  writer: ReplicaWriter;
  poisonPolicy: PoisonPolicy;
  deadLetter: DeadLetterTable | undefined;
  instanceName: string;
  targetTableName: string;
  metrics: WorkerMetrics;
  events: WorkerEvents;
}

export class ReplicationProcessor implements ShardRecordProcessor {
  constructor(private readonly options: ReplicationProcessorOptions) {}

  async initialize(): Promise<void> {}

  async processRecords(input: ProcessRecordsInput): Promise<ProcessResult> {
    const { writer, metrics, events } = this.options;
    const changes = coalesce(input.records);
    const outcome = await writer.write(changes, {
      shardId: input.shardId,
      isHeld: input.isHeld,
      signal: input.signal,
      checkpoint: input.checkpoint,
    });
    if (outcome.status === 'lease-lost') return 'lease-lost';

    for (const poison of outcome.poison) {
      metrics.poisonRecords.inc();
      events.emit(
        'record.poison',
        {
          shardId: input.shardId,
          sequenceNumber: poison.change.sequenceNumber,
          keys: poison.change.keys,
          reason: poison.reason,
        },
        'poison record: the target table refuses this change',
      );
      if (this.options.poisonPolicy === PoisonPolicy.DEAD_LETTER && this.options.deadLetter) {
        await this.options.deadLetter.record(
          input.shardId,
          poison,
          this.options.instanceName,
          this.options.targetTableName,
        );
        metrics.deadLettered.inc();
      } else {
        throw new PoisonRecordError(input.shardId, poison.change.sequenceNumber, poison.reason);
      }
    }
    for (const record of input.records)
      metrics.recordsProcessed.inc({ event_name: record.eventName ?? 'UNKNOWN' });
    // Poison records (dead-lettered above) keep the writer from checkpointing past them: then the shard
    // consumer checkpoints, after the dead-letter writes.
    return outcome.checkpointed && outcome.poison.length === 0 ? 'checkpointed' : 'processed';
  }

  async leaseLost(): Promise<void> {}
  async shardEnded(): Promise<void> {}
  async shutdownRequested(): Promise<void> {}
}
