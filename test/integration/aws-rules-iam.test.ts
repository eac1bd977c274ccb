/**
 * The IAM rule of the strict layer with real SDK v3 clients and DynamoDB Local behind: a role and a session
 * registered over the control API, requests judged on the exact ARNs DynamoDB Local uses, refusals parsed by
 * the SDK as `AccessDeniedException` with AWS's wording, unregistered credentials unchecked.
 */
import { randomUUID } from 'node:crypto';
import {
  BatchGetItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AwsRulesControlError,
  AwsRulesProxy,
  registerIamCredentials,
  registerIamRole,
  setAwsRules,
} from '../../local/aws-rules/index.js';
import { emulatorEndpoint } from '../support/aws-rules.js';

const region = 'us-east-1';
const ARN = 'arn:aws:dynamodb:ddblocal:000000000000:table';
const ROLE = 'arn:aws:iam::000000000000:role/iam-rule-test';
const PRINCIPAL = 'arn:aws:sts::000000000000:assumed-role/iam-rule-test/pod-1';

let layer: AwsRulesProxy;
let admin: DynamoDBClient;
let asRole: DynamoDBClient;
let streamsAsRole: DynamoDBStreamsClient;
const tables = { allowed: '', other: '', streamArn: '' };

async function createTable(name: string, stream = false): Promise<string> {
  const created = await admin.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      ...(stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' } } : {}),
    }),
  );
  return created.TableDescription?.LatestStreamArn ?? '';
}

async function errorOf(call: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await call;
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  layer = await AwsRulesProxy.start({ upstream: emulatorEndpoint() });
  const client = (accessKeyId: string) => ({
    endpoint: layer.endpoint,
    region,
    credentials: { accessKeyId, secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  admin = new DynamoDBClient(client('local'));
  asRole = new DynamoDBClient(client('ASIAIAMRULETEST0001'));
  streamsAsRole = new DynamoDBStreamsClient(client('ASIAIAMRULETEST0001'));
  const suffix = randomUUID().slice(0, 8);
  tables.allowed = `iam-allowed-${suffix}`;
  tables.other = `iam-other-${suffix}`;
  tables.streamArn = await createTable(tables.allowed, true);
  await createTable(tables.other);
  await registerIamRole(layer.endpoint, 'role-1', {
    arn: ROLE,
    policies: [
      {
        name: 'test',
        document: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:BatchGetItem'],
              Resource: [`${ARN}/${tables.allowed}`],
            },
            {
              Effect: 'Allow',
              Action: 'dynamodb:DescribeStream',
              Resource: `${ARN}/${tables.allowed}/stream/*`,
            },
          ],
        },
      },
    ],
  });
  await registerIamCredentials(layer.endpoint, 'ASIAIAMRULETEST0001', {
    roleId: 'role-1',
    sessionName: 'pod-1',
  });
});

afterAll(async () => {
  admin?.destroy();
  asRole?.destroy();
  streamsAsRole?.destroy();
  await layer?.close();
});

describe('the IAM rule through the proxy', () => {
  it('lets a registered principal do what its policy allows, on DynamoDB Local’s own ARNs', async () => {
    expect(tables.streamArn.startsWith(`${ARN}/${tables.allowed}/stream/`)).toBe(true);
    await asRole.send(new PutItemCommand({ TableName: tables.allowed, Item: { id: { S: 'a' } } }));
    const { Item } = await asRole.send(
      new GetItemCommand({ TableName: tables.allowed, Key: { id: { S: 'a' } } }),
    );
    expect(Item?.id?.S).toBe('a');
    await streamsAsRole.send(new DescribeStreamCommand({ StreamArn: tables.streamArn }));
    const { iam } = layer.stats();
    expect(iam.allowed[ROLE]?.['dynamodb:PutItem']).toEqual({ [`${ARN}/${tables.allowed}`]: 1 });
    expect(iam.allowed[ROLE]?.['dynamodb:DescribeStream']).toEqual({ [tables.streamArn]: 1 });
  });

  it('refuses with AccessDeniedException as AWS words it, parsed by the SDK, naming the refused table', async () => {
    const refused = await errorOf(
      asRole.send(
        new BatchGetItemCommand({
          RequestItems: {
            [tables.allowed]: { Keys: [{ id: { S: 'a' } }] },
            [tables.other]: { Keys: [{ id: { S: 'a' } }] },
          },
        }),
      ),
    );
    expect(refused).toEqual({
      name: 'AccessDeniedException',
      status: 400,
      message: `User: ${PRINCIPAL} is not authorized to perform: dynamodb:BatchGetItem on resource: ${ARN}/${tables.other} because no identity-based policy allows the dynamodb:BatchGetItem action`,
    });
    // IAM has no TransactWriteItems action: each item is checked as its own (a Put as dynamodb:PutItem).
    await asRole.send(
      new TransactWriteItemsCommand({
        TransactItems: [{ Put: { TableName: tables.allowed, Item: { id: { S: 'b' } } } }],
      }),
    );
    const transaction = await errorOf(
      asRole.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: tables.allowed, Item: { id: { S: 'c' } } } },
            { Put: { TableName: tables.other, Item: { id: { S: 'c' } } } },
          ],
        }),
      ),
    );
    expect(transaction.name).toBe('AccessDeniedException');
    expect(transaction.message).toContain(`dynamodb:PutItem on resource: ${ARN}/${tables.other}`);
    expect(layer.stats().refused.iam.byPrincipal[ROLE]).toEqual({
      'dynamodb:BatchGetItem': { [`${ARN}/${tables.other}`]: 1 },
      'dynamodb:PutItem': { [`${ARN}/${tables.other}`]: 1 },
    });
  });

  it('passes unregistered credentials unchecked, and everything when the rule is off', async () => {
    await admin.send(new GetItemCommand({ TableName: tables.other, Key: { id: { S: 'a' } } }));
    expect(layer.stats().iam.unchecked).toBeGreaterThan(0);
    await setAwsRules(layer.endpoint, { iam: false });
    await asRole.send(new GetItemCommand({ TableName: tables.other, Key: { id: { S: 'a' } } }));
    await setAwsRules(layer.endpoint, { iam: true });
    expect(
      (await errorOf(asRole.send(new GetItemCommand({ TableName: tables.other, Key: { id: { S: 'a' } } }))))
        .name,
    ).toBe('AccessDeniedException');
  });

  it('answers 400 to a registration it cannot use, saying what to send', async () => {
    await expect(
      registerIamCredentials(layer.endpoint, 'ASIAUNKNOWNROLE00001', { roleId: 'nope', sessionName: 'pod' }),
    ).rejects.toThrow(AwsRulesControlError);
    await expect(registerIamRole(layer.endpoint, 'bad', { arn: 'not-an-arn', policies: [] })).rejects.toThrow(
      /400 "arn" must be an IAM role ARN/,
    );
  });
});
