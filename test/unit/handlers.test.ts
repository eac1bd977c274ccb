/**
 * The Lambda edge: every handler in functions/ is middy-wrapped, validates its input before touching a port,
 * and fails with a typed error whose message names the function and the field.
 */
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneFunction } from '../../core/workflows.js';

const context = {
  functionName: 'streamfleet-test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:streamfleet-test',
  memoryLimitInMB: '128',
  awsRequestId: 'req-1',
  logGroupName: 'g',
  logStreamName: 's',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 1000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
} as Context;

beforeAll(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
});

describe('functions/', () => {
  it('has exactly one file per control-plane function', () => {
    const files = readdirSync(resolve(import.meta.dirname, '../../functions')).map((f) =>
      f.replace(/\.ts$/, ''),
    );
    expect(files.sort()).toEqual(Object.values(ControlPlaneFunction).sort());
  });

  it.each(Object.values(ControlPlaneFunction))(
    '%s rejects input without a fleet, naming the field',
    async (fn) => {
      const { handler } = (await import(`../../functions/${fn}.ts`)) as {
        handler: (event: unknown, context: Context) => Promise<unknown>;
      };
      const error = await handler({}, context).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('InvalidInputError');
      expect((error as Error).message).toMatch(new RegExp(`^${fn}: (fleet|event|step|\\(input\\)|load)[.:]`));
    },
  );
});
