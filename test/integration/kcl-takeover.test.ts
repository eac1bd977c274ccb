/**
 * Taking over a KCL 1.x application in place (issue 21), through the strict layer: a lease table shaped exactly as
 * KCL 1.x with the DynamoDB Streams Kinesis Adapter leaves it (provisioned, hash key only, no index; items as its
 * serializer writes them), written by the fake KCL 1.x worker (test/support/fake-kcl1.ts), over a scripted stream
 * with a split and a rollover. Checkpoints mid-shard, SHARD_END, TRIM_HORIZON children of an unfinished parent,
 * LATEST, a prepared checkpoint; one Java owner still renewing; a Streamfleet worker SIGKILLed as it takes its
 * first lease. Asserted on the replica's data per key and sequence number — nothing at or before a KCL checkpoint
 * applied again, nothing after it missing — and on the lease table: read by KCL 1.x's rules, taken back and
 * resumed by the fake KCL worker exactly after what Streamfleet applied.
 */
import { DescribeTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readAsKcl1 } from '../../core/tables/kcl1-lease.js';
import { compareSequenceNumbers, toOrderedSequence } from '../../core/vocabulary/sequence.js';
import { createKcl1LeaseTable, FakeKcl1Worker } from '../support/fake-kcl1.js';
import {
  createScriptedReplication,
  localClient,
  type ReplicationTables,
  scanAll,
  stopAll,
  WorkerProcess,
  waitFor,
} from '../support/fleet.js';
import type { ScriptedStream } from '../support/scripted-stream.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const workers = new Set<WorkerProcess>();
let stream: ScriptedStream | undefined;
let kclLive: FakeKcl1Worker | undefined;
afterAll(async () => {
  await kclLive?.stopRenewing();
  await stopAll(workers);
  await stream?.stop();
});

const LEASE_MS = 3_000;
const WORKER_ENV = {
  LEASE_DURATION_MS: String(LEASE_MS),
  LEASE_TAKER_INTERVAL_MS: '300',
  SHARD_SYNC_INTERVAL_MS: '1000',
  IDLE_TIME_BETWEEN_READS_MS: '100',
  MAX_RECORDS: '10',
  LOG_LEVEL: 'info',
};
const JAVA = 'kcl1-java';
/** Attributes Streamfleet adds that KCL 1.x does not read (childShardIds it reads, with the same meaning). */
const STREAMFLEET_ONLY = ['caughtUpAt', 'handoffTo', 'lastRecordCreatedAt', 'streamfleetOwner'];

interface Written {
  email: string;
  shardId: string;
  sequenceNumber: string;
  /** When it was written: before Streamfleet started, while it ran, or after it stopped (rollback). */
  phase: 'java' | 'streamfleet' | 'after';
}

describe('taking over a KCL 1.x application in place', () => {
  it('resumes every shard from its KCL checkpoint (0 re-applied, 0 skipped), never races the live Java owner, and leaves a table KCL 1.x reads and resumes', async () => {
    const created = await createScriptedReplication(client, endpoint, 8);
    stream = created.stream;
    const scripted = created.stream;
    const leaseTable = `${created.tables.app}-kcl`;
    const tables: ReplicationTables = { ...created.tables, app: leaseTable };
    const written: Written[] = [];
    let n = 0;
    const write = async (phase: Written['phase']) => {
      const email = `k${n++}@example.com`;
      const appended = await scripted.put({ email, n });
      if (!appended) throw new Error('no record appended');
      written.push({ email, shardId: appended.shardId, sequenceNumber: appended.sequenceNumber, phase });
    };
    const inShard = (shardId: string) => written.filter((w) => w.shardId === shardId);

    // What the Java application saw: eight shards; S0 split in two, S1 rolled over; records in all of them.
    const initial = scripted.openShards().map((s) => s.shardId);
    const [s0, s1, s2, s3, ...others] = initial as [string, string, string, string, ...string[]];
    while (initial.some((s) => inShard(s).length < 12)) await write('java');
    const [c1, c2] = scripted.closeShard(s0, 2).map((s) => s.shardId) as [string, string];
    const [c3] = scripted.closeShard(s1, 1).map((s) => s.shardId) as [string];
    while ([c1, c2, c3, s2, s3].some((s) => inShard(s).length < 8)) await write('java');
    // The live Java worker holds five unfinished leases: more than any Streamfleet worker, so balancing would want
    // some of them.
    const javaLeases = [c3, ...others];

    // Its lease table, as KCL 1.x with the adapter leaves it: a dead worker's leases, a live worker's one.
    const at = (shardId: string, index: number) => inShard(shardId)[index]?.sequenceNumber as string;
    const checkpoints = new Map<string, string>([
      [s0, at(s0, 5)], // a closed parent, checkpointed mid-shard: its children wait for it
      [c1, 'TRIM_HORIZON'],
      [c2, 'TRIM_HORIZON'],
      [s1, 'SHARD_END'],
      [c3, at(c3, 2)], // the live owner's, with a prepared checkpoint further on
      [s2, at(s2, 7)],
      [s3, 'LATEST'],
      ...others.map((shardId): [string, string] => [shardId, at(shardId, 4)]),
    ]);
    const pendingOfC3 = at(c3, 5);
    await createKcl1LeaseTable(client, leaseTable);
    const kclDead = new FakeKcl1Worker(client, leaseTable, 'ip-10-0-1-17:dead-0000', LEASE_MS);
    kclLive = new FakeKcl1Worker(client, leaseTable, 'ip-10-0-2-42:live-1111', LEASE_MS);
    for (const [leaseKey, checkpoint] of checkpoints) {
      const parentShardIds = leaseKey === c1 || leaseKey === c2 ? [s0] : leaseKey === c3 ? [s1] : [];
      const owner = javaLeases.includes(leaseKey)
        ? kclLive
        : leaseKey === c1 || leaseKey === c2
          ? undefined
          : kclDead;
      await (owner ?? kclDead).createLease({
        leaseKey,
        checkpoint,
        parentShardIds,
        leaseCounter: 40,
        ...(owner ? { leaseOwner: owner.workerId } : {}),
        ...(leaseKey === c3 ? { pendingCheckpoint: pendingOfC3 } : {}),
      });
    }
    kclLive.startRenewing();
    // What the Java application had replicated: everything up to each checkpoint (on C3, up to the prepared one).
    const appliedByJava = (w: Written) => {
      const checkpoint = w.shardId === c3 ? pendingOfC3 : checkpoints.get(w.shardId);
      if (checkpoint === 'SHARD_END') return true;
      if (checkpoint === undefined || !/^\d+$/.test(checkpoint)) return false;
      return compareSequenceNumbers(w.sequenceNumber, checkpoint) <= 0;
    };
    for (const w of written.filter(appliedByJava)) {
      await client.send(
        new PutItemCommand({
          TableName: tables.target,
          Item: { email: { S: w.email }, processed_by: { S: JAVA } },
        }),
      );
    }

    // Streamfleet starts; the first worker to take a lease is SIGKILLed at once (a crash mid-takeover).
    const start = async (name: string) => {
      const worker = await WorkerProcess.start({
        endpoint,
        tables,
        name,
        env: { ...WORKER_ENV, AWS_ENDPOINT_URL_DYNAMODB_STREAMS: created.streamsEndpoint },
      });
      workers.add(worker);
      return worker;
    };
    const [a, b] = [await start('sf-a'), await start('sf-b')];
    const load = (async () => {
      for (let i = 0; i < 40; i++) {
        await write('streamfleet');
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const firstTake = await waitFor(() => [a, b].find((w) => w.events('lease.taken').length > 0), {
      timeoutMs: 30_000,
      message: 'a Streamfleet worker to take its first lease',
    });
    firstTake.signal('SIGKILL');
    await firstTake.exited;
    const c = await start('sf-c');
    await load;
    const streamfleet = [a, b, c];
    const events = (name: string) => streamfleet.flatMap((w) => w.events(name));

    // Every lease but the live owner's ends up with a running Streamfleet worker; those stay the Java owner's.
    const leases = async () => new Map((await scanAll(client, leaseTable)).map((l) => [l.leaseKey?.S, l]));
    const survivors = streamfleet.filter((w) => w !== firstTake);
    const live = survivors.map((w) => w.name);
    await waitFor(
      async () => {
        const now = await leases();
        return [s0, c1, c2, s2, s3].every((k) => {
          const lease = now.get(k);
          return lease?.checkpoint?.S === 'SHARD_END' || live.includes(lease?.leaseOwner?.S ?? '');
        });
      },
      { timeoutMs: 60_000, message: 'Streamfleet to hold every expired lease' },
    );
    // LATEST means "from wherever reading starts": records written after its (last) initialisation must arrive.
    const s3Init = await waitFor(
      () =>
        events('shard.initialized')
          .filter((e) => e.shardId === s3 && live.includes(e.worker))
          .at(-1),
      { timeoutMs: 30_000, message: 'S3 to be initialised by a live worker' },
    );
    expect(s3Init.checkpoint).toBe('LATEST');
    // Until S3's first checkpoint a lease moved between workers starts at LATEST again (KCL's meaning too); once
    // Streamfleet has checkpointed a record there, everything written after must arrive.
    await waitFor(
      async () => {
        await write('streamfleet');
        return /^\d+$/.test((await leases()).get(s3)?.checkpoint?.S ?? '');
      },
      { timeoutMs: 30_000, message: 'Streamfleet to checkpoint a record of S3' },
    );
    const afterS3Init = written.length;
    const renewalsBefore = javaLeases.map((k) => kclLive?.renewals.get(k) ?? 0);
    // Two lease durations more with the Java owner renewing: its leases are neither asked for nor taken, though it
    // holds more than any Streamfleet worker.
    await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
    const javaShard = (e: { shardId?: string }) => javaLeases.includes(e.shardId ?? '');
    const now = await leases();
    for (const [i, leaseKey] of javaLeases.entries()) {
      expect(now.get(leaseKey)?.handoffTo, leaseKey).toBeUndefined();
      expect(kclLive.renewals.get(leaseKey) ?? 0, leaseKey).toBeGreaterThan(renewalsBefore[i] ?? 0);
    }
    expect(events('lease.handoff-requested').filter(javaShard)).toEqual([]);
    // Never while it renews: a Java lease is taken (never stolen) only once it stood still for a lease duration
    // after its last renewal. (DynamoDB Local answers InternalFailure to writes while the index is being built;
    // a renewal lost that way can let a lease expire, as it would let KCL's own peers take it.)
    const takenWhileRenewing = (event: { shardId?: string; time: string; how?: unknown }) => {
      const at = Date.parse(event.time);
      const renewals = kclLive?.renewedAt.get(event.shardId ?? '') ?? [];
      const last = renewals.filter((r) => r <= at).at(-1) ?? Number.NEGATIVE_INFINITY;
      return event.how !== 'take' || at - last < LEASE_MS - 250;
    };
    expect(events('lease.taken').filter(javaShard).filter(takenWhileRenewing)).toEqual([]);
    expect(kclLive.held.size).toBeGreaterThan(0);

    // The Java fleet stops: its leases expire and are taken, and reading resumes after their checkpoints.
    await kclLive.stopRenewing();
    const taken = await waitFor(
      () => {
        const found = javaLeases.map((k) => events('lease.taken').find((e) => e.shardId === k));
        return found.every((e) => e !== undefined) && found;
      },
      { timeoutMs: 30_000, message: 'the Java owner’s leases to be taken once it stopped renewing' },
    );
    for (const event of taken) {
      expect(event).toMatchObject({
        how: 'take',
        previousOwner: kclLive.workerId,
        checkpoint: checkpoints.get(event?.shardId ?? ''),
      });
      expect(takenWhileRenewing(event as { shardId?: string; time: string; how?: unknown })).toBe(false);
    }
    for (let i = 0; i < 12; i++) await write('streamfleet');

    // The data: per key and sequence number.
    const expected = written.filter(
      (w) => !appliedByJava(w) && !(w.shardId === s3 && written.indexOf(w) < afterS3Init),
    );
    const replica = async () => new Map((await scanAll(client, tables.target)).map((i) => [i.email?.S, i]));
    let items = await replica();
    await waitFor(
      async () => {
        items = await replica();
        return expected.every((w) => items.get(w.email)?._streamfleet_seq !== undefined);
      },
      { timeoutMs: 60_000, message: 'every record after a checkpoint to be replicated' },
    );
    const javaRecords = written.filter(appliedByJava);
    const reApplied = javaRecords.filter((w) => {
      const item = items.get(w.email);
      // Re-applied: stamped by Streamfleet. On C3, records after the checkpoint but before the prepared one are
      // replayed by design (at-least-once from the checkpoint); only those at or before the checkpoint count.
      const beforeCheckpoint = w.shardId !== c3 || compareSequenceNumbers(w.sequenceNumber, at(c3, 2)) <= 0;
      return beforeCheckpoint && item?.processed_by?.S !== JAVA;
    });
    const skipped = expected.filter(
      (w) => items.get(w.email)?._streamfleet_seq?.S !== toOrderedSequence(w.sequenceNumber),
    );
    const replayedOnC3 = inShard(c3).filter(
      (w) =>
        compareSequenceNumbers(w.sequenceNumber, at(c3, 2)) > 0 &&
        compareSequenceNumbers(w.sequenceNumber, pendingOfC3) <= 0,
    );
    expect({ javaRecords: javaRecords.length, reApplied: reApplied.length }).toEqual({
      javaRecords: javaRecords.length,
      reApplied: 0,
    });
    expect({ afterCheckpoints: expected.length, skipped: skipped.map((w) => w.email) }).toEqual({
      afterCheckpoints: expected.length,
      skipped: [],
    });
    expect(replayedOnC3.every((w) => items.get(w.email)?.processed_by?.S !== JAVA)).toBe(true);
    expect(expected.length).toBeGreaterThan(40);
    // LATEST: what was in S3 before Streamfleet first read it was not replicated, as KCL 1.x would not.
    expect(inShard(s3).filter((w) => w.phase === 'java' && items.has(w.email))).toEqual([]);

    // The owner index: added online (by one request at most: the worker that sent it may be the one killed before
    // it said so), with the table's provisioned units; each surviving worker switched to it once.
    const adding = events('lease-table.owner-index-adding');
    expect(adding.length).toBeGreaterThan(0);
    expect(adding.filter((e) => e.created === true).length).toBeLessThanOrEqual(1);
    for (const worker of survivors) {
      expect(worker.events('lease-table.owner-index-adding').length, worker.name).toBeLessThanOrEqual(1);
      // A worker that started after the index was ACTIVE had nothing to switch.
      const startedWithIndex = worker.events('lease-table.ready')[0]?.ownerIndex === true;
      expect(worker.events('lease-table.owner-index-ready'), worker.name).toHaveLength(
        startedWithIndex ? 0 : 1,
      );
    }
    expect(adding[0]).toMatchObject({
      billingMode: 'PROVISIONED',
      readCapacityUnits: 10,
      writeCapacityUnits: 10,
    });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: leaseTable }));
    expect(Table?.GlobalSecondaryIndexes?.[0]).toMatchObject({
      IndexName: 'LeaseOwnerToLeaseKeyIndex',
      IndexStatus: 'ACTIVE',
      ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 10 },
    });
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'leaseKey', KeyType: 'HASH' }]);

    // Rollback: Streamfleet stops; the table reads as KCL 1.x's, and a KCL worker resumes exactly after it.
    for (const worker of survivors) {
      worker.signal('SIGTERM');
      expect((await worker.exited).code).toBe(0);
    }
    const table = await scanAll(client, leaseTable);
    const readings = table.map(readAsKcl1);
    expect(readings.filter((r) => !r.ok)).toEqual([]);
    for (const reading of readings) {
      if (!reading.ok) continue;
      expect(reading.lease.ignored.filter((a) => !STREAMFLEET_ONLY.includes(a))).toEqual([]);
      expect(reading.lease.pendingCheckpoint).toBeUndefined(); // C3's went with Streamfleet's first checkpoint
      expect(reading.lease.checkpoint.subSequenceNumber).toBe(0n);
    }
    expect(readings.find((r) => r.ok && r.lease.leaseKey === s0)).toMatchObject({
      lease: { checkpoint: { sequenceNumber: 'SHARD_END' } },
    });
    for (let i = 0; i < 16; i++) await write('after');
    const kclBack = new FakeKcl1Worker(client, leaseTable, 'ip-10-0-3-7:back-2222', LEASE_MS);
    const streams = new DynamoDBStreamsClient({
      endpoint: created.streamsEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      for (const leaseKey of [c1, c2, s2, s3, ...javaLeases]) {
        expect(await kclBack.take(leaseKey), `KCL takes ${leaseKey} back`).toBe(true);
        const toProcess = await kclBack.recordsToProcess(streams, tables.streamArn, leaseKey);
        // Exactly what was written after Streamfleet stopped: nothing it applied again, nothing skipped.
        expect(toProcess.map((r) => r.dynamodb?.SequenceNumber)).toEqual(
          inShard(leaseKey)
            .filter((w) => w.phase === 'after')
            .map((w) => w.sequenceNumber),
        );
        const last = toProcess.at(-1)?.dynamodb?.SequenceNumber;
        if (last) expect(await kclBack.checkpoint(leaseKey, last)).toBe(true);
      }
    } finally {
      streams.destroy();
    }
  }, 240_000);
});
