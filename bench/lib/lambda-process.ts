/**
 * One Lambda invocation in a Node.js process of its own, as Lambda runs a cold one: the built bundle
 * (dist/functions/NAME.js, what Lambda runs), the event, a context whose remaining time counts down from the
 * function's timeout, the local-mode environment. The process's peak resident memory (getrusage maxRSS) is
 * then that one invocation's, which an in-process call could not tell apart from everything else.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ControlPlaneFunction } from '../../core/workflows.js';

export interface InvocationRun<T> {
  result?: T;
  error?: { name: string; message: string };
  /** The handler call itself. */
  durationMs: number;
  /** Loading the bundle before it (Lambda's init phase). */
  initMs: number;
  peakRssMiB: number;
}

const RUNNER = `
import { readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
const env = process.env;
const started = performance.now();
const { handler } = await import(pathToFileURL(env.INVOKE_BUNDLE).href);
const event = JSON.parse(readFileSync(env.INVOKE_EVENT_FILE, 'utf8'));
const timeoutMs = Number(env.INVOKE_TIMEOUT_MS);
const t0 = performance.now();
const requestId = randomUUID();
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'streamfleet-' + env.INVOKE_NAME,
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:streamfleet-' + env.INVOKE_NAME,
  memoryLimitInMB: '512',
  awsRequestId: requestId,
  logGroupName: '/aws/lambda/streamfleet-' + env.INVOKE_NAME,
  logStreamName: 'bench/' + requestId,
  getRemainingTimeInMillis: () => Math.max(0, Math.round(timeoutMs - (performance.now() - t0))),
  done() {}, fail() {}, succeed() {},
};
let out;
try {
  out = { result: await handler(event, context) };
} catch (error) {
  out = { error: { name: error?.name ?? 'Error', message: String(error?.message ?? error) } };
}
out.durationMs = performance.now() - t0;
out.initMs = t0 - started;
out.peakRssMiB = process.resourceUsage().maxRSS / 1024;
writeFileSync(env.INVOKE_RESULT_FILE, JSON.stringify(out));
process.exit(0);
`;

export const FUNCTIONS_DIST = resolve(import.meta.dirname, '../../dist/functions');

export async function invokeInOwnProcess<T>(
  fn: ControlPlaneFunction,
  event: unknown,
  options: { endpoint: string; timeoutMs: number },
): Promise<InvocationRun<T>> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-invoke-'));
  try {
    const eventFile = join(dir, 'event.json');
    const resultFile = join(dir, 'result.json');
    writeFileSync(eventFile, JSON.stringify(event));
    const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER], {
      env: {
        PATH: process.env.PATH ?? '',
        INVOKE_BUNDLE: join(FUNCTIONS_DIST, `${fn}.js`),
        INVOKE_NAME: fn,
        INVOKE_EVENT_FILE: eventFile,
        INVOKE_RESULT_FILE: resultFile,
        INVOKE_TIMEOUT_MS: String(options.timeoutMs),
        CLUSTER_MODE: 'local',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: options.endpoint,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        METRICS_NAMESPACE: 'Streamfleet',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4_000);
    });
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    let text: string;
    try {
      text = readFileSync(resultFile, 'utf8');
    } catch {
      throw new Error(`${fn} invocation process exited with ${code} and no result:\n${stderr}`);
    }
    return JSON.parse(text) as InvocationRun<T>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
