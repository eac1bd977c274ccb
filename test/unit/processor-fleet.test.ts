/**
 * A fleet that runs its own record processor: the fleet input's `processor` (module and grants) checked before
 * anything is created, the grants held to least privilege and scoped to the fleet's account and region, the
 * Deployment naming the module instead of a target table, and the consumer policy carrying the grants instead of
 * the replica's statement.
 */
import { describe, expect, it } from 'vitest';
import { parseFleet } from '../../core/fleet/fleet.js';
import { consumerManifests } from '../../core/fleet/fleet-deploy.js';
import { consumerPolicy } from '../../core/iam/iam-policies.js';
import { scopedProcessorGrants, streamScope } from '../../core/iam/processor-grants.js';
import { InvalidInputError } from '../../core/vocabulary/errors.js';

const STREAM = 'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-01-01T00:00:00.000';
const VIEW = 'arn:aws:dynamodb:us-east-1:123456789012:table/user_domains';
const grant = { Sid: 'View', Effect: 'Allow', Action: ['dynamodb:UpdateItem'], Resource: [VIEW] };
const fleetInput = (processor: unknown, extra: Record<string, unknown> = {}) => ({
  name: 'domains',
  clusterName: 'c1',
  sourceTableName: 'users',
  image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/domains:1',
  processor,
  ...extra,
});

function refusal(run: () => unknown): InvalidInputError {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidInputError) return error;
    throw error;
  }
  throw new Error('expected an InvalidInputError');
}

describe('a fleet with its own processor', () => {
  it('needs no replica table, and refuses one', () => {
    const fleet = parseFleet(fleetInput({ module: '/app/processor/index.js', grants: [grant] }));
    expect(fleet.replicaTableName).toBeUndefined();
    expect(fleet.processor).toEqual({ module: '/app/processor/index.js', grants: [grant] });
    const error = refusal(() =>
      parseFleet(fleetInput({ module: '/app/p.js' }, { replicaTableName: 'users_replica' })),
    );
    expect(error.field).toBe('fleet.replicaTableName');
    expect(refusal(() => parseFleet(fleetInput(undefined))).field).toBe('fleet.replicaTableName');
  });

  it.each([
    [{ module: '' }, 'fleet.processor.module', /PROCESSOR_MODULE/],
    [{ module: 'm', grants: {} }, 'fleet.processor.grants', /list of policy statements/],
    [{ module: 'm', grants: [{ ...grant, Effect: 'Deny' }] }, 'fleet.processor.grants[0].Effect', /"Allow"/],
    [
      { module: 'm', grants: [{ ...grant, Action: ['dynamodb:*'] }] },
      'fleet.processor.grants[0].Action[0]',
      /no wildcards/,
    ],
    [
      { module: 'm', grants: [{ ...grant, Action: ['*'] }] },
      'fleet.processor.grants[0].Action[0]',
      /no wildcards/,
    ],
    [
      { module: 'm', grants: [{ ...grant, Resource: ['*'] }] },
      'fleet.processor.grants[0].Resource[0]',
      /exact ARN/,
    ],
    [
      { module: 'm', grants: [{ ...grant, Resource: [`${VIEW}*`] }] },
      'fleet.processor.grants[0].Resource[0]',
      /no wildcards/,
    ],
    [
      { module: 'm', grants: [{ ...grant, Condition: {} }] },
      'fleet.processor.grants[0].Condition',
      /not allowed/,
    ],
    [
      { module: 'm', grants: [{ ...grant, NotResource: [VIEW] }] },
      'fleet.processor.grants[0].NotResource',
      /not allowed/,
    ],
    [{ module: 'm', grants: [grant, grant] }, 'fleet.processor.grants[1].Sid', /used twice/],
  ])('refuses %j naming %s', (processor, field, message) => {
    const error = refusal(() => parseFleet(fleetInput(processor)));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it("scopes the grants to the fleet's account and region, with Sids that cannot clash with the consumer's", () => {
    const fleet = parseFleet(fleetInput({ module: 'm', grants: [grant] }));
    expect(
      scopedProcessorGrants(fleet.processor as NonNullable<typeof fleet.processor>, streamScope(STREAM)),
    ).toEqual([{ ...grant, Sid: 'ProcessorView' }]);
    const elsewhere = parseFleet(
      fleetInput({
        module: 'm',
        grants: [{ ...grant, Resource: ['arn:aws:dynamodb:eu-west-1:123456789012:table/x'] }],
      }),
    );
    const error = refusal(() =>
      scopedProcessorGrants(
        elsewhere.processor as NonNullable<typeof elsewhere.processor>,
        streamScope(STREAM),
      ),
    );
    expect(error.message).toMatch(/must be in the fleet's account 123456789012 and region us-east-1/);
  });

  it('deploys the module, not a target table, and grants what the processor needs instead of the replica', () => {
    const fleet = parseFleet(fleetInput({ module: '/app/processor/index.js', grants: [grant] }));
    const deployment = consumerManifests({
      fleet,
      streamArn: STREAM,
      consumerRoleArn: 'arn:aws:iam::123456789012:role/domains-consumer',
      region: 'us-east-1',
    }).find((manifest) => manifest.kind === 'Deployment');
    const env = (
      deployment as unknown as {
        spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
      }
    ).spec.template.spec.containers[0]?.env;
    expect(env?.find((e) => e.name === 'PROCESSOR_MODULE')?.value).toBe('/app/processor/index.js');
    expect(env?.some((e) => e.name === 'TARGET_TABLE_NAME')).toBe(false);
    const policy = consumerPolicy({
      streamArn: STREAM,
      leaseTableName: 'domains',
      targetTableName: undefined,
      processorGrants: scopedProcessorGrants(
        fleet.processor as NonNullable<typeof fleet.processor>,
        streamScope(STREAM),
      ),
    });
    expect(policy.Statement.map((s) => s.Sid)).toEqual([
      'ReadSourceStream',
      'OwnLeaseTable',
      'QueryLeasesByOwner',
      'ProcessorView',
    ]);
  });
});
