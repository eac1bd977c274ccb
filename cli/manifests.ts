/**
 * `streamfleet manifests`: what DeployConsumer and InstallScaler apply for a fleet (core/fleet/fleet-deploy.ts
 * `fleetManifests`, the same function the workflow uses), as YAML for `kubectl apply -f -`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { FleetSpec } from '../core/fleet/fleet.js';
import { fleetManifests } from '../core/fleet/fleet-deploy.js';
import { renderManifestsYaml } from '../core/kubernetes/fleet-manifests.js';
import { sourceStreamArn } from '../core/tables/tables.js';
import type { Env } from './args.js';

export async function manifestsYaml(input: {
  fleet: FleetSpec;
  region: string;
  streamArn: string | undefined;
  roleArn: string | undefined;
  accountId: string | undefined;
  env: Env;
}): Promise<string> {
  const { fleet } = input;
  let streamArn = input.streamArn;
  if (streamArn === undefined) {
    const dynamodb = new DynamoDBClient({ region: input.region });
    try {
      streamArn = await sourceStreamArn(dynamodb, fleet.sourceTableName);
    } finally {
      dynamodb.destroy();
    }
  }
  let account = input.accountId ?? input.env.STREAMFLEET_ACCOUNT_ID;
  if (account === undefined) {
    const sts = new STSClient({ region: input.region });
    try {
      account = (await sts.send(new GetCallerIdentityCommand({}))).Account;
    } finally {
      sts.destroy();
    }
  }
  const partition = input.region.startsWith('cn-')
    ? 'aws-cn'
    : input.region.startsWith('us-gov-')
      ? 'aws-us-gov'
      : 'aws';
  const roleArnOf = (roleName: string) => `arn:${partition}:iam::${account}:role/${roleName}`;
  return renderManifestsYaml(
    fleetManifests({
      fleet,
      streamArn,
      consumerRoleArn: input.roleArn ?? roleArnOf(fleet.roles.consumerRoleName),
      scalerRoleArn: roleArnOf(fleet.roles.scalerRoleName),
      region: input.region,
    }),
  );
}
