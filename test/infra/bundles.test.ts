/**
 * What each Lambda bundle carries, read from its source map (`npm run build` writes dist/functions/*.js.map
 * before the tests run). A function that names no way to reach a cluster (its handler spec has no `cluster`,
 * so its ports have no `cluster()`, see core/handler.ts) must not pay for the Kubernetes client: about 0.9 MB
 * that Lambda would load on every cold start.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ControlPlaneFunction } from '../../core/workflows.js';
import { REPO_ROOT } from './support.js';

const KUBERNETES_CLIENT = 'node_modules/@kubernetes/client-node/';

function sourcesOf(bundle: string): string[] {
  const map = JSON.parse(readFileSync(join(REPO_ROOT, 'dist', `${bundle}.js.map`), 'utf8')) as {
    sources: string[];
  };
  return map.sources;
}

function bundledSources(name: ControlPlaneFunction): string[] {
  return sourcesOf(`functions/${name}`);
}

/** Whether the function's entry hands its handler the EKS connection (functions/NAME.ts). */
function talksToItsCluster(name: ControlPlaneFunction): boolean {
  const entry = readFileSync(join(REPO_ROOT, 'functions', `${name}.ts`), 'utf8');
  return /\bcluster:\s*connectEksCluster\b/.test(entry);
}

describe('Lambda bundles', () => {
  const functions = Object.values(ControlPlaneFunction);

  it('carry the Kubernetes client exactly when the function talks to its cluster', () => {
    const carriers = functions.filter((name) =>
      bundledSources(name).some((s) => s.includes(KUBERNETES_CLIENT)),
    );
    const talkers = functions.filter(talksToItsCluster);
    // Both sides are non-trivial: some functions talk to the cluster, some do not.
    expect(talkers.length).toBeGreaterThan(0);
    expect(talkers.length).toBeLessThan(functions.length);
    expect(carriers.sort()).toEqual(talkers.sort());
  });

  it('leave out what never runs in Lambda (esbuild.config.mjs NEVER_RUN_IN_BUNDLES)', () => {
    for (const name of functions) {
      const sources = bundledSources(name);
      for (const module of ['openid-client', 'jsonpath-plus', 'socks-proxy-agent', 'hpagent']) {
        expect(
          sources.filter((s) => s.includes(`node_modules/${module}/`)),
          `${name} bundles ${module}`,
        ).toEqual([]);
      }
    }
  });

  it('leave out the local IAM evaluator and its library (a devDependency: local/ and tests only)', () => {
    for (const bundle of ['consumer', 'lib/index', ...functions.map((name) => `functions/${name}`)]) {
      expect(
        sourcesOf(bundle).filter(
          (s) => s.includes('core/iam/iam-evaluation') || s.includes('node_modules/@cloud-copilot/'),
        ),
        `${bundle} bundles the IAM evaluator`,
      ).toEqual([]);
    }
  });
});
