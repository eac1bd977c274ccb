/**
 * The CDK app (`cdk.json`: `npx tsx infra/app.ts`). Settings come from context; see README "Deploy to AWS". cdk-nag's
 * AwsSolutions pack runs as a validation plugin on every synth.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type ContextKey, readInfraConfig } from './config.js';
import { StreamfleetStack } from './stack.js';

export interface BuildAppOptions {
  /** Context on top of cdk.json's (tests pass the whole context here). */
  context?: Record<string, unknown>;
  outdir?: string;
  distDir?: string;
  /** Run the AwsSolutions checks (default true). */
  nag?: boolean;
  /** Make the acknowledgements (default true). */
  acknowledgeNagFindings?: boolean;
  /**
   * CDK's built-in CloudFormation schema validation on synth (default true; the slow part of a synth). The
   * local mode turns it off when it synthesizes the app only to read the roles' policies.
   */
  validation?: boolean;
}

export function buildApp(options: BuildAppOptions = {}): { app: App; stack: StreamfleetStack } {
  const app = new App({
    ...(options.context === undefined ? {} : { context: options.context }),
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
    ...(options.validation === undefined ? {} : { builtinCloudFormationValidation: options.validation }),
  });
  const config = readInfraConfig((key: ContextKey) => app.node.tryGetContext(key));
  const stack = new StreamfleetStack(app, config.stackName, {
    config,
    ...(options.distDir === undefined ? {} : { distDir: options.distDir }),
    ...(options.acknowledgeNagFindings === undefined
      ? {}
      : { acknowledgeNagFindings: options.acknowledgeNagFindings }),
  });
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
