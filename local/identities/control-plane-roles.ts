/**
 * The control plane's roles as the CDK app deploys them for a fleet: the app (infra/app.ts, the one
 * `cdk deploy` runs) is synthesized in this process with that fleet as its `fleet` context, and each
 * function's execution role's policies are read from the synthesized template (cfn-policies.ts) — the same
 * grants, from the same code, resolved for DynamoDB Local's account and region. One synth per fleet per
 * process (about 0.1 s after the first, which loads the CDK: about 2 s); deterministic: the logical ids,
 * hence role names, depend only on the app's code.
 *
 * Locally every fleet is its own stack, `Streamfleet-<fleet.name>` (the README's "Another fleet" does the same
 * on AWS), importing its cluster (`clusterName` context: the local cluster exists already) and naming its
 * image instead of building it (`buildConsumerImage=false`); asset bundling is skipped. None of these change a
 * grant of the functions' roles.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import type { NamedPolicy } from '../../core/iam/iam-evaluation.js';
import { stableText } from '../../core/vocabulary/stable-text.js';
import { ControlPlaneFunction } from '../../core/workflows.js';
import { DYNAMODB_LOCAL_LOCATION } from '../aws-rules/iam-requests.js';
import { type CfnTemplate, rolePolicies } from './cfn-policies.js';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** One function's execution role as deployed. */
export interface DeployedRole {
  /** `arn:aws:iam::000000000000:role/<stack>-<logical id>`: CloudFormation names an unnamed role after both. */
  readonly arn: string;
  readonly logicalId: string;
  readonly policies: readonly NamedPolicy[];
}

export type ControlPlaneRoles = Readonly<Record<ControlPlaneFunction, DeployedRole>>;

/** The stack a fleet's control plane is deployed as, locally. */
export function localStackName(fleetName: string): string {
  return `Streamfleet-${fleetName}`;
}

function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** Where the stack is deployed: the pseudo parameters its ARNs are resolved with. */
export interface DeployLocation {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

async function synthesize(
  fleetInput: Record<string, unknown>,
  where: DeployLocation,
): Promise<ControlPlaneRoles> {
  const [{ buildApp }, { parseFleet }] = await Promise.all([
    import('../../infra/app.js'),
    import('../../core/fleet/fleet.js'),
  ]);
  const fleet = parseFleet(fleetInput);
  const stackName = localStackName(fleet.name);
  const outdir = mkdtempSync(join(tmpdir(), 'streamfleet-iam-'));
  // The functions' code folder: it must exist; nothing is read from it with bundling skipped.
  const distDir = join(outdir, 'functions');
  mkdirSync(distDir);
  try {
    const { app, stack } = buildApp({
      context: {
        ...cdkJsonContext(),
        fleet: { ...fleetInput, image: fleet.image ?? 'streamfleet:local' },
        stackName,
        clusterName: fleet.clusterName,
        buildConsumerImage: false,
        // cx-api BUNDLING_STACKS: bundle no stack's assets (the functions' code does not change their roles).
        'aws:cdk:bundling-stacks': [],
      },
      outdir,
      distDir,
      nag: false,
      validation: false,
    });
    const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
    const pseudo = { ...where, stackName };
    const roles: Partial<Record<ControlPlaneFunction, DeployedRole>> = {};
    for (const fn of Object.values(ControlPlaneFunction)) {
      const role = stack.controlPlane.functions[fn].role;
      if (!role) throw new Error(`function ${fn} of the CDK app has no role`);
      const logicalId = stack.getLogicalId(role.node.defaultChild as CfnElement);
      roles[fn] = {
        arn: `arn:${pseudo.partition}:iam::${pseudo.accountId}:role/${`${stackName}-${logicalId}`.slice(0, 64)}`,
        logicalId,
        policies: rolePolicies(template, logicalId, pseudo),
      };
    }
    return roles as ControlPlaneRoles;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const cache = new Map<string, Promise<ControlPlaneRoles>>();

/**
 * Each control-plane function's role, as the CDK app deploys it for `fleetInput` (the `fleet` object of a
 * workflow input), resolved for `where` (DynamoDB Local's account and region by default). Throws the fleet's
 * InvalidInputError when it is not a valid fleet.
 */
export function controlPlaneRoles(
  fleetInput: Record<string, unknown>,
  where: DeployLocation = DYNAMODB_LOCAL_LOCATION,
): Promise<ControlPlaneRoles> {
  // Map keys sorted: the same fleet, however its input was written, is one cache entry.
  const key = stableText({ fleetInput, where });
  let roles = cache.get(key);
  if (!roles) {
    roles = synthesize(fleetInput, where);
    cache.set(key, roles);
    roles.catch(() => cache.delete(key));
  }
  return roles;
}
