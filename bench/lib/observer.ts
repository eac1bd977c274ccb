/**
 * When does an item first appear in the replica? Polls the replica for the keys it waits for, with
 * BatchGetItem (100 keys a request, key attribute only) every `intervalMs`.
 *
 * For each key the appearance time is bracketed: after the send time of the last poll that did not find it
 * (or its write time), before the receive time of the poll that found it. `lagUpper` (receive − written) is the
 * conservative figure; `lagLower` the optimistic one; the truth lies between. The bracket is at most one poll
 * interval plus one BatchGetItem round trip wide.
 */
import { type AttributeValue, BatchGetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KEY } from './ddb.js';

export interface Appearance {
  key: string;
  writtenAt: number;
  lagLower: number;
  lagUpper: number;
}

interface Pending {
  key: string;
  writtenAt: number;
  lastMissSentAt: number;
}

export class ReplicaObserver {
  readonly seen: Appearance[] = [];
  private readonly pending = new Map<string, Pending>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  polls = 0;
  requests = 0;
  private rttTotal = 0;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly intervalMs = 50,
  ) {}

  watch(key: string, writtenAt: number): void {
    this.pending.set(key, { key, writtenAt, lastMissSentAt: writtenAt });
  }

  get waiting(): number {
    return this.pending.size;
  }

  get meanRttMs(): number {
    return this.requests === 0 ? Number.NaN : this.rttTotal / this.requests;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops after every watched key has appeared, or after `graceMs`. */
  async stop(graceMs = 15_000): Promise<number> {
    const deadline = Date.now() + graceMs;
    while (this.pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.stopped = true;
    await this.loop;
    return this.pending.size;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      await this.poll();
      const wait = this.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  private async poll(): Promise<void> {
    const keys = [...this.pending.values()];
    if (keys.length === 0) return;
    this.polls++;
    const chunks: Pending[][] = [];
    for (let i = 0; i < keys.length; i += 100) chunks.push(keys.slice(i, i + 100));
    await Promise.all(chunks.map((chunk) => this.read(chunk)));
  }

  private async read(chunk: Pending[]): Promise<void> {
    const sentAt = Date.now();
    let found: Record<string, AttributeValue>[] = [];
    try {
      const out = await this.client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [this.table]: {
              Keys: chunk.map((p) => ({ [KEY]: { S: p.key } })),
              ProjectionExpression: '#k',
              ExpressionAttributeNames: { '#k': KEY },
            },
          },
        }),
      );
      found = out.Responses?.[this.table] ?? [];
    } catch {
      return; // the next poll asks again; the bracket just widens
    }
    const receivedAt = Date.now();
    this.requests++;
    this.rttTotal += receivedAt - sentAt;
    const hits = new Set(found.map((item) => item[KEY]?.S));
    for (const p of chunk) {
      if (hits.has(p.key)) {
        this.pending.delete(p.key);
        this.seen.push({
          key: p.key,
          writtenAt: p.writtenAt,
          lagLower: Math.max(0, p.lastMissSentAt - p.writtenAt),
          lagUpper: receivedAt - p.writtenAt,
        });
      } else if (this.pending.has(p.key)) {
        p.lastMissSentAt = sentAt;
      }
    }
  }
}
