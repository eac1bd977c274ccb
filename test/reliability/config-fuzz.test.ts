/**
 * Every configuration variable (CONFIG_VARIABLES) fuzzed with malformed values. In process, thousands of
 * generated values through parseConfig: each must fail with a ConfigurationError naming the variable. As real
 * worker processes, every variable with two malformed values (one fixed, one generated) on an otherwise valid
 * configuration pointing at real tables: exit 2, a message naming the variable, and nothing written — no lease
 * table, no dead-letter table. A control run with the same base configuration does create its lease table, so
 * "nothing written" is a real check.
 */
import { type AddressInfo, createServer } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, parseConfig } from '../../consumer/config.js';
import { ConfigurationError } from '../../core/vocabulary/errors.js';
import { freePort } from '../../local/dynamodb-local.js';
import { seededRandom } from '../support/fault-proxy.js';
import { uniqueName, WorkerProcess, waitFor } from '../support/fleet.js';
import { createAuditedTables, reliabilitySuite, report } from './harness.js';

const { endpoint, client } = reliabilitySuite();

type Variable = keyof typeof CONFIG_VARIABLES & string;

/** Validated only when the worker starts (the module is imported then): exit 2, not a parse error. */
const CHECKED_AT_START = new Set<Variable>(['PROCESSOR_MODULE']);

/** Hand-picked malformed values; `env` adds what a cross-field rule needs. */
const FIXED: Record<string, { value: string; env?: Record<string, string> }[]> = {
  SOURCE_TABLE_STREAM_ARN: [
    { value: 'not-an-arn' },
    { value: 'arn:aws:dynamodb:us-east-1:123456789012:table/users' },
    { value: 'arn:aws:dynamodb:us-east-1:12345:table/users/stream/2024' },
    { value: 'arn:aws:s3:::bucket/stream/x' },
    { value: '   ' },
  ],
  TARGET_TABLE_NAME: [
    { value: 'ab' },
    { value: 'has space' },
    { value: 'x'.repeat(256) },
    { value: 'bad/name' },
  ],
  APPLICATION_NAME: [{ value: 'a' }, { value: 'with*star' }, { value: 'ünïcödé' }],
  // Beside SOURCE_TABLE_STREAM_ARN (in the base configuration), any value is refused: one or the other.
  SOURCE_TABLE_NAME: [{ value: 'users' }, { value: 'ab' }, { value: 'bad name' }],
  PROCESSOR_MODULE: [{ value: './no-such-processor.mjs' }, { value: 'no-such-package-anywhere' }],
  AWS_REGION: [
    { value: 'US-EAST-1' },
    { value: 'mars' },
    { value: 'us_east_1' },
    { value: 'us-east-1; rm -rf /' },
  ],
  INSTANCE_NAME: [
    { value: 'has space' },
    { value: 'x'.repeat(129) },
    { value: 'tab\there' },
    { value: 'ünï' },
  ],
  PORT: [
    { value: 'eighty' },
    { value: '-1' },
    { value: '65536' },
    { value: '80.5' },
    { value: '0x50' },
    { value: '８０' },
  ],
  LEASE_DURATION_MS: [{ value: '999' }, { value: '1.5e4' }, { value: '10_000' }, { value: '9'.repeat(20) }],
  LEASE_RENEW_INTERVAL_MS: [
    { value: '99' },
    { value: 'often' },
    { value: '6000', env: { LEASE_DURATION_MS: '10000' } },
  ],
  LEASE_TAKER_INTERVAL_MS: [{ value: '0' }, { value: '99' }, { value: '9'.repeat(20) }],
  LEASE_SCAN_INTERVAL_MS: [{ value: '99' }, { value: '9'.repeat(20) }, { value: '1m' }],
  MAX_LEASES_PER_WORKER: [{ value: '0' }, { value: '9'.repeat(20) }, { value: 'Infinity' }],
  MAX_LEASES_TO_STEAL_AT_ONCE: [{ value: '-1' }, { value: '9'.repeat(20) }, { value: 'NaN' }],
  SHARD_SYNC_INTERVAL_MS: [{ value: '999' }, { value: '9'.repeat(20) }, { value: '60s' }],
  IDLE_TIME_BETWEEN_READS_MS: [{ value: '-1' }, { value: '9'.repeat(20) }, { value: '0.5' }],
  MAX_RECORDS: [{ value: '0' }, { value: '1001' }, { value: '100 records' }],
  READS_PER_SECOND: [{ value: '0' }, { value: '6' }, { value: '4.5' }],
  INITIAL_POSITION: [{ value: 'AT_TIMESTAMP' }, { value: 'TRIM HORIZON' }, { value: 'earliest' }],
  REPLICATION_WRITE_MODE: [{ value: 'transactional' }, { value: 'fenced,conditional' }],
  WRITE_CONCURRENCY: [
    { value: '0' },
    { value: '9'.repeat(20) },
    { value: 'many' },
    // Valid for conditional writes, refused for fenced ones (their transactions share the lease item).
    { value: '4', env: { REPLICATION_WRITE_MODE: 'fenced' } },
  ],
  POISON_RECORD_POLICY: [{ value: 'skip' }, { value: 'dead letter' }],
  DEAD_LETTER_TABLE_NAME: [
    { value: 'dl', env: { POISON_RECORD_POLICY: 'dead-letter' } },
    { value: 'bad name', env: { POISON_RECORD_POLICY: 'dead-letter' } },
    // Missing while the policy needs it: the error names the missing variable.
    { value: '', env: { POISON_RECORD_POLICY: 'dead-letter' } },
  ],
  SHUTDOWN_TIMEOUT_MS: [{ value: '999' }, { value: '9'.repeat(20) }, { value: '20s' }],
  PROCESSOR_TIMEOUT_MS: [{ value: '99' }, { value: '1m' }, { value: '9'.repeat(20) }],
  PROCESSOR_MAX_ATTEMPTS: [{ value: '0' }, { value: '101' }, { value: 'three' }],
  CHECKPOINT_INTERVAL_MS: [{ value: '-1' }, { value: '600001' }, { value: '1s' }],
  LOG_LEVEL: [{ value: 'verbose' }, { value: 'INFO!' }],
  PEER_POD_SELECTOR: [
    { value: 'app.kubernetes.io/instance=a b' },
    { value: '=users' },
    { value: 'app in (a,b' },
    { value: 'app=users;rm' },
  ],
  POD_NAMESPACE: [{ value: 'Default' }, { value: 'has space' }, { value: 'x'.repeat(64) }, { value: '-ns' }],
};

const INTEGER_VARIABLES = new Set<Variable>([
  'PORT',
  'LEASE_DURATION_MS',
  'LEASE_RENEW_INTERVAL_MS',
  'LEASE_TAKER_INTERVAL_MS',
  'LEASE_SCAN_INTERVAL_MS',
  'MAX_LEASES_PER_WORKER',
  'MAX_LEASES_TO_STEAL_AT_ONCE',
  'SHARD_SYNC_INTERVAL_MS',
  'IDLE_TIME_BETWEEN_READS_MS',
  'MAX_RECORDS',
  'READS_PER_SECOND',
  'WRITE_CONCURRENCY',
  'SHUTDOWN_TIMEOUT_MS',
  'PROCESSOR_TIMEOUT_MS',
  'PROCESSOR_MAX_ATTEMPTS',
  'CHECKPOINT_INTERVAL_MS',
]);
const ENUMS: Partial<Record<Variable, string[]>> = {
  INITIAL_POSITION: ['trim_horizon', 'latest'],
  REPLICATION_WRITE_MODE: ['fenced', 'conditional'],
  POISON_RECORD_POLICY: ['stop', 'dead-letter'],
  LOG_LEVEL: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
};
const TABLE_NAMES = new Set<Variable>([
  'TARGET_TABLE_NAME',
  'APPLICATION_NAME',
  'DEAD_LETTER_TABLE_NAME',
  'SOURCE_TABLE_NAME',
]);

/** Values that are malformed by construction for `variable` (never a valid value by chance). */
function generate(variable: Variable, random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const junk = (alphabet: string, min: number, max: number) =>
    Array.from({ length: min + Math.floor(random() * (max - min + 1)) }, () => pick([...alphabet])).join('');
  const digits = () => junk('0123456789', 1, 6);
  if (INTEGER_VARIABLES.has(variable)) {
    return pick([
      () => `${digits()}${pick(['.5', 'e3', 'ms', ' s', 'k', '_0', ',0'])}`,
      () => `-${digits()}`,
      () => `${pick(['+', '0x', '#', '~'])}${digits()}`,
      () => junk('abcdefghijklmnopqrstuvwxyz', 1, 8),
      () => '9'.repeat(17 + Math.floor(random() * 10)), // beyond every maximum and Number.MAX_SAFE_INTEGER
      () => pick(['٣', '３', '१', '²']) + digits(), // digits outside ASCII
    ])();
  }
  const choices = ENUMS[variable];
  if (choices) {
    for (;;) {
      const value = junk('abcdefghijklmnopqrstuvwxyz_- ', 2, 14);
      if (value.trim() !== '' && !choices.includes(value.trim().toLowerCase())) return value;
    }
  }
  if (TABLE_NAMES.has(variable)) {
    return pick([
      () => `${junk('abc', 2, 10)}${pick([' ', '/', '*', '!', 'é', '#', ':', '@'])}${junk('xyz', 1, 5)}`,
      () => junk('abcdef', 1, 2),
      () => junk('abcdef', 256, 300),
    ])();
  }
  switch (variable) {
    case 'SOURCE_TABLE_STREAM_ARN':
      return pick([
        () => `arn:aws:dynamodb:us-east-1:${digits()}:table/${junk('abc', 3, 8)}/stream/${digits()}`,
        () => `arn:aws:dynamodb:us-east-1:123456789012:table/${junk('abc', 3, 8)}`,
        () => `arn:aws:${junk('abcdefgh', 2, 6)}:us-east-1:123456789012:table/x/stream/1`,
        () => junk('abcdef:/ ', 5, 40),
      ])();
    case 'AWS_REGION':
      return pick([
        () => junk('ABCDEF', 2, 10),
        () => `${junk('abcdef', 2, 2)}_${junk('abc', 3, 6)}_${digits()}`,
        () => `${junk('abcdef', 2, 2)}-${junk('abc', 3, 6)}`,
      ])();
    case 'PEER_POD_SELECTOR':
      return `${junk('abc', 1, 6)}=${junk('xyz', 1, 4)}${pick([' x', ';', '"', '*', '{', '$'])}${junk('xyz', 0, 3)}`;
    case 'POD_NAMESPACE':
      return pick([
        () => `${junk('abc', 1, 6)}${pick(['_', ' ', '.', 'A', '*', 'é'])}${junk('xyz', 1, 5)}`,
        () => `-${junk('abc', 1, 6)}`,
        () => junk('abcdef', 64, 80),
      ])();
    case 'PROCESSOR_MODULE':
      return `./${junk('abcdef', 3, 10)}-missing-${digits()}.mjs`;
    case 'INSTANCE_NAME':
      return pick([
        // Inside the value: leading and trailing blanks are trimmed by design.
        () => `${junk('abc', 1, 10)}${pick([' ', '\t', '*', '!', 'é', '#', '?', '"'])}${junk('xyz', 1, 5)}`,
        () => junk('abcdef', 129, 200),
      ])();
    default:
      throw new Error(`no generator for ${variable}`);
  }
}

const BASE = {
  SOURCE_TABLE_STREAM_ARN:
    'arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-01-01T00:00:00.000',
  TARGET_TABLE_NAME: 'users_replica',
  APPLICATION_NAME: 'users-replicator',
  AWS_REGION: 'us-east-1',
};

/** The variable an error must name for this malformed value. */
function expectedVariable(variable: Variable, value: string): Variable {
  return variable === 'DEAD_LETTER_TABLE_NAME' && value === '' ? 'DEAD_LETTER_TABLE_NAME' : variable;
}

describe('configuration fuzzing', () => {
  it('every variable: generated malformed values fail parsing with an error naming the variable', () => {
    const started = Date.now();
    const random = seededRandom(8);
    const failures: string[] = [];
    let cases = 0;
    for (const variable of Object.keys(CONFIG_VARIABLES) as Variable[]) {
      if (CHECKED_AT_START.has(variable)) continue;
      const fixed = FIXED[variable] ?? [];
      const values = [
        ...fixed,
        ...Array.from({ length: 200 }, () => ({
          value: generate(variable, random),
          env: fixed[0]?.env,
        })),
      ];
      for (const { value, env } of values) {
        cases++;
        try {
          parseConfig({ ...BASE, ...env, [variable]: value }, 'host');
          failures.push(`${variable}=${JSON.stringify(value)} was accepted`);
        } catch (error) {
          const expected = expectedVariable(variable, value);
          if (
            !(error instanceof ConfigurationError) ||
            error.variable !== expected ||
            !error.message.startsWith(`${expected}: `)
          )
            failures.push(`${variable}=${JSON.stringify(value)}: ${String(error)}`);
        }
      }
    }
    report({
      scenario: 'config-fuzz-parse',
      faults: { malformedValues: cases },
      recordsWritten: 0,
      replicated: 0,
      replayed: 0,
      lost: 0,
      staleOverwrites: 0,
      durationMs: Date.now() - started,
      variables: Object.keys(CONFIG_VARIABLES).length,
      accepted: failures.length,
    });
    expect(failures).toEqual([]);
  });

  it('every variable as a worker process: exit 2, the variable named, nothing written', async () => {
    const started = Date.now();
    const tables = await createAuditedTables(client);
    const random = seededRandom(99);
    const namesThatMustNotExist: string[] = [];
    const runs: { variable: Variable; value: string; env?: Record<string, string> }[] = [];
    for (const variable of Object.keys(CONFIG_VARIABLES) as Variable[]) {
      const first = FIXED[variable]?.[0];
      if (first) runs.push({ variable, ...first });
      runs.push({ variable, value: generate(variable, random), env: first?.env });
    }
    const results: { variable: Variable; value: string; code: number | null; named: boolean; ms: number }[] =
      [];
    const queue = [...runs];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let run = queue.shift(); run; run = queue.shift()) {
          const app = uniqueName('fuzz-app');
          const deadLetter = uniqueName('fuzz-dlq');
          namesThatMustNotExist.push(app, deadLetter);
          const env: Record<string, string> = {
            SOURCE_TABLE_STREAM_ARN: tables.streamArn,
            TARGET_TABLE_NAME: tables.target,
            APPLICATION_NAME: app,
            AWS_REGION: 'us-east-1',
            INSTANCE_NAME: 'fuzzed',
            PORT: String(await freePort()),
            LEASE_DURATION_MS: '3000',
            ...(run.env?.POISON_RECORD_POLICY ? { DEAD_LETTER_TABLE_NAME: deadLetter } : {}),
            ...run.env,
            [run.variable]: run.value,
          };
          if (run.value === '') delete env[run.variable];
          const t0 = Date.now();
          const worker = await WorkerProcess.start({ endpoint, name: `fuzz-${run.variable}`, rawEnv: env });
          const timeout = setTimeout(() => worker.signal('SIGKILL'), 15_000);
          const { code } = await worker.exited;
          clearTimeout(timeout);
          const expected = expectedVariable(run.variable, run.value);
          results.push({
            variable: run.variable,
            value: run.value,
            code,
            named: worker.output.includes(`configuration error: ${expected}: `),
            ms: Date.now() - t0,
          });
        }
      }),
    );

    // Control: the same base configuration, nothing malformed, does start and create its lease table.
    const controlApp = uniqueName('fuzz-control');
    const control = await WorkerProcess.start({
      endpoint,
      name: 'fuzz-control',
      rawEnv: {
        SOURCE_TABLE_STREAM_ARN: tables.streamArn,
        TARGET_TABLE_NAME: tables.target,
        APPLICATION_NAME: controlApp,
        AWS_REGION: 'us-east-1',
        INSTANCE_NAME: 'fuzz-control',
        PORT: String(await freePort()),
      },
    });
    await control.waitForEvent('worker.started', () => true, 20_000);
    control.signal('SIGTERM');
    expect((await control.exited).code).toBe(0);

    const existing = new Set<string>();
    let start: string | undefined;
    do {
      const page = await client.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
      for (const name of page.TableNames ?? []) existing.add(name);
      start = page.LastEvaluatedTableName;
    } while (start);
    const written = namesThatMustNotExist.filter((name) => existing.has(name));
    const bad = results.filter((r) => r.code !== 2 || !r.named);
    report({
      scenario: 'config-fuzz-processes',
      faults: { malformedStarts: results.length },
      recordsWritten: 0,
      replicated: 0,
      replayed: 0,
      lost: 0,
      staleOverwrites: 0,
      durationMs: Date.now() - started,
      variables: new Set(results.map((r) => r.variable)).size,
      exit2NamingTheVariable: results.length - bad.length,
      tablesCreatedByRejectedStarts: written.length,
      slowestRejectionMs: Math.max(...results.map((r) => r.ms)),
      failures: bad.map(
        (r) =>
          `${r.variable}=${JSON.stringify(r.value)} -> exit ${r.code}${r.named ? '' : ', variable not named'}`,
      ),
    });
    expect(existing.has(controlApp)).toBe(true);
    expect(new Set(results.map((r) => r.variable)).size).toBe(Object.keys(CONFIG_VARIABLES).length);
    expect(bad).toEqual([]);
    expect(written).toEqual([]);
  }, 80_000);

  it('a port already in use: the worker exits non-zero saying so, and creates no lease table', async () => {
    const tables = await createAuditedTables(client);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const app = uniqueName('port-in-use');
      const worker = await WorkerProcess.start({
        endpoint,
        tables: { ...tables, app },
        name: 'port-in-use',
        env: { PORT: String(port) },
      });
      const { code } = await worker.exited;
      expect(code).not.toBe(0);
      expect(worker.output).toMatch(/EADDRINUSE/);
      expect((await client.send(new ListTablesCommand({}))).TableNames ?? []).not.toContain(app);
    } finally {
      taken.close();
    }
  }, 30_000);

  it('missing stream or target table: exit 3 with what to do, and no lease table', async () => {
    const tables = await createAuditedTables(client);
    const cases = [
      {
        tables: { ...tables, target: 'no-such-replica' },
        message: /Table no-such-replica \(TARGET_TABLE_NAME\) does not exist/,
      },
      {
        tables: { ...tables, streamArn: tables.streamArn.replace(/table\/[^/]+\//, 'table/no-such-source/') },
        message: /does not exist\. Set SOURCE_TABLE_STREAM_ARN/,
      },
    ];
    for (const [i, entry] of cases.entries()) {
      const app = uniqueName(`missing-${i}`);
      const worker = await WorkerProcess.start({
        endpoint,
        tables: { ...entry.tables, app },
        name: `missing-${i}`,
      });
      await waitFor(() => worker.child.exitCode !== null, { timeoutMs: 15_000, message: 'exit' });
      expect(worker.child.exitCode).toBe(3);
      expect(entry.message.test(worker.output)).toBe(true);
      const tablesNow = (await client.send(new ListTablesCommand({}))).TableNames ?? [];
      expect(tablesNow).not.toContain(app);
    }
  }, 40_000);
});
