/**
 * `npm start -- --processor NAME`: one of examples/ runs instead of replication. The example's fleet.json says
 * what it needs besides the worker: the fleet input's `processor` (its built module and the IAM statements its
 * own tables need) and `workerEnv`, and the tables to create first. The module path is made absolute (the
 * local cluster's pods run from this checkout); REGION and ACCOUNT in the grants become DynamoDB Local's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type FleetProcessor, parseFleetProcessor } from '../../core/iam/processor-grants.js';
import { type KeyAttribute, requireKeyAttribute } from '../../core/tables/tables.js';
import { errorName } from '../../core/vocabulary/errors.js';
import { requireTableName } from '../../core/vocabulary/validation.js';
import { UsageError } from './options.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** DynamoDB Local's ARNs: the region and account it writes into every ARN it returns. */
const LOCAL_ARN = { region: 'ddblocal', account: '000000000000' } as const;

export interface ExampleProcessor {
  name: string;
  processor: FleetProcessor;
  workerEnv: Record<string, string>;
  tables: { name: string; partitionKey: KeyAttribute }[];
}

/** The examples that can run locally: those with a fleet.json. */
export function exampleNames(): string[] {
  const dir = resolve(ROOT, 'examples');
  return existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(resolve(dir, n, 'fleet.json'))) : [];
}

export function loadExampleProcessor(name: string): ExampleProcessor {
  const file = resolve(ROOT, 'examples', name, 'fleet.json');
  if (!existsSync(file)) {
    throw new UsageError(
      `--processor ${name}: no such example; one of ${exampleNames().join(', ') || '(none)'} (examples/NAME/fleet.json).`,
    );
  }
  const json = JSON.parse(
    readFileSync(file, 'utf8')
      .replaceAll('REGION', LOCAL_ARN.region)
      .replaceAll('ACCOUNT', LOCAL_ARN.account),
  ) as { processor: { module: string }; workerEnv?: Record<string, string>; tables?: unknown[] };
  const module = resolve(ROOT, json.processor.module);
  if (!existsSync(module))
    throw new UsageError(`--processor ${name}: ${module} is missing; npm run build makes it.`);
  const processor = parseFleetProcessor('processor', { ...json.processor, module });
  const tables = (json.tables ?? []).map((table, i) => {
    const t = table as { name?: unknown; partitionKey?: unknown };
    return {
      name: requireTableName(`tables[${i}].name`, t.name),
      partitionKey: requireKeyAttribute(`tables[${i}].partitionKey`, t.partitionKey),
    };
  });
  return { name, processor, workerEnv: json.workerEnv ?? {}, tables };
}

/** Creates the example's own tables (on demand), as its user would before deploying it. */
export async function createExampleTables(client: DynamoDBClient, example: ExampleProcessor): Promise<void> {
  for (const table of example.tables) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table.name,
          AttributeDefinitions: [
            { AttributeName: table.partitionKey.name, AttributeType: table.partitionKey.type },
          ],
          KeySchema: [{ AttributeName: table.partitionKey.name, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } catch (error) {
      if (errorName(error) !== 'ResourceInUseException') throw error; // a persisted --data-dir has it
    }
  }
}
