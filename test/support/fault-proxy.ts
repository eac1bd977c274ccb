/**
 * TEST FIXTURE — a TCP fault proxy on loopback between workers and DynamoDB (Local), HTTP-aware enough to
 * see each request whole (request line, headers, Content-Length body) and decide its fate:
 *
 * - forward it, optionally after a delay (latency);
 * - answer it without forwarding: HTTP 400 with a DynamoDB JSON error body (throttling) or HTTP 500/503;
 * - drop the connection before forwarding (the request never reached DynamoDB);
 * - forward it, then drop the connection before the response reaches the client (the write happened, the
 *   client never hears of it: the case that makes retries replays);
 * - hold it until released (a request delayed in the network while its sender is frozen: the zombie case).
 *   A held request is delivered when released even if its client has gone, as bytes already on the wire are.
 *
 * Responses are relayed as raw bytes. The AWS SDK does not pipeline, so a connection carries one request at a
 * time and a request answered here never interleaves with a response from upstream. Chunked request bodies are
 * not parsed: such a connection is passed through untouched.
 */
import { randomUUID } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** One request as the proxy sees it. */
export interface ProxiedRequest {
  /** `PutItem`, `TransactWriteItems`, `GetRecords`, ... (after the dot of X-Amz-Target); '' when absent. */
  readonly operation: string;
  /** `DynamoDB_20120810` or `DynamoDBStreams_20120810`. */
  readonly service: string;
  readonly body: string;
  /** Table names the body mentions (TableName fields, RequestItems keys); for filters. */
  readonly tables: readonly string[];
}

export type FaultAction =
  | { readonly kind: 'forward' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'throttle'; readonly errorType?: string }
  | { readonly kind: 'server-error'; readonly status?: 500 | 503 }
  | { readonly kind: 'drop-request' }
  | { readonly kind: 'drop-response' }
  /** Held until `release` settles; then forwarded, unless it resolved to 'drop' (the request is lost). */
  | { readonly kind: 'hold'; readonly release: Promise<unknown> };

export interface FaultRule {
  /** Which requests it applies to; all when absent. */
  readonly match?: (request: ProxiedRequest) => boolean;
  /** Chance (0..1) that a matching request gets the action; 1 when absent. */
  readonly probability?: number;
  /** At most this many times, then the rule is spent; unlimited when absent. */
  readonly times?: number;
  readonly action: FaultAction | ((request: ProxiedRequest) => FaultAction);
  /** Called when the rule fires (before the action runs). */
  readonly onFire?: (request: ProxiedRequest) => void;
}

export interface FaultStats {
  requests: number;
  forwarded: number;
  delayed: number;
  throttled: number;
  serverErrors: number;
  droppedBeforeForward: number;
  droppedAfterForward: number;
  held: number;
  connectionsRefused: number;
}

/** Faults actually injected (everything but plain forwards), for reports. */
export function injectedFaults(stats: FaultStats): number {
  return (
    stats.delayed +
    stats.throttled +
    stats.serverErrors +
    stats.droppedBeforeForward +
    stats.droppedAfterForward +
    stats.held +
    stats.connectionsRefused
  );
}

const THROTTLE_TYPE = 'ProvisionedThroughputExceededException';
const ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';

/** Small seeded generator (mulberry32) so a run's faults can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface ParsedRequest {
  readonly raw: Buffer;
  readonly info: ProxiedRequest;
}

function tablesOf(body: string): string[] {
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    const names = new Set<string>();
    const visit = (value: unknown, depth: number): void => {
      if (depth > 4 || !value || typeof value !== 'object') return;
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
        if (key === 'TableName' && typeof inner === 'string') names.add(inner);
        else if (key === 'StreamArn' && typeof inner === 'string') {
          const m = /:table\/([^/]+)\//.exec(inner);
          if (m?.[1]) names.add(m[1]);
        } else if (key === 'RequestItems' && inner && typeof inner === 'object') {
          for (const name of Object.keys(inner)) names.add(name);
        } else visit(inner, depth + 1);
      }
    };
    visit(json, 0);
    return [...names];
  } catch {
    return [];
  }
}

/** Splits complete requests off the front of `buffer`; `undefined` for a chunked body (pass-through). */
function takeRequests(buffer: Buffer): { requests: ParsedRequest[]; rest: Buffer } | undefined {
  const requests: ParsedRequest[] = [];
  let rest = buffer;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.subarray(0, end).toString('latin1');
    const headers = new Map<string, string>();
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) return undefined;
    const length = Number(headers.get('content-length') ?? '0');
    const total = end + 4 + length;
    if (rest.length < total) break;
    const raw = rest.subarray(0, total);
    const body = rest.subarray(end + 4, total).toString('utf8');
    const target = headers.get('x-amz-target') ?? '';
    const dot = target.indexOf('.');
    requests.push({
      raw: Buffer.from(raw),
      info: {
        service: dot >= 0 ? target.slice(0, dot) : target,
        operation: dot >= 0 ? target.slice(dot + 1) : '',
        body,
        tables: tablesOf(body),
      },
    });
    rest = rest.subarray(total);
  }
  return { requests, rest };
}

function errorResponse(status: number, type: string, message: string): Buffer {
  const body = JSON.stringify({ __type: `${ERROR_PREFIX}${type}`, message });
  const reason =
    status === 400 ? 'Bad Request' : status === 503 ? 'Service Unavailable' : 'Internal Server Error';
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/x-amz-json-1.0\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-amzn-RequestId: ${randomUUID()}\r\n` +
      'Connection: keep-alive\r\n\r\n' +
      body,
  );
}

export interface FaultProxyOptions {
  /** Where DynamoDB listens, e.g. http://127.0.0.1:8000. */
  upstream: string;
  /** Port to listen on (0: any free one). */
  port?: number;
  seed?: number;
}

export class FaultProxy {
  readonly stats: FaultStats = {
    requests: 0,
    forwarded: 0,
    delayed: 0,
    throttled: 0,
    serverErrors: 0,
    droppedBeforeForward: 0,
    droppedAfterForward: 0,
    held: 0,
    connectionsRefused: 0,
  };
  /** Requests seen, by operation (all of them, faulted or not). */
  readonly operations = new Map<string, number>();
  private rules: { rule: FaultRule; fired: number }[] = [];
  private readonly observers: ((request: ProxiedRequest) => void)[] = [];
  private refusing = false;
  private readonly sockets = new Set<Socket>();
  private readonly random: () => number;
  private readonly upstreamHost: string;
  private readonly upstreamPort: number;

  private constructor(
    private readonly server: Server,
    options: FaultProxyOptions,
  ) {
    const url = new URL(options.upstream);
    this.upstreamHost = url.hostname;
    this.upstreamPort = Number(url.port || 80);
    this.random = seededRandom(options.seed ?? 1);
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = createServer({ noDelay: true });
    const proxy = new FaultProxy(server, options);
    server.on('connection', (socket) => proxy.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Replaces the fault rules (evaluated in order; the first that fires decides). */
  setRules(rules: readonly FaultRule[]): void {
    this.rules = rules.map((rule) => ({ rule, fired: 0 }));
  }

  /** Adds a rule in front of the others. */
  addRule(rule: FaultRule): void {
    this.rules.unshift({ rule, fired: 0 });
  }

  clearRules(): void {
    this.rules = [];
  }

  /** Calls `listener` with every request, before its fate is decided (to measure, not to fault). */
  observe(listener: (request: ProxiedRequest) => void): void {
    this.observers.push(listener);
  }

  /** Refuse (reset) every new connection and cut the open ones: DynamoDB unreachable. */
  setRefusing(refusing: boolean): void {
    this.refusing = refusing;
    if (refusing) for (const socket of this.sockets) socket.resetAndDestroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private decide(info: ProxiedRequest): FaultAction {
    for (const entry of this.rules) {
      const { rule } = entry;
      if (rule.times !== undefined && entry.fired >= rule.times) continue;
      if (rule.match && !rule.match(info)) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      entry.fired++;
      rule.onFire?.(info);
      return typeof rule.action === 'function' ? rule.action(info) : rule.action;
    }
    return { kind: 'forward' };
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private onConnection(client: Socket): void {
    this.track(client);
    if (this.refusing) {
      this.stats.connectionsRefused++;
      client.resetAndDestroy();
      return;
    }
    let upstream: Socket | undefined;
    let swallow = false;
    let passThrough = false;
    let pending: Buffer = Buffer.alloc(0);
    let queue: Promise<void> = Promise.resolve();

    const closeBoth = (reset: boolean) => {
      if (reset) client.resetAndDestroy();
      else client.destroy();
      upstream?.destroy();
    };
    const upstreamSocket = (): Socket => {
      if (upstream && !upstream.destroyed) return upstream;
      const socket = connect({ host: this.upstreamHost, port: this.upstreamPort, noDelay: true });
      this.track(socket);
      socket.on('data', (chunk: Buffer) => {
        if (swallow) {
          swallow = false;
          this.stats.droppedAfterForward++;
          closeBoth(true);
          return;
        }
        if (!client.destroyed) client.write(chunk);
      });
      socket.on('close', () => {
        if (!client.destroyed) client.destroy();
      });
      upstream = socket;
      return socket;
    };

    const handle = async ({ raw, info }: ParsedRequest): Promise<void> => {
      this.stats.requests++;
      this.operations.set(info.operation, (this.operations.get(info.operation) ?? 0) + 1);
      for (const listener of this.observers) listener(info);
      if (this.refusing) {
        this.stats.connectionsRefused++;
        closeBoth(true);
        return;
      }
      const action = this.decide(info);
      switch (action.kind) {
        case 'delay':
          this.stats.delayed++;
          await new Promise((r) => setTimeout(r, action.ms));
          break;
        case 'throttle':
          this.stats.throttled++;
          client.write(
            errorResponse(
              400,
              action.errorType ?? THROTTLE_TYPE,
              'Rate of requests exceeds the allowed throughput (fault proxy).',
            ),
          );
          return;
        case 'server-error': {
          this.stats.serverErrors++;
          const status = action.status ?? 500;
          client.write(
            errorResponse(
              status,
              status === 503 ? 'ServiceUnavailableException' : 'InternalServerError',
              'Internal server error (fault proxy).',
            ),
          );
          return;
        }
        case 'drop-request':
          this.stats.droppedBeforeForward++;
          closeBoth(true);
          return;
        case 'drop-response':
          swallow = true;
          break;
        case 'hold':
          this.stats.held++;
          if ((await action.release) === 'drop') {
            this.stats.droppedBeforeForward++;
            closeBoth(true);
            return;
          }
          if (client.destroyed) {
            this.deliverOrphan(raw);
            return;
          }
          break;
        case 'forward':
          break;
      }
      if (client.destroyed) return;
      this.stats.forwarded++;
      upstreamSocket().write(raw);
    };

    client.on('data', (chunk: Buffer) => {
      if (passThrough) {
        upstreamSocket().write(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      const parsed = takeRequests(pending);
      if (!parsed) {
        passThrough = true;
        upstreamSocket().write(pending);
        pending = Buffer.alloc(0);
        return;
      }
      pending = parsed.rest;
      for (const request of parsed.requests)
        queue = queue.then(() => handle(request)).catch(() => closeBoth(true));
    });
    client.on('close', () => {
      // A request still queued (held or delayed) is delivered on its own connection, see deliverOrphan.
      upstream?.end();
    });
  }

  /** A held request whose client gave up is still delivered: the bytes were already on their way. */
  private deliverOrphan(raw: Buffer): void {
    this.stats.forwarded++;
    const socket = connect({ host: this.upstreamHost, port: this.upstreamPort });
    this.track(socket);
    socket.on('data', () => socket.destroy());
    socket.setTimeout(30_000, () => socket.destroy());
    socket.write(raw);
  }
}
