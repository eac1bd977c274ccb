/**
 * startWorker's options: one definition with the environment's variables (the same defaults and validation),
 * errors that name the option, and the documentation each option carries in the shipped types equal to its
 * definition's. No network: every check here fails before anything is sent.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseConfig, resolveWorkerSettings, WORKER_SETTINGS } from '../../consumer/config.js';
import { replicationProcessor } from '../../consumer/replication/replication-processor.js';
import { startWorker } from '../../consumer/worker.js';
import { ConfigurationError } from '../../core/vocabulary/errors.js';

const processor = { processRecords: () => undefined };
const STREAM = 'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-01-01T00:00:00.000';
const base = { applicationName: 'users-app', streamArn: STREAM, region: 'us-east-1', processor };

async function refusal(options: Record<string, unknown>): Promise<ConfigurationError> {
  const error = await startWorker(options as never).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConfigurationError))
    throw new Error(`expected a ConfigurationError, got ${String(error)}`);
  return error;
}

describe('startWorker options', () => {
  it.each([
    [{ applicationName: 'ab' }, 'applicationName', /not a valid DynamoDB table name/],
    [{ streamArn: 'arn:aws:s3:::bucket' }, 'streamArn', /not a DynamoDB stream ARN/],
    [{ streamArn: undefined }, 'streamArn', /is required \(or tableName\)/],
    [{ tableName: 'users' }, 'tableName', /either streamArn or tableName, not both/],
    [{ leaseDurationMs: 500 }, 'leaseDurationMs', /whole number from 1000 to 600000, got 500/],
    [{ leaseDurationMs: '10000' }, 'leaseDurationMs', /whole number/],
    [{ leaseRenewIntervalMs: 9_000 }, 'leaseRenewIntervalMs', /at most half of leaseDurationMs/],
    [
      { poisonRecordPolicy: 'dead-letter' },
      'deadLetterTableName',
      /required when poisonRecordPolicy=dead-letter/,
    ],
    [{ initialPosition: 'AT_TIMESTAMP' }, 'initialPosition', /TRIM_HORIZON, LATEST/],
    [{ processorTimeoutMs: 0 }, 'processorTimeoutMs', /from 100/],
    [{ leaseDuration: 1 }, 'leaseDuration', /not an option of startWorker/],
    [{ LEASE_DURATION_MS: '1' }, 'LEASE_DURATION_MS', /not an option/],
    [{ processor: { process: () => undefined } }, 'processor', /processRecords/],
  ])('%j is refused, naming %s', async (change, option, message) => {
    const error = await refusal({ ...base, ...change });
    expect(error.setting).toBe(option);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`${option}:`)).toBe(true);
  });

  it('suggests the option a differently-cased name meant', async () => {
    expect((await refusal({ ...base, leaseDurationMS: 1 })).message).toMatch(
      /did you mean leaseDurationMs\?/,
    );
  });

  it('has the environment’s defaults: the same settings from either door', () => {
    const fromOptions = resolveWorkerSettings(
      { applicationName: 'users-app', streamArn: STREAM, region: 'us-east-1' },
      'options',
      'h',
    );
    const fromEnvironment = parseConfig(
      {
        APPLICATION_NAME: 'users-app',
        SOURCE_TABLE_STREAM_ARN: STREAM,
        AWS_REGION: 'us-east-1',
        TARGET_TABLE_NAME: 'users_replica',
      },
      'h',
    );
    const { processorModule, replication, ...workerSettings } = fromEnvironment;
    expect(fromOptions).toEqual(workerSettings);
    expect(processorModule).toBeUndefined();
    expect(replication).toEqual({
      targetTableName: 'users_replica',
      writeMode: 'fenced',
      writeConcurrency: 1,
    });
  });

  it('replication validates its options as the environment does', () => {
    expect(() => replicationProcessor({ targetTableName: 'users_replica', writeConcurrency: 8 })).toThrow(
      /writeConcurrency: must be 1 \(or unset\) with writeMode=fenced/,
    );
    expect(() => replicationProcessor({ targetTableName: 'x' })).toThrow(
      /targetTableName: "x" is not a valid/,
    );
  });

  it('documents each option in the shipped types with its definition’s text, and every definition is an option', () => {
    const file = resolve(import.meta.dirname, '../../consumer/worker-options.ts');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const docs = new Map<string, string>();
    source.forEachChild((node) => {
      if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'WorkerOptions') return;
      for (const member of node.members) {
        const name = member.name?.getText(source) ?? '';
        const jsDoc = (member as { jsDoc?: ts.JSDoc[] }).jsDoc?.[0]?.comment;
        docs.set(name, typeof jsDoc === 'string' ? jsDoc.replace(/\s+/g, ' ').trim() : '');
      }
    });
    const defined = Object.values(WORKER_SETTINGS).map((spec) => [spec.option, spec.doc]);
    expect(defined.map(([option]) => option).sort()).toEqual(
      [...docs.keys()].filter((k) => k !== 'processor').sort(),
    );
    for (const [option, doc] of defined) expect(docs.get(option as string), option).toBe(doc);
  });
});
