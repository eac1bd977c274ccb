/**
 * Evidence-based takeover with real worker processes as pods of a local cluster, watching each other through
 * its Kubernetes API with their ServiceAccount's token (the RBAC the manifests grant), the strict layer in front
 * of DynamoDB. The lease duration is ten minutes, so a lease taken within a test can only have been taken on
 * the orchestrator's word, never because it expired. Asserted on the workers' own events, in order, and on the
 * replica's data: never on how long anything took (that is the bench's job).
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { PROCESSED_BY_ATTRIBUTE } from '../../consumer/replication/replication-processor.js';
import { createReplicationTables, localClient, scanAll, waitFor } from '../support/fleet.js';
import { PodFleet } from '../support/pod-fleet.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);

/** Ten minutes: nothing in these tests can expire; renewals every five (half of it, the most allowed). */
const LONG_LEASES = {
  LEASE_DURATION_MS: '600000',
  LEASE_RENEW_INTERVAL_MS: '300000',
  LEASE_TAKER_INTERVAL_MS: '500',
  IDLE_TIME_BETWEEN_READS_MS: '100',
  SHARD_SYNC_INTERVAL_MS: '2000',
};

let fleet: PodFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const put = (table: string, email: string, version: number) =>
  client.send(
    new PutItemCommand({ TableName: table, Item: { email: { S: email }, version: { N: String(version) } } }),
  );

/** The owner of the shard being read, as the lease table says. */
async function openLeaseOwner(app: string): Promise<string | undefined> {
  const leases = await scanAll(client, app);
  return leases.find((l) => l.checkpoint?.S !== 'SHARD_END')?.leaseOwner?.S;
}

/** Index of the first event of `name` matching `match` in a worker's log (-1 when absent). */
function indexOf(events: { event: string }[], name: string, match: (e: Record<string, unknown>) => boolean) {
  return events.findIndex((e) => e.event === name && match(e as Record<string, unknown>));
}

async function ownerAndPeer(pods: PodFleet, app: string) {
  const owner = await waitFor(() => openLeaseOwner(app).catch(() => undefined), {
    timeoutMs: 30_000,
    message: `a lease owner\n${pods
      .running()
      .map((p) => `--- ${p.name}\n${pods.output(p.name).slice(-1500)}`)
      .join('\n')}`,
  });
  const peer = pods.running().find((p) => p.name !== owner);
  const ownerPod = pods.running().find((p) => p.name === owner);
  if (!peer || !ownerPod) throw new Error(`no peer beside ${owner}`);
  // The peer watches the pods: it has seen the owner running.
  await pods.waitForEvent(peer.name, 'peers.watch-started');
  return { owner: ownerPod, peer };
}

describe('evidence-based takeover (pods of a local cluster, lease duration 10 min)', () => {
  it('a SIGKILLed pod: its peer sees the container end, takes the lease at once and replicates', async () => {
    const tables = await createReplicationTables(client);
    fleet = await PodFleet.start({ endpoint, tables, replicas: 2, workerEnv: LONG_LEASES });
    for (let i = 0; i < 5; i++) await put(tables.source, `before-${i}@x`, 1);
    const { owner, peer } = await ownerAndPeer(fleet, tables.app);
    await waitFor(async () => (await scanAll(client, tables.target)).length === 5, {
      timeoutMs: 30_000,
      message: 'the first writes replicated by the owner',
    });

    fleet.cluster.signalPod(owner.name, 'SIGKILL');
    for (let i = 0; i < 5; i++) await put(tables.source, `after-${i}@x`, 1);
    await waitFor(
      async () =>
        (await scanAll(client, tables.target)).filter(
          (item) => item.email?.S?.startsWith('after-') && item[PROCESSED_BY_ATTRIBUTE]?.S === peer.name,
        ).length === 5,
      { timeoutMs: 60_000, message: `the peer ${peer.name} to replicate the writes made after the kill` },
    );

    const events = fleet.events(peer.name);
    const gone = indexOf(events, 'peers.state', (e) => e.owner === owner.name && e.state === 'gone');
    const taken = indexOf(
      events,
      'lease.taken',
      (e) => e.previousOwner === owner.name && e.how === 'evidence' && e.evidence === 'container-not-running',
    );
    const reading = indexOf(events, 'shard.initialized', () => true);
    expect(gone, 'the peer saw the container end').toBeGreaterThanOrEqual(0);
    expect(taken, 'then took the lease on that evidence').toBeGreaterThan(gone);
    expect(reading, 'then read the shard').toBeGreaterThan(taken);
    // Not from the lease's expiry: the peer never judged the owner dead by its counter.
    expect(fleet.events(peer.name, 'peers.dead')).toEqual([]);
    expect(await openLeaseOwner(tables.app)).toBe(peer.name);
  }, 120_000);

  it('a frozen owner whose pod was force-deleted resumes after the early takeover, and none of its writes land', async () => {
    const tables = await createReplicationTables(client);
    fleet = await PodFleet.start({ endpoint, tables, replicas: 2, workerEnv: LONG_LEASES });
    await put(tables.source, 'doomed@x', 1);
    const { owner, peer } = await ownerAndPeer(fleet, tables.app);
    await waitFor(async () => (await scanAll(client, tables.target)).length === 1, {
      timeoutMs: 30_000,
      message: 'the first write replicated by the owner',
    });

    // Frozen, then its node is lost and the pod force-deleted: the API says gone, the process lives on.
    fleet.signal(owner.name, 'SIGSTOP');
    await fleet.cluster.deletePod(owner.name, { force: true, nodeLost: true });
    const taken = await fleet.waitForEvent(
      peer.name,
      'lease.taken',
      (e) => e.previousOwner === owner.name && e.how === 'evidence' && e.evidence === 'pod-deleted',
    );
    // Newer changes, replicated by the new owner while the old one is frozen.
    await put(tables.source, 'doomed@x', 2);
    await put(tables.source, 'late@x', 1);
    await waitFor(
      async () => {
        const items = await scanAll(client, tables.target);
        const doomed = items.find((i) => i.email?.S === 'doomed@x');
        return doomed?.version?.N === '2' && items.some((i) => i.email?.S === 'late@x');
      },
      { timeoutMs: 60_000, message: 'the new owner to replicate the newer changes' },
    );
    const written = await scanAll(client, tables.target);

    // The zombie wakes believing it holds the lease (its renewal is minutes away) and reads the new records.
    fleet.signal(owner.name, 'SIGCONT');
    await waitFor(
      async () =>
        ((await fleet?.metric(owner, 'streamfleet_replica_writes_total', { outcome: 'fenced' })) ?? 0) > 0,
      {
        timeoutMs: 60_000,
        message: 'the resumed zombie to have its writes refused by the fence',
      },
    );
    await fleet.waitForEvent(owner.name, 'shard.stopped');
    expect(await fleet.metric(owner, 'streamfleet_replica_writes_total', { outcome: 'applied' })).toBe(1);
    // Nothing it sent landed: the replica is what the new owner wrote, item for item.
    expect(await scanAll(client, tables.target)).toEqual(expect.arrayContaining(written));
    expect((await scanAll(client, tables.target)).length).toBe(written.length);
    expect(
      (await scanAll(client, tables.target)).filter((i) => i[PROCESSED_BY_ATTRIBUTE]?.S === owner.name),
    ).toEqual([]);
    expect(taken.checkpoint).toBeDefined();
    expect(await openLeaseOwner(tables.app)).toBe(peer.name);
  }, 150_000);
});
