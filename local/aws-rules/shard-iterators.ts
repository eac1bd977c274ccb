/**
 * Which shard a GetRecords reads. Its only input is the opaque ShardIterator, so the layer learns it two
 * ways:
 *
 * 1. By mapping iterators it has seen (see `stream-limits.ts`): a GetShardIterator request names the
 *    stream and shard, its answer carries the iterator; a GetRecords answer's `NextShardIterator`
 *    continues the same shard. This works for any iterator format, AWS's included.
 * 2. By reading the iterator, for iterators it has not seen (issued before the layer started, or whose
 *    answer it could not read). DynamoDB Local's iterators are
 *    `<stream ARN>|001|<base64 of "<shard id>|<sequence number>|<issued at, ms>">`; the scripted stream
 *    fixture's are `<stream ARN>|1|<base64url of {"shardId":...,"position":...,"generation":...}>`.
 *
 * An iterator neither way explains is let through and counted as unattributed.
 */

export interface ShardRef {
  readonly streamArn: string;
  readonly shardId: string;
}

export function shardKey(shard: ShardRef): string {
  return `${shard.streamArn}|${shard.shardId}`;
}

/** The stream and shard inside a DynamoDB Local (or scripted stream) iterator; undefined otherwise. */
export function shardOfIterator(iterator: string): ShardRef | undefined {
  const parts = iterator.split('|');
  if (parts.length !== 3) return undefined;
  const [streamArn = '', , opaque = ''] = parts;
  if (!streamArn.includes(':table/') || !streamArn.includes('/stream/')) return undefined;
  // Node's base64 decoder takes both the standard and the URL-safe alphabets.
  const decoded = Buffer.from(opaque, 'base64').toString('utf8');
  if (decoded.startsWith('shardId-')) {
    const shardId = decoded.split('|', 1)[0];
    return shardId ? { streamArn, shardId } : undefined;
  }
  if (decoded.startsWith('{')) {
    try {
      const state = JSON.parse(decoded) as { shardId?: unknown };
      if (typeof state.shardId === 'string' && state.shardId !== '')
        return { streamArn, shardId: state.shardId };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const NEXT_FIELD = '"NextShardIterator"';

/**
 * The `NextShardIterator` of a GetRecords answer, found from the end of its text (where DynamoDB Local
 * and the scripted stream put it) without parsing the records; undefined when the field is absent or
 * null (the shard has ended). Only a top-level field can match: inside records, quotes in strings are
 * escaped and attribute values are objects.
 */
export function nextShardIteratorIn(text: string): string | undefined {
  const at = text.lastIndexOf(NEXT_FIELD);
  if (at < 0) return undefined;
  let index = at + NEXT_FIELD.length;
  index = skipSpace(text, index);
  if (text[index] !== ':') return undefined;
  index = skipSpace(text, index + 1);
  if (text[index] !== '"') return undefined;
  const start = index + 1;
  let end = start;
  let escaped = false;
  while (end < text.length && text[end] !== '"') {
    if (text[end] === '\\') {
      escaped = true;
      end += 1;
    }
    end += 1;
  }
  if (end >= text.length) return undefined;
  const raw = text.slice(start, end);
  if (!escaped) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

function skipSpace(text: string, index: number): number {
  let at = index;
  while (
    at < text.length &&
    (text[at] === ' ' || text[at] === '\n' || text[at] === '\r' || text[at] === '\t')
  ) {
    at += 1;
  }
  return at;
}
