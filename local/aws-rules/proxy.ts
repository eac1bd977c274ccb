/**
 * The strict layer's HTTP proxy: a `node:http` server on loopback that every AWS SDK client talks to
 * instead of DynamoDB Local. Each request goes through the rules; one they let through is forwarded
 * unchanged (method, path, headers, body) over a keep-alive agent, and its answer is relayed unchanged
 * (status, headers, body). A refused request is answered here with AWS's error and never forwarded.
 *
 * Cost. Only requests that a rule inspects are buffered and parsed (TransactWriteItems and single
 * writes while the conflict rule is on, the Streams reads while a stream limit is on, a few table
 * operations). Everything else streams through, with its first bytes looked at for the table name the
 * counters need. Single writes are parsed only while some transaction holds items; GetRecords answers
 * are never parsed, only their last few kilobytes searched for the next iterator.
 *
 * If upstream cannot be reached, the client's connection is dropped, as a network failure would be,
 * rather than answered with an error AWS would not send.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ControlTarget, handleControl, isControlPath } from './control.js';
import {
  forwardHeaders,
  httpUrl,
  joinPath,
  nonNegative,
  positiveInteger,
  readBody,
  relayHeaders,
  sendReply,
  settleAll,
  Tail,
} from './http-relay.js';
import { IamRegistry } from './iam-registry.js';
import { type ArnLocation, DYNAMODB_LOCAL_LOCATION } from './iam-requests.js';
import { IamRule } from './iam-rule.js';
import { describeKeySchemaVia, KeySchemaCache } from './key-schema-cache.js';
import {
  BufferedRequest,
  PASS,
  parseTarget,
  type RequestHead,
  type ResponseWatch,
  type Rule,
  requestItemTables,
  tablesMentioned,
  type UpstreamOutcome,
} from './rule.js';
import { type AwsRulesStats, AwsRulesStatsRecorder } from './stats.js';
import { DEFAULT_STREAM_LIMITS, type RulesClock, StreamLimits, systemRulesClock } from './stream-limits.js';
import { StreamLimitsRule } from './stream-limits-rule.js';
import { ALL_RULES_ON, type RuleSwitches, withSwitches } from './switches.js';
import { TableUpdateRule } from './table-updates.js';
import { TransactionConflictRule } from './transaction-conflicts.js';

export interface AwsRulesProxyOptions {
  /** DynamoDB Local's endpoint, e.g. `inject('ddbEndpoint')`. */
  readonly upstream: string;
  /** Where DynamoDB Streams requests go (e.g. a scripted stream's endpoint); `upstream` when absent. */
  readonly streamsUpstream?: string;
  /** Port on 127.0.0.1; a free one when absent. */
  readonly port?: number;
  /** Rules to switch off (or on) from the start; all on by default. */
  readonly rules?: Partial<RuleSwitches>;
  /** Time a TransactWriteItems holds its items before it is forwarded. Default 20. */
  readonly transactionCommitLatencyMs?: number;
  /** Accepted GetRecords per shard in any 1,000 ms. Default 5. */
  readonly getRecordsPerShardPerSecond?: number;
  /** Accepted DescribeStream per stream ARN in any 1,000 ms. Default 10. */
  readonly describeStreamPerSecond?: number;
  /** Concurrent reader chains per shard. Default 2. */
  readonly readersPerShard?: number;
  /** A reader chain stays active this long after its latest GetRecords. Default 1,000. */
  readonly readerIdleMs?: number;
  /** For the stream windows; real time when absent. */
  readonly clock?: RulesClock;
  /**
   * Where the tables are, for the ARNs the `iam` rule judges: DynamoDB Local's own (`aws`, `ddblocal`,
   * `000000000000`) by default, which is what it puts in every ARN it returns.
   */
  readonly arnLocation?: ArnLocation;
}

export const DEFAULT_TRANSACTION_COMMIT_LATENCY_MS = 20;

/** Operations whose tables are only known from a parsed body (the keys of RequestItems). */
const TABLES_FROM_REQUEST_ITEMS = new Set(['BatchGetItem', 'BatchWriteItem']);

/** How much of a streamed-through request is looked at for table names. */
const HEAD_BYTES = 4_096;

/** How much of an answer a watching rule gets: all of a small one, the end of a large one. */
const TAIL_BYTES = 8_192;

export class AwsRulesProxy implements ControlTarget {
  private boundPort = 0;
  private switches: RuleSwitches;
  private readonly recorder = new AwsRulesStatsRecorder();
  private readonly rulesInOrder: readonly Rule[];
  private readonly upstream: URL;
  private readonly streamsUpstream: URL;
  private readonly agent: Agent;
  private readonly server: Server;
  private readonly commitLatencyMs: number;
  /** The principals the `iam` rule knows: registered over the control API by the local runtime. */
  readonly iam = new IamRegistry();

  /** Starts the layer; resolves once it listens. */
  static async start(options: AwsRulesProxyOptions): Promise<AwsRulesProxy> {
    const proxy = new AwsRulesProxy(options);
    await proxy.listen(options.port ?? 0);
    return proxy;
  }

  private constructor(options: AwsRulesProxyOptions) {
    this.upstream = httpUrl('upstream', options.upstream);
    this.streamsUpstream = httpUrl('streamsUpstream', options.streamsUpstream ?? options.upstream);
    this.switches = withSwitches(ALL_RULES_ON, options.rules);
    this.commitLatencyMs = nonNegative(
      'transactionCommitLatencyMs',
      options.transactionCommitLatencyMs ?? DEFAULT_TRANSACTION_COMMIT_LATENCY_MS,
    );
    const limits = new StreamLimits(
      {
        getRecordsPerShardPerSecond: positiveInteger(
          'getRecordsPerShardPerSecond',
          options.getRecordsPerShardPerSecond ?? DEFAULT_STREAM_LIMITS.getRecordsPerShardPerSecond,
        ),
        describeStreamPerSecond: positiveInteger(
          'describeStreamPerSecond',
          options.describeStreamPerSecond ?? DEFAULT_STREAM_LIMITS.describeStreamPerSecond,
        ),
        readersPerShard: positiveInteger(
          'readersPerShard',
          options.readersPerShard ?? DEFAULT_STREAM_LIMITS.readersPerShard,
        ),
        readerIdleMs: nonNegative('readerIdleMs', options.readerIdleMs ?? DEFAULT_STREAM_LIMITS.readerIdleMs),
      },
      options.clock ?? systemRulesClock,
    );
    // Idle upstream sockets are closed after a few seconds, well before the emulator would close them
    // itself and race a request on a socket it is closing.
    this.agent = new Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 4_000 });
    // IAM first: a request AWS refuses for permissions never reaches the other rules or their counters.
    this.rulesInOrder = [
      new IamRule(this.iam, this.recorder, options.arnLocation ?? DYNAMODB_LOCAL_LOCATION),
      new TableUpdateRule(this.recorder),
      new TransactionConflictRule({
        schemas: new KeySchemaCache(describeKeySchemaVia(this.upstream, this.agent)),
        stats: this.recorder,
        commitLatencyMs: this.commitLatencyMs,
      }),
      new StreamLimitsRule(limits, this.recorder),
    ];
    this.server = createServer((request, response) => this.handle(request, response));
    // Longer than the SDK's idle sockets live, so the server never closes one the client is reusing.
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
  }

  /** `http://127.0.0.1:<port>`: give it to the AWS SDK clients as their endpoint. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  stats(): AwsRulesStats {
    return this.recorder.snapshot(this.switches);
  }

  resetStats(): void {
    this.recorder.reset();
  }

  rules(): RuleSwitches {
    return { ...this.switches };
  }

  /** Switches the named rules; the others keep their state. Requests already admitted are not affected. */
  setRules(switches: Partial<RuleSwitches>): RuleSwitches {
    this.switches = withSwitches(this.switches, switches);
    return this.rules();
  }

  /** Stops listening and cuts open connections (requests in flight are dropped). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.agent.destroy();
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    if (isControlPath(request.url)) {
      void handleControl(request, response, this);
      return;
    }
    const { service, operation } = parseTarget(request.headers['x-amz-target']);
    const head: RequestHead = { service, operation, headers: request.headers };
    const upstream = service === 'streams' ? this.streamsUpstream : this.upstream;
    const switches = this.switches;
    const rules = this.rulesInOrder.filter((rule) => rule.inspects(head, switches));
    if (rules.length === 0 && !TABLES_FROM_REQUEST_ITEMS.has(operation)) {
      this.streamThrough(request, response, head, upstream);
      return;
    }
    this.judge(request, response, head, upstream, rules, switches).catch((error: unknown) => {
      if (!response.headersSent) {
        const message = error instanceof Error ? error.message : String(error);
        sendReply(response, {
          status: 500,
          type: 'InternalServerError',
          body: JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
            message: `The strict layer failed on ${operation}: ${message}`,
          }),
        });
      } else {
        response.destroy();
      }
    });
  }

  /** A request no rule inspects: forwarded as it arrives, its first bytes looked at for table names. */
  private streamThrough(
    request: IncomingMessage,
    response: ServerResponse,
    head: RequestHead,
    upstream: URL,
  ): void {
    const seen: Buffer[] = [];
    let seenBytes = 0;
    request.on('data', (chunk: Buffer) => {
      if (seenBytes >= HEAD_BYTES) return;
      seen.push(chunk);
      seenBytes += chunk.length;
    });
    request.on('end', () => {
      const text = Buffer.concat(seen).subarray(0, HEAD_BYTES).toString('utf8');
      this.recorder.request(head.operation, tablesMentioned(text));
    });
    this.forward(request, response, upstream, undefined, []);
  }

  private async judge(
    request: IncomingMessage,
    response: ServerResponse,
    head: RequestHead,
    upstream: URL,
    rules: readonly Rule[],
    switches: RuleSwitches,
  ): Promise<void> {
    const body = await readBody(request);
    const parsed = new BufferedRequest(head.service, head.operation, head.headers, body);
    this.recorder.request(
      head.operation,
      TABLES_FROM_REQUEST_ITEMS.has(head.operation)
        ? requestItemTables(parsed.json())
        : tablesMentioned(parsed.text()),
    );
    const watches: ResponseWatch[] = [];
    let delayMs = 0;
    for (const rule of rules) {
      let admission = PASS;
      try {
        admission = await rule.admit(parsed, switches);
      } catch (error) {
        settleAll(watches, { kind: 'not-forwarded' });
        throw new Error(`rule ${rule.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (admission.kind === 'refuse') {
        settleAll(watches, { kind: 'not-forwarded' });
        sendReply(response, admission.reply);
        return;
      }
      delayMs = Math.max(delayMs, admission.delayMs ?? 0);
      if (admission.watch) watches.push(admission.watch);
    }
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    this.forward(request, response, upstream, body, watches);
  }

  /**
   * Sends the request upstream and relays the answer. `body` is the buffered body, or undefined to pipe
   * `request` itself. Every watch is settled exactly once, whatever happens.
   */
  private forward(
    request: IncomingMessage,
    response: ServerResponse,
    upstream: URL,
    body: Buffer | undefined,
    watches: readonly ResponseWatch[],
    attempt = 0,
  ): void {
    let settled = false;
    const settle = (outcome: UpstreamOutcome) => {
      if (settled) return;
      settled = true;
      settleAll(watches, outcome);
    };
    const outgoing = httpRequest({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: request.method,
      path: joinPath(upstream.pathname, request.url ?? '/'),
      headers: forwardHeaders(request),
      agent: this.agent,
    });
    let answer: IncomingMessage | undefined;
    outgoing.on('response', (incoming) => {
      answer = incoming;
      const status = incoming.statusCode ?? 502;
      const tail = watches.length > 0 ? new Tail(TAIL_BYTES) : undefined;
      if (tail) incoming.on('data', (chunk: Buffer) => tail.push(chunk));
      incoming.on('end', () =>
        settle({ kind: 'answered', status, tail: tail?.text() ?? '', complete: tail?.complete ?? false }),
      );
      incoming.on('close', () => {
        if (!incoming.complete) {
          settle({ kind: 'failed' });
          response.destroy();
        }
      });
      if (response.destroyed) {
        incoming.resume(); // the client has gone: drain, so watches settle and the socket is reused
        return;
      }
      response.writeHead(status, relayHeaders(incoming.rawHeaders));
      incoming.pipe(response);
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      if (answer) return; // the answer's own 'close' handles it
      // A keep-alive socket the upstream closed just as it was reused: the request never reached it.
      if (body && attempt === 0 && outgoing.reusedSocket && error.code === 'ECONNRESET') {
        this.forward(request, response, upstream, body, watches, attempt + 1);
        return;
      }
      settle({ kind: 'failed' });
      response.destroy();
    });
    // The client went away: drain the answer (if it has not come yet, its handler drains it), so the
    // watches still settle and the upstream socket goes back to the pool.
    response.on('close', () => {
      if (!response.writableFinished) answer?.resume();
    });
    if (body) {
      outgoing.end(body);
    } else {
      request.on('close', () => {
        if (!request.complete) outgoing.destroy();
      });
      request.pipe(outgoing);
    }
  }
}
