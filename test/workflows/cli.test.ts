/**
 * The `streamfleet` CLI against the local Step Functions endpoint (local/stepfunctions) with the real
 * @aws-sdk/client-sfn client (no mock): the endpoint runs the real setup/verify definitions with the real
 * handlers on a local cluster (real workers from dist/consumer.js) and DynamoDB Local; `status` reads that
 * cluster through its own Kubernetes API (local/cluster/kubernetes-api.ts) with the same
 * @kubernetes/client-node adapter it uses against EKS. Assertions are on exit codes and the JSON results.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { meaningOf } from '../../cli/failures.js';
import { main } from '../../cli/main.js';
import { KEDA_API_VERSION } from '../../core/kubernetes/cluster.js';
import { TransientError } from '../../core/vocabulary/errors.js';
import type { LocalCluster } from '../../local/cluster/index.js';
import type { LocalKubernetesApi } from '../../local/cluster/kubernetes-api.js';
import { type LocalStepFunctions, startLocalStepFunctions } from '../../local/stepfunctions/index.js';
import { loadHandler } from '../../local/workflows/index.js';
import { localControlPlane, startTestCluster, testFleet } from './local-fleet.js';

const endpoint = inject('ddbEndpoint');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  lines: string[];
}

describe('streamfleet CLI against the local Step Functions endpoint', () => {
  let cluster: LocalCluster;
  let stepFunctions: LocalStepFunctions;
  let flaky: LocalStepFunctions;
  let ordered: LocalStepFunctions;
  let kubernetes: LocalKubernetesApi;
  const dir = mkdtempSync(join(tmpdir(), 'streamfleet-cli-'));
  const saved = { ...process.env };
  let env: Record<string, string>;
  let fleet: ReturnType<typeof testFleet>;
  let setupFile: string;

  const cli = async (args: string[], extraEnv: Record<string, string> = {}): Promise<Run> => {
    let stdout = '';
    let stderr = '';
    Object.assign(process.env, env, extraEnv);
    const code = await main(args, {
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
      env: { ...process.env },
    });
    return { code, stdout, stderr, lines: stdout.split('\n') };
  };
  const json = (run: Run) => JSON.parse(run.stdout) as Record<string, unknown>;

  beforeAll(async () => {
    cluster = await startTestCluster(endpoint);
    const run = {
      controlPlane: localControlPlane(endpoint),
      waitMs: 1_000,
      retryMs: 50,
      logLevel: 'SILENT',
    } as const;
    stepFunctions = await startLocalStepFunctions({ run });
    // A second endpoint whose EnsureTables fails once with a TransientError before the real one runs.
    let failures = 0;
    flaky = await startLocalStepFunctions({
      stackName: 'Flaky',
      run: {
        ...run,
        handlers: {
          'ensure-tables': async (event, context) => {
            if (failures++ === 0) {
              const error = new TransientError('ThrottlingException: Rate exceeded (injected)');
              throw error;
            }
            return (await loadHandler('ensure-tables'))(event, context);
          },
        },
      },
    });
    // A third whose VerifyReplication starts its work only once VerifyScaling has returned: the branches of
    // verify's Parallel state end in the order that once put scaling's verdict under VerifyReplication.
    let scalingReturned = () => {};
    const scalingDone = new Promise<void>((resolve) => {
      scalingReturned = resolve;
    });
    ordered = await startLocalStepFunctions({
      stackName: 'Ordered',
      run: {
        ...run,
        handlers: {
          'verify-scaling': async (event, context) => {
            try {
              return await (await loadHandler('verify-scaling'))(event, context);
            } finally {
              scalingReturned();
            }
          },
          'verify-replication': async (event, context) => {
            await scalingDone;
            return (await loadHandler('verify-replication'))(event, context);
          },
        },
      },
    });
    kubernetes = cluster.kubernetesApi;
    writeFileSync(join(dir, 'kubeconfig'), kubernetes.kubeconfig());
    env = {
      AWS_ENDPOINT_URL_SFN: stepFunctions.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      KUBECONFIG: join(dir, 'kubeconfig'),
      STREAMFLEET_ACCOUNT_ID: '000000000000',
    };
    fleet = testFleet(cluster.name);
    setupFile = join(dir, 'setup.json');
    writeFileSync(
      setupFile,
      JSON.stringify({ fleet, load: { batches: 3, itemsPerBatch: 40, ratePerSecond: 500 } }),
    );
  });

  afterAll(async () => {
    // The Kubernetes API is the cluster's own: it stops with the cluster.
    await Promise.all([stepFunctions?.stop(), flaky?.stop(), ordered?.stop()]);
    await cluster?.stop();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('setup succeeds, followed live: every Task state entered and left, the load’s progress, exit 0', async () => {
    const run = await cli(['setup', '--input', setupFile, '--poll-ms', '200']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const state of [
      'EnsureTables',
      'WireIrsa',
      'DeployConsumer',
      'InstallScaler',
      'GenerateLoad',
      'CheckReplication',
    ]) {
      expect(run.lines.filter((l) => l.includes(state)).length, state).toBeGreaterThanOrEqual(2);
    }
    // The Map's progress counts the load's batches and items: the last one says all of them.
    expect(run.lines.some((l) => l.includes('3/3') && l.includes('120/120'))).toBe(true);

    // The same execution as the API reports it, through the SDK: one SUCCEEDED execution of Streamfleet-setup.
    const { SFNClient, ListExecutionsCommand } = await import('@aws-sdk/client-sfn');
    const sfn = new SFNClient({ region: 'us-east-1', endpoint: stepFunctions.endpoint });
    const { executions } = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: stepFunctions.stateMachineArn('setup') }),
    );
    sfn.destroy();
    expect(executions?.map((e) => e.status)).toEqual(['SUCCEEDED']);
  });

  it('status reads the running fleet from the same checks verify runs, through the Kubernetes adapter', async () => {
    const run = await cli(['status', '--json']);
    expect(run.stderr).toBe('');
    const status = json(run) as {
      healthy: boolean;
      fleet: { name: string; clusterName: string };
      scaling: {
        figures: {
          cluster: { desiredReplicas: number; readyReplicas: number; scalerReady: boolean };
          workers: { live: string[] };
          leases: { byOwner: Record<string, number>; total: number };
          shards: { total: number };
        };
      };
      replication: { check: string; figures: { sourceItems?: number } };
    };
    expect(run.code).toBe(status.healthy ? 0 : 1);
    expect(status.fleet).toMatchObject({ name: 'users-replicator', clusterName: cluster.name });
    const truth = await cluster.scaleStatus({
      namespace: 'streamfleet',
      deploymentName: 'users-replicator',
      scaledObjectName: 'users-replicator',
    });
    const figures = status.scaling.figures;
    expect(figures.cluster.desiredReplicas).toBe(truth.deployment?.desiredReplicas);
    expect(figures.cluster.scalerReady).toBe(true);
    expect([...figures.workers.live].sort()).toEqual(
      truth.pods
        .filter((p) => p.ready)
        .map((p) => p.name)
        .sort(),
    );
    expect(figures.leases.total).toBeGreaterThan(0);
    expect(figures.shards.total).toBeGreaterThan(0);
    for (const owner of Object.keys(figures.leases.byOwner)) expect(figures.workers.live).toContain(owner);
    expect(status.replication.check).toBe('replication');
    // The text view says the same in lines.
    const text = await cli(['status']);
    expect(text.code).toBe(run.code);
    expect(text.lines.length).toBeGreaterThanOrEqual(7);
  });

  it('verify takes the fleet from the last successful setup and succeeds; --json gives the result', async () => {
    const run = await cli(['verify', '--json', '--poll-ms', '200']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(json(run)).toMatchObject({ workflow: 'verify', status: 'SUCCEEDED', output: { healthy: true } });
  });

  it('says each branch’s verdict under its own state, whichever branch of the Parallel state ends first', async () => {
    const run = await cli(['verify', '--input', setupFile, '--stack', 'Ordered', '--poll-ms', '200'], {
      AWS_ENDPOINT_URL_SFN: ordered.endpoint,
    });
    expect(run.code, run.stderr).toBe(0);
    const under = (state: string) =>
      run.lines.find((l) => l.startsWith('[') && l.includes(`]   ${state}: `))?.split(`]   ${state}: `)[1];
    // The live view's line under each state is that check's summary, as the output at the end gives it.
    const end = run.lines.findIndex((l) => l.startsWith('verify SUCCEEDED'));
    const summaries = run.lines.slice(end + 1).map((l) => l.trim());
    expect(under('VerifyScaling')).toBe(summaries.find((l) => l.startsWith('scaling ')));
    expect(under('VerifyReplication')).toBe(summaries.find((l) => l.startsWith('replication ')));
  });

  it('follows an execution started with --no-follow to the same end, by the command it printed', async () => {
    const started = await cli(['verify', '--input', setupFile, '--no-follow']);
    expect(started.code, started.stderr).toBe(0);
    const arn = started.stdout.trim();
    expect(started.stderr).toBe(`follow it with: npx streamfleet follow ${arn}\n`);
    const followed = await cli(['follow', arn, '--json', '--poll-ms', '200']);
    expect(followed.code, followed.stderr).toBe(0);
    expect(json(followed)).toMatchObject({ executionArn: arn, workflow: 'verify', status: 'SUCCEEDED' });
    // An ARN of the right form that names no execution: something to reach that is not there (3).
    const unknown = await cli(['follow', `${arn.slice(0, arn.lastIndexOf(':'))}:never-started`]);
    expect(unknown.code).toBe(3);
  });

  it('says what went wrong in the order to fix it, with the exit code of its kind', async () => {
    // A missing input file comes before the missing region: the first thing to fix is what was typed.
    const missing = await cli(['status', '--input', join(dir, 'nowhere.json')], { AWS_REGION: '' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--input');
    // A malformed state machine ARN is bad input (2), not a state machine that cannot be found (3).
    expect(
      (await cli(['verify', '--input', setupFile, '--state-machine-arn', 'Streamfleet-verify'])).code,
    ).toBe(2);
    // An endpoint that does not answer is named with the variable that set it, for manifests as for status.
    for (const command of ['manifests', 'status']) {
      const refused = await cli([command, '--input', setupFile], {
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
        AWS_ENDPOINT_URL_DYNAMODB_STREAMS: 'http://127.0.0.1:9',
      });
      expect(refused.code, command).toBe(3);
      expect(refused.stderr, command).toContain('(AWS_ENDPOINT_URL_DYNAMODB)');
    }
  });

  it('manifests prints exactly what DeployConsumer and InstallScaler applied', async () => {
    const run = await cli(['manifests', '--input', setupFile]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const documents = parseAllDocuments(run.stdout).map(
      (d) =>
        d.toJSON() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
    );
    expect(documents.map((d) => d.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'Deployment',
      'PodDisruptionBudget',
      'TriggerAuthentication',
      'ScaledObject',
    ]);
    for (const document of documents) {
      const applied = cluster.appliedConfiguration({
        apiVersion: document.apiVersion,
        kind: document.kind,
        name: document.metadata.name,
        ...(document.metadata.namespace === undefined ? {} : { namespace: document.metadata.namespace }),
      });
      expect(document, `${document.kind} ${document.metadata.name}`).toEqual(applied);
    }
    expect(documents.find((d) => d.kind === 'ScaledObject')?.apiVersion).toBe(KEDA_API_VERSION);
  });

  it('a setup that fails in a named state: exit 1, the state, Error, Cause and meaning; the retry before it', async () => {
    const bad = join(dir, 'bad.json');
    const badFleet = testFleet(cluster.name, { tables: { create: false } });
    writeFileSync(bad, JSON.stringify({ fleet: badFleet }));
    const run = await cli(['setup', '--input', bad, '--stack', 'Flaky', '--json', '--poll-ms', '200'], {
      AWS_ENDPOINT_URL_SFN: flaky.endpoint,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    const result = json(run) as {
      status: string;
      failedState: string;
      error: string;
      cause: string;
      meaning: string;
      retries: { state: string; error: string; cause: string }[];
    };
    expect(result).toMatchObject({
      status: 'FAILED',
      failedState: 'EnsureTables',
      error: 'PreconditionError',
    });
    expect(result.cause).toContain(badFleet.sourceTableName);
    expect(result.meaning).toBe(meaningOf('PreconditionError'));
    expect(result.retries).toEqual([
      {
        state: 'EnsureTables',
        error: 'TransientError',
        cause: expect.stringContaining('Rate exceeded (injected)'),
      },
    ]);
  });

  it('refuses bad arguments and a wrong input before starting anything (exit 2), and runs as npx streamfleet', async () => {
    expect((await cli(['deploy'])).code).toBe(2);
    expect((await cli(['setup'])).code).toBe(2);
    expect((await cli(['status', '--delete-tables'])).code).toBe(2);
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ fleet: { ...fleet, name: 'Not A Label' } }));
    const refused = await cli(['setup', '--input', wrong]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('fleet.name');

    const bin = spawnSync(process.execPath, ['bin/streamfleet.mjs', 'setup', '--help'], { encoding: 'utf8' });
    expect(bin.status).toBe(0);
    expect(bin.stdout).toContain('--input FILE');
    const usage = spawnSync(process.execPath, ['bin/streamfleet.mjs', 'manifests'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
  });
});
