/**
 * The functions' roles as the CDK app synthesizes them, held to the least-privilege properties (see
 * test/support/iam-properties.ts): the ten workflow functions' shared role and compare-replicas' own role
 * may make every DynamoDB call their code makes (core/iam-needs.ts) on the exact ARNs of cdk.json's fleet
 * and nothing else; `"*"` only where there is no resource-level permission; IAM only on the fleet's own
 * roles and, without DeleteRole, on the cluster's shared KEDA operator role.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet } from '../../core/fleet/fleet.js';
import { listOf, type NamedPolicy, statementsOf } from '../../core/iam/iam-evaluation.js';
import { COMPARE_NEEDS, CONTROL_PLANE_NEEDS } from '../../core/iam-needs.js';
import { rolePolicies } from '../../local/identities/cfn-policies.js';
import {
  allowed,
  expectExactlyTheNeeds,
  expectStarOnlyWithoutResourceLevel,
  resourceUniverse,
} from '../support/iam-properties.js';
import { cdkJsonContext, type Synthesized, synth } from './support.js';

const WHERE = { partition: 'aws', region: 'us-east-1', accountId: '123456789012' } as const;
const fleet = parseFleet({ clusterName: 'streamfleet', ...(cdkJsonContext().fleet as object) });
const role = (name: string) => `arn:aws:iam::123456789012:role/${name}`;

let s: Synthesized;
let shared: NamedPolicy[];
let compare: NamedPolicy[];

beforeAll(() => {
  s = synth();
  const policiesOf = (element: CfnElement) =>
    rolePolicies(s.assembly.getStackByName(s.stack.stackName).template, s.stack.getLogicalId(element), {
      ...WHERE,
      stackName: s.stack.stackName,
    });
  shared = policiesOf(s.stack.controlPlane.role.node.defaultChild as CfnElement);
  compare = policiesOf(s.stack.controlPlane.compareRole.node.defaultChild as CfnElement);
});

afterAll(() => s?.cleanup());

describe('the functions’ roles, as synthesized', () => {
  const universe = () => resourceUniverse(WHERE, [fleet]);

  it('the ten workflow functions may make every DynamoDB call they make, on the exact ARNs, and nothing else', async () => {
    await expectExactlyTheNeeds(
      { policies: shared, needs: CONTROL_PLANE_NEEDS, where: WHERE, fleet },
      universe(),
    );
  });

  it('compare-replicas may only read the source and the replica', async () => {
    await expectExactlyTheNeeds({ policies: compare, needs: COMPARE_NEEDS, where: WHERE, fleet }, universe());
  });

  it('"*" only for actions without resource-level permissions', () => {
    expectStarOnlyWithoutResourceLevel(shared);
    expectStarOnlyWithoutResourceLevel(compare);
  });

  it('manages only the fleet’s own roles, shares the KEDA operator role without deleting it, and never passes or assumes roles', async () => {
    const own = [fleet.roles.consumerRoleName, fleet.roles.scalerRoleName].map(role);
    const operator = role(fleet.keda.operatorRoleName);
    const p = { policies: shared };
    for (const action of [
      'iam:GetRole',
      'iam:PutRolePolicy',
      'iam:DeleteRolePolicy',
      'iam:UpdateAssumeRolePolicy',
    ]) {
      for (const arn of [...own, operator])
        expect(await allowed(p, action, arn), `${action} on ${arn}`).toBe(true);
      expect(await allowed(p, action, role('someone-elses'))).toBe(false);
    }
    for (const arn of own) expect(await allowed(p, 'iam:DeleteRole', arn)).toBe(true);
    expect(await allowed(p, 'iam:DeleteRole', operator)).toBe(false);
    for (const action of ['iam:PassRole', 'sts:AssumeRole', 'iam:AttachRolePolicy', 'iam:CreatePolicy']) {
      for (const arn of [...own, operator, '*'])
        expect(await allowed(p, action, arn), `${action} on ${arn}`).toBe(false);
    }
    // CreateRole only with the managed-by tag: every statement that grants it carries that condition.
    const creating = shared.flatMap((policy) =>
      statementsOf(policy.document).filter((st) => listOf(st.Action).includes('iam:CreateRole')),
    );
    expect(creating.length).toBeGreaterThan(0);
    for (const st of creating) {
      expect(st.Condition).toEqual({ StringEquals: { 'aws:RequestTag/managed-by': 'streamfleet' } });
      expect([...listOf(st.Resource)].sort()).toEqual([...own, operator].sort());
    }
  });
});
