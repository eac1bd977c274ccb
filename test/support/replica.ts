/** Comparing a replica with its source, the way a user would check that nothing was lost. */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PROCESSED_BY_ATTRIBUTE, SEQUENCE_ATTRIBUTE } from '../../consumer/processor/replica-writer.js';
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

function stable(value: unknown): string {
  if (value instanceof Uint8Array) return `b64:${Buffer.from(value).toString('base64')}`;
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export async function diffReplica(
  client: DynamoDBClient,
  source: string,
  target: string,
  key = 'email',
): Promise<ReplicaDiff> {
  const [sourceItems, replicaItems] = await Promise.all([scanAll(client, source), scanAll(client, target)]);
  const replica = new Map(replicaItems.map((item) => [stable(item[key]), item]));
  const diff: ReplicaDiff = { missing: [], differing: [], extra: [], processedBy: {} };
  for (const item of sourceItems) {
    const id = stable(item[key]);
    const copy = replica.get(id);
    replica.delete(id);
    if (!copy) diff.missing.push(id);
    else if (stable(withoutBookkeeping(copy)) !== stable(item)) diff.differing.push(id);
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
