/**
 * The identity policies of a role in a synthesized CloudFormation template, as IAM will hold them once the
 * stack is deployed: the role's inline `Policies`, and every `AWS::IAM::Policy` attached to it (CDK grants
 * land in the role's `DefaultPolicy`). Pure: a template in, policy documents out.
 *
 * The template's intrinsic functions are resolved for the place the policies will be evaluated: pseudo
 * parameters (`AWS::Partition`, `AWS::Region`, `AWS::AccountId`, `AWS::URLSuffix`, `AWS::StackName`),
 * `Fn::Join`, `Fn::Sub`, `Fn::Select` and `Fn::Split`. A reference to another resource of the stack (a log
 * group's ARN, the alerts topic) has no value before deployment and is written `{LogicalId}` or
 * `{LogicalId.Attribute}`: such a resource is never a DynamoDB table or stream (the fleet's tables are made by
 * the workflows, not the stack), so it never grants or hides a DynamoDB permission. Managed policies
 * (`ManagedPolicyArns`) are named, not read: the control plane's roles have none (a test says so).
 */
import type { IamPolicy, NamedPolicy } from '../../core/iam/iam-evaluation.js';

export interface PseudoParameters {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  readonly urlSuffix?: string;
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources: Readonly<Record<string, CfnResource>>;
  readonly Parameters?: Readonly<Record<string, { Default?: unknown }>>;
}

export class TemplateResolutionError extends Error {
  override readonly name = 'TemplateResolutionError';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Resolves the intrinsics in `value` (recursively) to plain JSON. */
export function resolveIntrinsics(value: unknown, template: CfnTemplate, pseudo: PseudoParameters): unknown {
  const resolve = (v: unknown): unknown => resolveIntrinsics(v, template, pseudo);
  const text = (v: unknown): string => {
    const resolved = resolve(v);
    if (typeof resolved !== 'string') {
      throw new TemplateResolutionError(`expected a string, got ${JSON.stringify(resolved)}`);
    }
    return resolved;
  };
  if (Array.isArray(value)) return value.map(resolve);
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [key] = keys as [string];
    const arg = value[key];
    switch (key) {
      case 'Ref':
        return ref(String(arg), template, pseudo);
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
        return `{${String(id)}.${String(attribute)}}`;
      }
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolve(parts) as unknown[]).map((part) => text(part)).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        const items = resolve(list);
        if (!Array.isArray(items)) throw new TemplateResolutionError('Fn::Select needs a list');
        // A list split out of a value known only at deployment (a cluster's issuer URL) stays unresolved.
        return items[Number(resolve(index))] ?? `{${items.join('|')}[${String(resolve(index))}]}`;
      }
      case 'Fn::Split': {
        const [separator, source] = arg as [string, unknown];
        return text(source).split(separator);
      }
      case 'Fn::Sub': {
        const [format, variables] = Array.isArray(arg)
          ? (arg as [string, Record<string, unknown>])
          : [String(arg), {}];
        return format.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
          if (name in variables) return text(variables[name]);
          return name.includes('.') ? text({ 'Fn::GetAtt': name.split('.') }) : text({ Ref: name });
        });
      }
      default:
        if (key.startsWith('Fn::')) throw new TemplateResolutionError(`${key} is not resolved here`);
    }
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
}

function ref(name: string, template: CfnTemplate, pseudo: PseudoParameters): string {
  switch (name) {
    case 'AWS::Partition':
      return pseudo.partition;
    case 'AWS::Region':
      return pseudo.region;
    case 'AWS::AccountId':
      return pseudo.accountId;
    case 'AWS::StackName':
      return pseudo.stackName;
    case 'AWS::URLSuffix':
      return pseudo.urlSuffix ?? 'amazonaws.com';
    default: {
      const parameter = template.Parameters?.[name];
      if (parameter && typeof parameter.Default === 'string') return parameter.Default;
      return `{${name}}`;
    }
  }
}

/** Every identity policy IAM will hold for the role `roleLogicalId`, resolved, each named as in the template. */
export function rolePolicies(
  template: CfnTemplate,
  roleLogicalId: string,
  pseudo: PseudoParameters,
): NamedPolicy[] {
  const role = template.Resources[roleLogicalId];
  if (role?.Type !== 'AWS::IAM::Role') {
    throw new TemplateResolutionError(`${roleLogicalId} is not an AWS::IAM::Role of the template`);
  }
  const managed = role.Properties?.ManagedPolicyArns;
  if (Array.isArray(managed) && managed.length > 0) {
    throw new TemplateResolutionError(
      `${roleLogicalId} has managed policies, which are not read here: grant with CDK statements instead`,
    );
  }
  const policies: NamedPolicy[] = [];
  const inline = role.Properties?.Policies;
  for (const entry of Array.isArray(inline) ? inline : []) {
    const { PolicyName, PolicyDocument } = entry as { PolicyName: unknown; PolicyDocument: unknown };
    policies.push({
      name: String(resolveIntrinsics(PolicyName, template, pseudo)),
      document: resolveIntrinsics(PolicyDocument, template, pseudo) as IamPolicy,
    });
  }
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = resource.Properties?.Roles;
    const attached = Array.isArray(roles) && roles.some((r) => isObject(r) && r.Ref === roleLogicalId);
    if (!attached) continue;
    policies.push({
      name: String(resolveIntrinsics(resource.Properties?.PolicyName ?? id, template, pseudo)),
      document: resolveIntrinsics(resource.Properties?.PolicyDocument, template, pseudo) as IamPolicy,
    });
  }
  return policies;
}
