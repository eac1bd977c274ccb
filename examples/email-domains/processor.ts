/**
 * A materialised view kept exactly once: how many users each e-mail domain has. For every change of the
 * `users` table (keyed by `email`), the count of the domain the user joined goes up and the count of the one
 * they left goes down. The counts are DynamoDB `ADD`s, which are not idempotent: applied twice, a count is
 * wrong for good. So the processor never writes them itself: it returns them, and the worker commits them in
 * the same fenced transaction as the checkpoint. After a crash, the batch is either wholly counted with its
 * checkpoint, or not at all; a worker that lost its lease cannot commit.
 *
 * Written against the public API only (`import type` from 'streamfleet'): it runs in the worker's container
 * (PROCESSOR_MODULE) as well as in a program that calls startWorker.
 *
 * The view table: partition key `domain` (S); attribute `users` (N).
 */
import type {
  ChangeRecord,
  ProcessorContext,
  ProcessRecordsInput,
  ProcessRecordsResult,
  RecordProcessor,
  TransactionWrite,
} from 'streamfleet';

/** A transaction holds 100 items: the worker's lease item and at most 99 writes. */
const MAX_WRITES = 99;

export function domainOf(email: unknown): string | undefined {
  if (typeof email !== 'string') return undefined;
  const at = email.lastIndexOf('@');
  return at > 0 && at < email.length - 1 ? email.slice(at + 1).toLowerCase() : undefined;
}

/** How one change moves the counts: +1 for the domain after it, −1 for the domain before it. */
export function countChanges(record: ChangeRecord): Map<string, number> {
  const deltas = new Map<string, number>();
  const add = (domain: string | undefined, delta: number) => {
    if (domain !== undefined) deltas.set(domain, (deltas.get(domain) ?? 0) + delta);
  };
  add(domainOf(record.oldImage?.email), -1);
  add(domainOf(record.newImage?.email), +1);
  return deltas;
}

export interface EmailDomainOptions {
  /** The view table (partition key `domain`, a string). */
  tableName: string;
}

export function emailDomainCounts(options: EmailDomainOptions): RecordProcessor {
  const { tableName } = options;
  const update = (domain: string, delta: number, sequenceNumber: string): TransactionWrite => ({
    item: {
      Update: {
        TableName: tableName,
        Key: { domain: { S: domain } },
        UpdateExpression: 'ADD #users :delta',
        ExpressionAttributeNames: { '#users': 'users' },
        ExpressionAttributeValues: { ':delta': { N: String(delta) } },
      },
    },
    // The counts are whole up to this record: the worker may commit here and move the checkpoint with it.
    sequenceNumber,
  });

  return {
    prepare(context: ProcessorContext) {
      // A MODIFY must say which domain the user left: the stream has to carry old images too.
      if (context.streamViewType !== 'NEW_AND_OLD_IMAGES') {
        throw new Error(
          `${context.streamArn} has view type ${context.streamViewType}; the e-mail domain view needs NEW_AND_OLD_IMAGES.`,
        );
      }
    },

    processRecords({ records }: ProcessRecordsInput): ProcessRecordsResult {
      const writes: TransactionWrite[] = [];
      let pending = new Map<string, number>();
      let last: string | undefined;
      const flush = () => {
        for (const [domain, delta] of pending) if (delta !== 0 && last) writes.push(update(domain, delta, last));
        pending = new Map();
      };
      for (const record of records) {
        const deltas = countChanges(record);
        const fresh = [...deltas.keys()].filter((domain) => !pending.has(domain)).length;
        // Counts of up to 99 domains fit one transaction: cut before a record that would make it 100.
        if (pending.size + fresh > MAX_WRITES) flush();
        for (const [domain, delta] of deltas) pending.set(domain, (pending.get(domain) ?? 0) + delta);
        last = record.sequenceNumber;
      }
      flush();
      return { writes };
    },
  };
}

/** For PROCESSOR_MODULE: the view table is named by VIEW_TABLE_NAME. */
export default function fromEnvironment(): RecordProcessor {
  const tableName = process.env.VIEW_TABLE_NAME;
  if (!tableName) throw new Error('VIEW_TABLE_NAME is required: the table the e-mail domain counts are kept in.');
  return emailDomainCounts({ tableName });
}
