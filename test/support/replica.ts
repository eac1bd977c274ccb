/** Comparing a replica with its source, the way a user would check that nothing was lost. */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  PROCESSED_BY_ATTRIBUTE,
  SEQUENCE_ATTRIBUTE,
} from '../../consumer/replication/replication-processor.js';
import { stableText } from '../../core/vocabulary/stable-text.js';
import { scanAll, waitFor } from './fleet.js';

type Item = Record<string, AttributeValue>;

export interface ReplicaDiff {
  missing: string[];
  differing: string[];
  extra: string[];
  processedBy: Record<string, number>;
}

function withoutBookkeeping(item: Item): Item {
  const copy = { ...item };
  delete copy[PROCESSED_BY_ATTRIBUTE];
  delete copy[SEQUENCE_ATTRIBUTE];
  return copy;
}

export async function diffReplica(
  client: DynamoDBClient,
  source: string,
  target: string,
  key = 'email',
): Promise<ReplicaDiff> {
  const [sourceItems, replicaItems] = await Promise.all([scanAll(client, source), scanAll(client, target)]);
  const replica = new Map(replicaItems.map((item) => [stableText(item[key]), item]));
  const diff: ReplicaDiff = { missing: [], differing: [], extra: [], processedBy: {} };
  for (const item of sourceItems) {
    const id = stableText(item[key]);
    const copy = replica.get(id);
    replica.delete(id);
    if (!copy) diff.missing.push(id);
    else if (stableText(withoutBookkeeping(copy)) !== stableText(item)) diff.differing.push(id);
    else {
      const by = copy[PROCESSED_BY_ATTRIBUTE]?.S ?? '(none)';
      diff.processedBy[by] = (diff.processedBy[by] ?? 0) + 1;
    }
  }
  diff.extra = [...replica.keys()];
  return diff;
}

export async function waitForConvergence(
  client: DynamoDBClient,
  source: string,
  target: string,
  timeoutMs = 30_000,
): Promise<ReplicaDiff> {
  let last: ReplicaDiff | undefined;
  try {
    return await waitFor(
      async () => {
        last = await diffReplica(client, source, target);
        return last.missing.length + last.differing.length + last.extra.length === 0 ? last : undefined;
      },
      { timeoutMs, intervalMs: 250, message: 'replica to equal source' },
    );
  } catch (error) {
    throw new Error(
      `${(error as Error).message}: missing ${last?.missing.length}, differing ${last?.differing.length}, extra ${last?.extra.length} ` +
        `(e.g. ${[...(last?.missing ?? []), ...(last?.differing ?? []), ...(last?.extra ?? [])].slice(0, 3).join(' ')})`,
    );
  }
}
