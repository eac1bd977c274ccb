/**
 * The worker's structured events: one typed map of everything an operator or a test may want to know, each
 * written as a JSON log line whose stable `event` field names it (the message beside it is for people and may
 * be reworded), and handed to in-process listeners. Tests assert on events, never on message text.
 */
import { pino } from 'pino';
import type { Logger } from './logger.js';

type Level = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Every event, with the fields it carries. */
export interface WorkerEventMap {
  'worker.starting': { streamArn: string; leaseTable: string; processor: string };
  'worker.checked': { viewType: string; processor: string };
  'lease-table.ready': { leaseTable: string; ownerIndex: boolean };
  'lease-table.no-owner-index': { leaseTable: string };
  'lease-table.owner-index-adding': {
    leaseTable: string;
    /** This worker's UpdateTable added it (exactly one worker of a fleet says true). */
    created: boolean;
    billingMode: 'PROVISIONED' | 'PAY_PER_REQUEST';
    readCapacityUnits: number | null;
    writeCapacityUnits: number | null;
  };
  'lease-table.owner-index-ready': { leaseTable: string };
  'lease-table.owner-index-failed': { leaseTable: string; error: unknown; delayMs: number };
  'worker.started': { leases: number };
  'worker.stopping': { signal: string };
  'worker.stopped': Record<string, never>;
  'worker.shutdown-timeout': { shards: string[] };
  'lease.taken': {
    shardId: string;
    /** evidence: taken before it expired, because the orchestrator says its owner is gone. */
    how: 'take' | 'steal' | 'adopt' | 'evidence';
    previousOwner: string | null;
    checkpoint: string;
    /** With how = evidence: what the orchestrator said (pod-deleted, container-not-running). */
    evidence?: string;
  };
  'lease.lost': { shardId: string; reason: string };
  'lease.renewal-failed': { shardId: string; error: unknown };
  'lease.handoff-requested': { shardId: string; owner: string | undefined };
  'lease.handoff-asked': { shardId: string; to: string };
  'lease.handed-off': { shardId: string; to: string | null; done: boolean; why: 'balance' | 'shutdown' };
  'lease.handoff-failed': { shardId: string; error: unknown };
  'lease-loop.failed': { loop: 'renewer' | 'taker'; error: unknown; cause: string };
  'lease-loop.recovered': { loop: 'renewer' | 'taker'; cause: string; failures: number };
  'peers.dead': { workers: string[] };
  'peers.watch-started': { namespace: string; selector: string; pods: number };
  'peers.watch-failed': { namespace: string; error: unknown; failures: number; retryInMs: number };
  'peers.state': { owner: string; state: string; pod: string; reason?: string };
  'peers.self-check': { instance: string; pod: string | null; matches: boolean };
  'shards.created': { created: string[]; shards: number };
  'shards.deleted': { deleted: string[] };
  'shard-sync.failed': { error: unknown; when: 'initial' | 'periodic' | 'shard-end' };
  'shard.initializing': { shardId: string };
  'shard.initialized': { shardId: string; checkpoint: string };
  'shard.checkpoint-malformed': { shardId: string; checkpoint: string };
  'shard.stopped': { shardId: string; reason: string };
  'shard.failed': { shardId: string; error: unknown };
  'shard.finished': { shardId: string };
  'shard.gone': { shardId: string; error: unknown };
  'batch.failed': {
    shardId: string;
    processor: string;
    firstSequenceNumber: string;
    lastSequenceNumber: string;
    attempt: number;
    error: unknown;
    delayMs: number;
  };
  'batch.split': {
    shardId: string;
    records: number;
    firstSequenceNumber: string;
    lastSequenceNumber: string;
    reason: string;
  };
  'record.poison': { shardId: string; sequenceNumber: string; keys: unknown; reason: string; policy: string };
  'record.dead-lettered': { shardId: string; sequenceNumber: string; table: string };
  'processor.call-failed': { shardId: string; call: string; error: unknown };
  'read.iterator-expired': { shardId: string; position: string };
  'read.trimmed': { shardId: string; position: string };
  'read.failed': { shardId: string; api: 'GetRecords' | 'GetShardIterator'; error: unknown; delayMs: number };
  'checkpoint.failed': { shardId: string; checkpoint: string; error: unknown; delayMs: number };
  'write.failed': { shardId: string; api: string; error: unknown; delayMs: number };
}

export type WorkerEventName = keyof WorkerEventMap;

export type WorkerEvent = {
  [K in WorkerEventName]: { name: K; fields: WorkerEventMap[K]; at: number };
}[WorkerEventName];

/** How loud each event is in the log. */
const LEVELS: Record<WorkerEventName, Level> = {
  'worker.starting': 'info',
  'worker.checked': 'info',
  'lease-table.ready': 'info',
  'lease-table.no-owner-index': 'warn',
  'lease-table.owner-index-adding': 'warn',
  'lease-table.owner-index-ready': 'info',
  'lease-table.owner-index-failed': 'warn',
  'worker.started': 'info',
  'worker.stopping': 'info',
  'worker.stopped': 'info',
  'worker.shutdown-timeout': 'warn',
  'lease.taken': 'info',
  'lease.lost': 'warn',
  'lease.renewal-failed': 'warn',
  'lease.handoff-requested': 'info',
  'lease.handoff-asked': 'info',
  'lease.handed-off': 'info',
  'lease.handoff-failed': 'warn',
  'lease-loop.failed': 'error',
  'lease-loop.recovered': 'info',
  'peers.dead': 'info',
  'peers.watch-started': 'info',
  'peers.watch-failed': 'warn',
  'peers.state': 'info',
  'peers.self-check': 'info',
  'shards.created': 'info',
  'shards.deleted': 'info',
  'shard-sync.failed': 'warn',
  'shard.initializing': 'info',
  'shard.initialized': 'info',
  'shard.checkpoint-malformed': 'warn',
  'shard.stopped': 'info',
  'shard.failed': 'error',
  'shard.finished': 'info',
  'shard.gone': 'error',
  'batch.failed': 'error',
  'batch.split': 'warn',
  'record.poison': 'error',
  'record.dead-lettered': 'warn',
  'processor.call-failed': 'error',
  'read.iterator-expired': 'info',
  'read.trimmed': 'error',
  'read.failed': 'warn',
  'checkpoint.failed': 'warn',
  'write.failed': 'warn',
};

export type WorkerEventListener = (event: WorkerEvent) => void;

export class WorkerEvents {
  private readonly listeners = new Set<WorkerEventListener>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs the event (with `event: name` and its fields, `message` for people) and tells every listener. */
  emit<K extends WorkerEventName>(name: K, fields: WorkerEventMap[K], message: string): void {
    const { error, ...rest } = fields as { error?: unknown };
    const logged = error === undefined ? { event: name, ...rest } : { event: name, ...rest, err: error };
    this.log[LEVELS[name]](logged, message);
    const event = { name, fields, at: this.now() } as WorkerEvent;
    for (const listener of this.listeners) listener(event);
  }

  /** Subscribes; returns the unsubscribe function. */
  on(listener: WorkerEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A sink for tests and tools that only listen: logs nothing. */
export function silentEvents(): WorkerEvents {
  return new WorkerEvents(pino({ level: 'silent' }));
}
