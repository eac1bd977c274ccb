/**
 * The `iam` rule: every DynamoDB and DynamoDB Streams request signed by registered credentials is judged
 * against the identity policies of the role those credentials are a session of — the action and the exact
 * resource ARN of each authorization IAM would check (`iam-requests.ts`), evaluated by core/iam/iam-evaluation.ts
 * with the request context of {@link requestContextOf}. A request with any authorization not allowed is
 * answered `AccessDeniedException` in AWS's words, naming the first one refused, and never reaches DynamoDB
 * Local.
 *
 * Identity, not authentication: the access key id in the SigV4 `Authorization` header says who is calling;
 * the signature is not checked. Requests signed by credentials nobody registered (test clients, the bench's
 * own load, a run's observers) pass unchecked and are counted as such.
 */
import {
  accessDeniedMessage,
  Decision,
  evaluatePolicies,
  type RequestContext,
} from '../../core/iam/iam-evaluation.js';
import { accessDenied } from './errors.js';
import type { IamRegistry, Principal } from './iam-registry.js';
import {
  type ArnLocation,
  authorizationsOf,
  DYNAMODB_LOCAL_LOCATION,
  isUnjudgeable,
} from './iam-requests.js';
import {
  type Admission,
  type AwsRequest,
  accessKeyIdOf,
  PASS,
  type RequestHead,
  type Rule,
  refuse,
  signedRegionOf,
} from './rule.js';
import type { AwsRulesStatsRecorder } from './stats.js';
import type { RuleSwitches } from './switches.js';

/**
 * The condition keys the layer puts in a request's context, with the values AWS gives them (IAM User Guide,
 * "AWS global condition context keys"): the region the request is signed for (`aws:RequestedRegion`) and
 * who calls — `aws:PrincipalArn` (the role's ARN, not the session's), `aws:PrincipalAccount`,
 * `aws:PrincipalType` (`AssumedRole`). No other key: a condition on any other fails closed.
 */
export function requestContextOf(principal: Principal, authorization: string | undefined): RequestContext {
  const region = signedRegionOf(authorization);
  return {
    ...(region === undefined ? {} : { 'aws:RequestedRegion': region }),
    'aws:PrincipalArn': principal.roleArn,
    'aws:PrincipalAccount': principal.roleArn.split(':')[4] ?? '',
    'aws:PrincipalType': 'AssumedRole',
  };
}

export class IamRule implements Rule {
  readonly name = 'iam';

  constructor(
    private readonly registry: IamRegistry,
    private readonly stats: AwsRulesStatsRecorder,
    private readonly where: ArnLocation = DYNAMODB_LOCAL_LOCATION,
  ) {}

  inspects(head: RequestHead, switches: RuleSwitches): boolean {
    if (!switches.iam || (head.service !== 'dynamodb' && head.service !== 'streams')) return false;
    if (this.registry.isRegistered(accessKeyIdOf(head.headers.authorization))) return true;
    // Counted here, where every request of the two APIs is seen once, so unregistered ones stay unbuffered.
    this.stats.iamUncheckedRequest();
    return false;
  }

  async admit(request: AwsRequest): Promise<Admission> {
    const principal = this.registry.identify(request.accessKeyId());
    if (!principal) return PASS;
    this.stats.iamJudgedRequest();
    const authorizations = authorizationsOf(request.service, request.operation, request.json(), this.where);
    if (isUnjudgeable(authorizations)) {
      this.stats.iamUnjudgedRequest();
      return PASS;
    }
    const context = requestContextOf(principal, request.headers.authorization);
    for (const authorization of authorizations) {
      const evaluation = await evaluatePolicies(principal.policies, { ...authorization, context });
      if (evaluation.decision === Decision.Allow) continue;
      const message = accessDeniedMessage(principal.arn, authorization, evaluation.decision);
      this.stats.iamRefusal({
        principal: principal.arn,
        roleArn: principal.roleArn,
        action: authorization.action,
        resource: authorization.resource,
        decision: evaluation.decision,
        message,
      });
      return refuse(accessDenied(message));
    }
    for (const { action, resource } of authorizations) {
      this.stats.iamAllowedAuthorization(principal.roleArn, action, resource);
    }
    return PASS;
  }
}
