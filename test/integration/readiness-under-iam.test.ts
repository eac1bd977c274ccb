/**
 * A lease loop that keeps failing must not leave the worker looking ready. Two workers sign as a consumer role
 * whose policy lacks dynamodb:BatchGetItem (IAM authorises it as its own action), through a strict layer with
 * its `iam` rule on: the peer's taker pass, which reads the owner's sentinel leases with BatchGetItem, is refused
 * with AccessDeniedException every second. That peer turns /readyz 503, says so loudly once (one
 * `lease-loop.failed` event for the cause) while counting every failure, and recovers — ready again, one
 * `lease-loop.recovered` — once the grant is back.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { consumerPolicy } from '../../core/iam/iam-policies.js';
import { registerIamCredentials, registerIamRole } from '../../local/aws-rules/index.js';
import { startAwsRules } from '../support/aws-rules.js';
import {
  createReplicationTables,
  localClient,
  stopAll,
  WorkerProcess,
  waitFor,
  waitForOpenLeaseOwner,
} from '../support/fleet.js';

const workers = new Set<WorkerProcess>();
afterAll(() => stopAll(workers));

const ROLE = 'readiness-consumer';
const ROLE_ARN = `arn:aws:iam::000000000000:role/${ROLE}`;

async function readyz(worker: WorkerProcess): Promise<number> {
  return (await fetch(`http://127.0.0.1:${worker.port}/readyz`)).status;
}

describe('readiness when the lease loop keeps failing', () => {
  it('a worker refused BatchGetItem turns not ready, says so once, counts every failure, and recovers', async () => {
    const layer = await startAwsRules({ upstream: inject('ddbDirectEndpoint') });
    const client = localClient(layer.endpoint); // unregistered credentials: not judged
    const tables = await createReplicationTables(client);
    const full = consumerPolicy({
      streamArn: tables.streamArn,
      leaseTableName: tables.app,
      targetTableName: tables.target,
    });
    const withoutBatchGet = {
      ...full,
      Statement: full.Statement.map((statement) => ({
        ...statement,
        Action: (statement.Action as string[]).filter((action) => action !== 'dynamodb:BatchGetItem'),
      })),
    };
    const register = (document: typeof full) =>
      registerIamRole(layer.endpoint, ROLE, {
        arn: ROLE_ARN,
        policies: [{ name: 'streamfleet-consumer', document }],
      });
    await register(withoutBatchGet);
    const start = async (name: string) => {
      const accessKeyId = `ASIA${name.toUpperCase().replace(/[^A-Z0-9]/g, '')}`;
      await registerIamCredentials(layer.endpoint, accessKeyId, { roleId: ROLE, sessionName: name });
      const worker = await WorkerProcess.start({
        endpoint: layer.endpoint,
        tables,
        name,
        env: { AWS_ACCESS_KEY_ID: accessKeyId, LEASE_DURATION_MS: '3000', LEASE_TAKER_INTERVAL_MS: '500' },
      });
      workers.add(worker);
      await worker.waitForEvent('worker.started', () => true, 30_000);
      return worker;
    };

    const owner = await start('ready-owner');
    await waitForOpenLeaseOwner(client, tables.app, owner.name, { timeoutMs: 30_000 });
    const peer = await start('ready-peer');
    // The peer reads the owner's sentinel every pass: refused, pass after pass.
    await waitFor(async () => (await readyz(peer)) === 503, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'the peer to report not ready',
    });
    await waitFor(async () => (await peer.metric('streamfleet_lease_loop_failures_total')) >= 5, {
      timeoutMs: 30_000,
      message: 'several failed passes to be counted',
    });
    const loud = peer.events('lease-loop.failed');
    expect(loud.map((e) => [e.loop, e.cause])).toEqual([['taker', 'AccessDeniedException']]); // once, not every pass
    expect(await readyz(owner)).toBe(200); // the owner's own passes need no BatchGetItem here

    await register(full);
    await waitFor(async () => (await readyz(peer)) === 200, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'the peer to be ready again',
    });
    const recovered = await peer.waitForEvent('lease-loop.recovered');
    expect(recovered).toMatchObject({ loop: 'taker', cause: 'AccessDeniedException' });
    expect(recovered.failures as number).toBeGreaterThanOrEqual(5);
  }, 180_000);
});
