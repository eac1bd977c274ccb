/** Context parsing (no synth), and docs/deploy.md (with the README) against the context keys and scripts the code supports. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, type ContextKey, DEFAULT_KEDA_VERSION, readInfraConfig } from '../../infra/config.js';
import { cdkJsonContext, REPO_ROOT } from './context.js';

const fleet = { name: 'users-replicator', sourceTableName: 'users', replicaTableName: 'users_replica' };
const read = (context: Partial<Record<ContextKey, unknown>>) =>
  readInfraConfig((key) => (context as Record<string, unknown>)[key]);

describe('readInfraConfig', () => {
  it('defaults: create a cluster named after the fleet (or streamfleet) with KEDA, verify every 5 min', () => {
    const config = read({ fleet });
    expect(config.cluster).toEqual({ mode: 'create', name: 'streamfleet', installKeda: true });
    expect(config.fleetInput).toEqual({ ...fleet, clusterName: 'streamfleet' });
    expect(config).toMatchObject({
      stackName: 'Streamfleet',
      kedaVersion: DEFAULT_KEDA_VERSION,
      buildConsumerImage: true,
      consumerImagePlatform: 'linux/amd64',
      verifyEveryMinutes: 5,
      verifyScheduleEnabled: true,
      replicationLagThresholdMs: 60000,
      logRetentionDays: 30,
    });
    // The workflows' own defaults: the grants are scoped to these names.
    expect(config.fleet.roles).toEqual({
      consumerRoleName: 'users-replicator-consumer',
      scalerRoleName: 'users-replicator-keda-scaler',
    });
    expect(config.fleet.keda.operatorRoleName).toBe('keda-operator-streamfleet');
    expect(config.fleet.applicationName).toBe('users-replicator');
  });

  it('clusterName imports that cluster (no KEDA unless installKeda=true)', () => {
    expect(read({ fleet, clusterName: 'demo' }).cluster).toEqual({
      mode: 'import',
      name: 'demo',
      installKeda: false,
    });
    expect(read({ fleet, clusterName: 'demo', installKeda: 'true' }).cluster.installKeda).toBe(true);
    expect(read({ fleet: { ...fleet, clusterName: 'demo' }, clusterName: 'demo' }).fleet.clusterName).toBe(
      'demo',
    );
  });

  it('the fleet comes as an object (cdk.json) or a JSON string (-c fleet=...)', () => {
    expect(read({ fleet: JSON.stringify(fleet) }).fleet.name).toBe('users-replicator');
  });

  it.each([
    [{}, /context fleet: is required/],
    [{ fleet: '{not json' }, /context fleet: expected a JSON object/],
    [{ fleet: { ...fleet, name: 'Not_A_Label' } }, /context fleet\.name/],
    [{ fleet: { ...fleet, clusterName: 'a' }, clusterName: 'b' }, /must name the same cluster/],
    [{ fleet, installKeda: 'false' }, /context installKeda/],
    [{ fleet, installKeda: 'maybe', clusterName: 'demo' }, /context installKeda: expected true or false/],
    [{ fleet, verifyEveryMinutes: '0' }, /context verifyEveryMinutes: expected an integer from 1 to 60/],
    [{ fleet, verifyEveryMinutes: 'often' }, /context verifyEveryMinutes/],
    [{ fleet, logRetentionDays: 10 }, /context logRetentionDays: expected one of 1, 3, 5/],
    [
      { fleet, buildConsumerImage: 'false' },
      /context fleet\.image: is required with buildConsumerImage=false/,
    ],
    [{ fleet, consumerImagePlatform: 'linux/386' }, /context consumerImagePlatform/],
    [{ fleet, kedaVersion: 'latest' }, /context kedaVersion/],
    [{ fleet, clusterAdminRoleArn: 'admin' }, /context clusterAdminRoleArn: expected an IAM role ARN/],
    [{ fleet, alertEmail: 'nobody' }, /context alertEmail/],
    [{ fleet, stackName: '9lives' }, /context stackName/],
  ])('rejects %j with a message naming the key', (context, message) => {
    expect(() => read(context as Partial<Record<ContextKey, unknown>>)).toThrow(message);
  });

  it("cdk.json's context is a valid configuration", () => {
    expect(() => readInfraConfig((key) => cdkJsonContext()[key])).not.toThrow();
  });
});

describe('docs/deploy.md and the README: Deploy to AWS', () => {
  const doc = ['docs/deploy.md', 'README.md'].map((f) => readFileSync(join(REPO_ROOT, f), 'utf8')).join('\n');

  it('documents every context key the app reads, and passes no other', () => {
    for (const key of CONTEXT_KEYS) expect(doc, `context ${key}`).toContain(`\`${key}\``);
    const passed = [...doc.matchAll(/-c\s+([A-Za-z]+)=/g)].map((m) => m[1] as ContextKey);
    expect(passed.length).toBeGreaterThan(0);
    for (const key of passed) expect(CONTEXT_KEYS, `-c ${key}=`).toContain(key);
  });

  it('runs only npm scripts package.json has', () => {
    const scripts = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    const used = [...doc.matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1] ?? '');
    for (const script of used) expect(Object.keys(scripts), `npm run ${script}`).toContain(script);
    expect(scripts.synth).toContain('cdk synth');
  });
});
