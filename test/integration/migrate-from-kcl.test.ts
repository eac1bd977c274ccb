/**
 * `streamfleet migrate --from-kcl` against DynamoDB Local behind the strict layer and a scripted stream: a lease
 * table as KCL 1.x leaves it (written by the fake KCL 1.x worker), read-only by default, refusing while the fake
 * Java owner renews, --apply adding the owner index and releasing the expired leases; and the errors, each with
 * its exit code: not a KCL lease table (2), not this stream's (2), no such table or stream (3), checkpoints older
 * than the stream's retention (3, naming the records that are gone). Asserted on exit codes, the JSON plan and the
 * table, never on wording beyond the facts a message must name.
 */
import { CreateTableCommand, DescribeTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../../cli/args.js';
import { main } from '../../cli/main.js';
import type { MigrationPlan } from '../../cli/migrate-plan.js';
import { createKcl1LeaseTable, FakeKcl1Worker } from '../support/fake-kcl1.js';
import { createScriptedReplication, localClient, scanAll, uniqueName } from '../support/fleet.js';
import type { ScriptedStream } from '../support/scripted-stream.js';

const endpoint = inject('ddbEndpoint');
const client = localClient(endpoint);
const FAILOVER_MS = 1_000; // the watch lasts 2 s

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let stream: ScriptedStream;
let streamsEndpoint: string;
const saved = { ...process.env };
const renewing = new Set<FakeKcl1Worker>();

beforeAll(async () => {
  const created = await createScriptedReplication(client, endpoint, 3);
  stream = created.stream;
  streamsEndpoint = created.streamsEndpoint;
  for (let i = 0; i < 40; i++) await stream.put({ email: `m${i}@example.com`, i });
});
afterEach(async () => {
  for (const worker of renewing) await worker.stopRenewing();
  renewing.clear();
});
afterAll(async () => {
  process.env = saved;
  await stream.stop();
});

async function migrate(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: streamsEndpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
  const code = await main(
    ['migrate', '--region', 'us-east-1', '--failover-ms', String(FAILOVER_MS), ...args],
    {
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
      env: { ...process.env },
    },
  );
  return { code, stdout, stderr };
}

const plan = (run: Run) => JSON.parse(run.stdout) as MigrationPlan & { applied: unknown };

/** The application's lease table: shard 0 mid-shard (dead owner), 1 unowned at TRIM_HORIZON, 2 at LATEST (live). */
async function kclTable(): Promise<{ table: string; shards: string[]; live: FakeKcl1Worker }> {
  const table = uniqueName('kcl-app');
  await createKcl1LeaseTable(client, table);
  const shards = stream.shards().map((s) => s.shardId);
  const [s0, s1, s2] = shards as [string, string, string];
  const dead = new FakeKcl1Worker(client, table, 'ip-10-0-1-17:dead', FAILOVER_MS);
  const live = new FakeKcl1Worker(client, table, 'ip-10-0-2-42:live', FAILOVER_MS);
  const mid = stream.records(s0)[2]?.dynamodb.SequenceNumber as string;
  await dead.createLease({ leaseKey: s0, checkpoint: mid, leaseOwner: dead.workerId, leaseCounter: 7 });
  await dead.createLease({ leaseKey: s1, checkpoint: 'TRIM_HORIZON' });
  await live.createLease({ leaseKey: s2, checkpoint: 'LATEST', leaseOwner: live.workerId, leaseCounter: 3 });
  return { table, shards, live };
}

describe('streamfleet migrate --from-kcl', () => {
  it('dry run while the Java owner renews: per shard what Streamfleet will do, exit 1, the table untouched', async () => {
    const { table, shards, live } = await kclTable();
    live.startRenewing();
    renewing.add(live);
    const before = await scanAll(client, table);
    const run = await migrate(['--from-kcl', table, '--stream-arn', stream.streamArn, '--json']);
    expect(run.code, run.stderr).toBe(ExitCode.Failed);
    const result = plan(run);
    expect(result.ready).toBe(false);
    expect(result.renewing).toEqual([{ owner: live.workerId, leases: [shards[2]] }]);
    expect(result.shards.map((s) => [s.shardId, s.action, s.renewed])).toEqual([
      [shards[0], 'resume-after-checkpoint', false],
      [shards[1], 'from-oldest-record', false],
      [shards[2], 'left-to-owner', true],
    ]);
    expect(result.leaseTable).toMatchObject({ billingMode: 'PROVISIONED', ownerIndex: 'ABSENT' });
    expect(result.setup.policyAdditions).toEqual([
      {
        resource: `arn:aws:dynamodb:ddblocal:000000000000:table/${table}`,
        actions: ['dynamodb:UpdateTable', 'dynamodb:BatchGetItem'],
      },
      {
        resource: `arn:aws:dynamodb:ddblocal:000000000000:table/${table}/index/LeaseOwnerToLeaseKeyIndex`,
        actions: ['dynamodb:Query'],
      },
    ]);
    expect(result.watchedMs).toBeGreaterThanOrEqual(FAILOVER_MS);
    // Nothing written: only the Java owner's own renewals moved a counter.
    const after = await scanAll(client, table);
    const withoutCounter = (items: typeof after) =>
      items
        .map(({ leaseCounter: _, ...rest }) => rest)
        .sort((a, b) => (a.leaseKey?.S ?? '').localeCompare(b.leaseKey?.S ?? ''));
    expect(withoutCounter(after)).toEqual(withoutCounter(before));
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.GlobalSecondaryIndexes).toBeUndefined();

    // The same, for people: every line fits 80 columns unless one word (an ARN) is longer.
    const text = await migrate(['--from-kcl', table, '--stream-arn', stream.streamArn, '--apply']);
    expect(text.code).toBe(ExitCode.Failed); // --apply refuses while renewals are seen
    for (const line of text.stdout.split('\n'))
      if (line.length > 80) expect(line.slice(15).trim(), line).not.toMatch(/\s/);
    expect(
      (await client.send(new DescribeTableCommand({ TableName: table }))).Table?.GlobalSecondaryIndexes,
    ).toBeUndefined();
  }, 60_000);

  it('once the Java fleet has stopped: ready; --apply adds the owner index and releases the leases it left owned', async () => {
    const { table, shards } = await kclTable(); // the live worker never renews here: stopped
    const dry = await migrate(['--from-kcl', table, '--stream-arn', stream.streamArn, '--json']);
    expect(dry.code, dry.stderr).toBe(ExitCode.Ok);
    expect(plan(dry).ready).toBe(true);
    const run = await migrate(['--from-kcl', table, '--stream-arn', stream.streamArn, '--apply', '--json']);
    expect(run.code, run.stderr).toBe(ExitCode.Ok);
    expect(plan(run).applied).toEqual({
      ownerIndex: 'created',
      released: [shards[0], shards[2]],
      changedMeanwhile: [],
    });
    const items = new Map((await scanAll(client, table)).map((i) => [i.leaseKey?.S, i]));
    expect(items.get(shards[0])?.leaseOwner).toBeUndefined();
    expect(items.get(shards[0])?.leaseCounter).toEqual({ N: '8' });
    expect(items.get(shards[0])?.checkpoint).toEqual({
      S: stream.records(shards[0] as string)[2]?.dynamodb.SequenceNumber,
    });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.GlobalSecondaryIndexes?.[0]).toMatchObject({
      IndexName: 'LeaseOwnerToLeaseKeyIndex',
      ProvisionedThroughput: { ReadCapacityUnits: 10, WriteCapacityUnits: 10 },
    });
  }, 60_000);

  it('a table that is not a KCL 1.x lease table: exit 2, naming what differs', async () => {
    const users = uniqueName('not-kcl');
    await client.send(
      new CreateTableCommand({
        TableName: users,
        KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'email', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const run = await migrate(['--from-kcl', users, '--stream-arn', stream.streamArn]);
    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain('its hash key is email');

    const lookalike = uniqueName('lookalike');
    await createKcl1LeaseTable(client, lookalike);
    await client.send(
      new PutItemCommand({
        TableName: lookalike,
        Item: { leaseKey: { S: 'x' }, leaseCounter: { S: 'seven' }, checkpoint: { S: 'TRIM_HORIZON' } },
      }),
    );
    const items = await migrate(['--from-kcl', lookalike, '--stream-arn', stream.streamArn]);
    expect(items.code).toBe(ExitCode.Usage);
    expect(items.stderr).toContain('leaseCounter is S');
  });

  it('a lease table of another stream: exit 2', async () => {
    const table = uniqueName('other-stream');
    await createKcl1LeaseTable(client, table);
    await new FakeKcl1Worker(client, table, 'w').createLease({
      leaseKey: 'shardId-000000000000',
      checkpoint: '49590338271490256608559692538361571095921575989136588898',
    });
    const run = await migrate(['--from-kcl', table, '--stream-arn', stream.streamArn]);
    expect(run.code).toBe(ExitCode.Usage);
    expect(run.stderr).toContain('shardId-000000000000');
  });

  it('no such table, no such stream: exit 3 with what to do', async () => {
    const noTable = await migrate(['--from-kcl', uniqueName('absent'), '--stream-arn', stream.streamArn]);
    expect(noTable.code).toBe(ExitCode.Unavailable);
    expect(noTable.stderr).toContain('What to do');
    const { table } = await kclTable();
    const noStream = await migrate(['--from-kcl', table, '--stream-arn', `${stream.streamArn}0`]);
    expect(noStream.code).toBe(ExitCode.Unavailable);
    expect(noStream.stderr).toContain('What to do');
  });

  it('checkpoints older than the retention: exit 3, naming the records that are gone', async () => {
    const { table, shards } = await kclTable();
    const s0 = shards[0] as string;
    const records = stream.records(s0);
    const checkpoint = records[2]?.dynamodb.SequenceNumber as string;
    const firstKept = records[6]?.dynamodb.SequenceNumber as string;
    stream.trim(s0, records[5]?.dynamodb.SequenceNumber); // 24 h went by: records up to the 6th aged out
    const run = await migrate(['--from-kcl', table, '--stream-arn', stream.streamArn]);
    expect(run.code).toBe(ExitCode.Unavailable);
    expect(run.stderr).toContain(`${s0}: the records after ${checkpoint} and before ${firstKept}`);
    expect(run.stderr).toContain('cannot be recovered');
  });

  it('missing usage: --from-kcl and --stream-arn are both needed (exit 2)', async () => {
    const run = await main(['migrate', '--from-kcl', 'x'], { stdout: () => {}, stderr: () => {}, env: {} });
    expect(run).toBe(ExitCode.Usage);
  });
});
