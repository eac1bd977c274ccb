/** The strict layer's HTTP plumbing: a body read, headers relayed, an answer's tail kept, options parsed. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AwsErrorReply, errorHeaders } from './errors.js';
import type { ResponseWatch, UpstreamOutcome } from './rule.js';

/** Headers of one connection, never relayed (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export function settleAll(watches: readonly ResponseWatch[], outcome: UpstreamOutcome): void {
  for (const watch of watches) {
    try {
      watch.settle(outcome);
    } catch {
      // A watch that throws must not keep the others from settling (or release their item locks).
    }
  }
}
export function sendReply(response: ServerResponse, reply: AwsErrorReply): void {
  response.writeHead(reply.status, errorHeaders(reply));
  response.end(reply.body);
}

/** The last `limit` bytes of a stream, and whether that is all of it. */
export class Tail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private dropped = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - (this.chunks[0]?.length ?? 0) >= this.limit) {
      this.bytes -= this.chunks.shift()?.length ?? 0;
      this.dropped = true;
    }
  }

  get complete(): boolean {
    return !this.dropped && this.bytes <= this.limit;
  }

  text(): string {
    const all = this.chunks.length === 1 ? (this.chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(this.chunks);
    return (all.length > this.limit ? all.subarray(all.length - this.limit) : all).toString('utf8');
  }
}
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? (chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(chunks);
}

/** The client's headers minus the hop-by-hop ones the agent sets for its own connection. */
export function forwardHeaders(request: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || name === 'connection' || name === 'keep-alive' || name === 'proxy-connection')
      continue;
    headers[name] = value;
  }
  return headers;
}

/** Upstream's headers as they came (names' case and order kept), minus hop-by-hop ones. */
export function relayHeaders(raw: readonly string[]): string[] {
  const headers: string[] = [];
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index] ?? '';
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    headers.push(name, raw[index + 1] ?? '');
  }
  return headers;
}
export function joinPath(base: string, path: string): string {
  if (base === '' || base === '/') return path;
  return `${base.replace(/\/$/, '')}${path}`;
}
export function httpUrl(name: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`${name} must be an http:// URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:')
    throw new RangeError(`${name} must be an http:// URL, got ${JSON.stringify(text)}`);
  return url;
}
export function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a whole number ≥ 1, got ${value}`);
  return value;
}
export function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${name} must be a number of milliseconds ≥ 0, got ${value}`);
  return value;
}
