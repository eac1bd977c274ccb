/**
 * One synth per test file: the app as `cdk synth` builds it (cdk.json's context, plus overrides), into a
 * temporary cloud assembly, with its CloudFormation template for `aws-cdk-lib/assertions`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildApp } from '../../infra/app.js';
import type { StreamfleetStack } from '../../infra/stack.js';
import { cdkJsonContext } from './context.js';

export { cdkJsonContext, REPO_ROOT } from './context.js';

export interface Synthesized {
  stack: StreamfleetStack;
  template: Template;
  assembly: CloudAssembly;
  outdir: string;
  durationMs: number;
  cleanup(): void;
}

export function synth(
  overrides: Record<string, unknown> = {},
  options: { validation?: boolean; nag?: boolean; acknowledgeNagFindings?: boolean } = {},
): Synthesized {
  // CloudFormation schema validation is the slow part of a synth; one test runs it (nag.test.ts).
  if (options.validation !== true) process.env.CDK_VALIDATION = 'false';
  else delete process.env.CDK_VALIDATION;
  const outdir = mkdtempSync(join(tmpdir(), 'streamfleet-cdk-'));
  const started = performance.now();
  const { app, stack } = buildApp({
    context: { ...cdkJsonContext(), ...overrides },
    outdir,
    nag: options.nag ?? true,
    acknowledgeNagFindings: options.acknowledgeNagFindings ?? true,
  });
  let assembly: CloudAssembly;
  try {
    assembly = app.synth();
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
  const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template);
  return {
    stack,
    template,
    assembly,
    outdir,
    durationMs: performance.now() - started,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Every resource of a type, as `[logicalId, resource]`. */
export function resourcesOf(
  template: Template,
  type: string,
): [string, { Properties: Record<string, unknown>; DependsOn?: string[] }][] {
  return Object.entries(template.findResources(type)) as [
    string,
    { Properties: Record<string, unknown>; DependsOn?: string[] },
  ][];
}

/** The staged folder or file of the file asset a template refers to by its S3 key (`HASH.zip` / `HASH.json`). */
export function fileAssetPath(s: Pick<Synthesized, 'outdir' | 'stack'>, s3Key: string): string {
  const manifest = JSON.parse(readFileSync(join(s.outdir, `${s.stack.stackName}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string } }>;
  };
  const hash = s3Key.replace(/\.(zip|json)$/, '');
  const entry = manifest.files[hash];
  if (!entry) throw new Error(`no file asset ${hash} in the assembly`);
  return join(s.outdir, entry.source.path);
}
