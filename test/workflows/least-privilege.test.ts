/**
 * Least privilege, proven: the worker, every handler and every workflow run through a strict layer with the
 * `iam` rule on, each principal signing as the role the project deploys for it (the IRSA roles wire-irsa
 * builds from core/iam/iam-policies.ts, the functions' roles from the CDK app), and not one call is refused.
 * The same run, with dynamodb:BatchGetItem taken out of the consumer's policy, is refused on the lease table
 * for the consumer's role session, by name. What each principal used is held against what it is granted:
 * nothing used that is not granted, nothing granted that is not used unless its reason is written down
 * (core/iam-needs.ts `unusedUnless`, or a service the layer cannot see). `npm run iam-report` prints it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localServices } from '../../core/ports.js';
import {
  AwsRulesProxy,
  type AwsRulesStats,
  fetchAwsRulesStats,
  resetAwsRulesStats,
} from '../../local/aws-rules/index.js';
import { type LocalCluster, startLocalCluster } from '../../local/cluster/index.js';
import {
  deployedPrincipals,
  ProofRun,
  proofFleetInput,
  replaceRolePolicy,
  withoutAction,
} from '../../local/identities/proof.js';
import type { PrincipalGrants } from '../../local/identities/usage-report.js';
import {
  assertNoRefusals,
  IamRefusalError,
  mergeCounts,
  usageFigures,
  usageReport,
} from '../../local/identities/usage-report.js';
import { emulatorEndpoint } from '../support/aws-rules.js';
import { uniqueName, waitFor } from '../support/fleet.js';

describe('least privilege, through the strict layer with IAM on', () => {
  let layer: AwsRulesProxy;
  let cluster: LocalCluster;
  let run: ProofRun;
  let principals: PrincipalGrants[];
  /** The layer's counters of each part of the run (reset between them). */
  const windows: AwsRulesStats[] = [];

  beforeAll(async () => {
    layer = await AwsRulesProxy.start({ upstream: emulatorEndpoint() });
    cluster = await startLocalCluster({
      name: uniqueName('iam'),
      dynamodbEndpoint: layer.endpoint,
      pollingIntervalMs: 500,
      readinessIntervalMs: 200,
    });
    run = new ProofRun({
      endpoint: layer.endpoint,
      directEndpoint: emulatorEndpoint(),
      fleetInput: proofFleetInput(cluster.name, `lp-${randomUUID().slice(0, 8)}`),
    });
  });

  afterAll(async () => {
    run?.close();
    await cluster?.stop();
    await layer?.close();
  });

  it('runs the worker, every handler and every workflow with every principal judged, and refuses nothing', async () => {
    await run.exercise();
    const stats = await fetchAwsRulesStats(layer.endpoint);
    windows.push(stats);
    assertNoRefusals(stats.refused.iam);
    expect(stats.iam.unjudged).toBe(0);
    principals = await deployedPrincipals(run.fleetInput);
    // Every principal of the run made calls as its own role: through the layer, or (KEDA's operator role,
    // which only assumes the scaler role) through the local KEDA's STS.
    const callers = Object.keys(mergeCounts(stats.iam.allowed, cluster.stsUsage()));
    for (const principal of principals) expect(callers, principal.label).toContain(principal.roleArn);
    // The workers also watched their pods through the cluster's Kubernetes API, under the Role the manifests
    // grant, and RBAC refused them nothing (test/workflows/local-kubernetes-api.test.ts proves used = granted).
    const kubernetes = cluster.kubernetesApi
      .usage()
      .filter((u) => u.user.startsWith('system:serviceaccount:'));
    expect(kubernetes.map((u) => u.verb).sort()).toEqual(expect.arrayContaining(['list', 'watch']));
    expect(kubernetes.filter((u) => u.denied > 0)).toEqual([]);
  }, 240_000);

  it('the same run without dynamodb:BatchGetItem in the consumer policy is refused, naming action, resource and principal', async () => {
    const { consumerRoleName } = run.fleet.roles;
    const original = await replaceRolePolicy(
      localServices.iam,
      consumerRoleName,
      'streamfleet-consumer',
      (p) => withoutAction(p, 'dynamodb:BatchGetItem'),
    );
    const refused = async () => (await fetchAwsRulesStats(layer.endpoint)).refused.iam;
    await waitFor(async () => (await refused()).total > 0, {
      timeoutMs: 30_000,
      message: 'the workers’ next taker pass to be refused',
    });
    const leaseTable = `arn:aws:dynamodb:ddblocal:000000000000:table/${run.fleet.applicationName}`;
    const session = `arn:aws:sts::000000000000:assumed-role/${consumerRoleName}/${run.fleet.name}-`;
    const now = await refused();
    expect(() => assertNoRefusals(now)).toThrow(IamRefusalError);
    expect(() => assertNoRefusals(now)).toThrow(
      `is not authorized to perform: dynamodb:BatchGetItem on resource: ${leaseTable} because no identity-based policy allows the dynamodb:BatchGetItem action`,
    );
    expect(now.recent[0]).toMatchObject({
      action: 'dynamodb:BatchGetItem',
      resource: leaseTable,
      roleArn: `arn:aws:iam::000000000000:role/${consumerRoleName}`,
      decision: 'implicit-deny',
    });
    expect(now.recent[0]?.principal.startsWith(session)).toBe(true);
    expect(Object.keys(now.byPrincipal)).toEqual([`arn:aws:iam::000000000000:role/${consumerRoleName}`]);

    // Put the policy back; once a BatchGetItem passes again, the rest of the run is counted afresh.
    await replaceRolePolicy(localServices.iam, consumerRoleName, 'streamfleet-consumer', () => original);
    await resetAwsRulesStats(layer.endpoint);
    await waitFor(
      async () => {
        const stats = await fetchAwsRulesStats(layer.endpoint);
        const used = stats.iam.allowed[`arn:aws:iam::000000000000:role/${consumerRoleName}`];
        return used?.['dynamodb:BatchGetItem'] !== undefined;
      },
      { timeoutMs: 30_000, message: 'BatchGetItem to pass again' },
    );
    await resetAwsRulesStats(layer.endpoint);
  }, 90_000);

  it('tears down refusing nothing; every principal used only what it is granted and was granted only what it used', async () => {
    await run.teardown();
    const stats = await fetchAwsRulesStats(layer.endpoint);
    windows.push(stats);
    assertNoRefusals(stats.refused.iam);
    const report = usageReport({
      principals,
      allowed: mergeCounts(...windows.map((w) => w.iam.allowed), cluster.stsUsage()),
      refused: mergeCounts(...windows.map((w) => w.refused.iam.byPrincipal)),
    });
    for (const principal of report) {
      expect(principal.usedNotGranted, principal.label).toEqual([]);
      expect(
        principal.grantedNotUsed.filter((g) => g.reason === undefined),
        principal.label,
      ).toEqual([]);
    }
    expect(usageFigures(report).map((f) => [f.label, f.usedNotGranted, f.grantedNotUsed])).toEqual(
      principals.map((p) => [p.label, 0, 0]),
    );
  }, 120_000);
});
