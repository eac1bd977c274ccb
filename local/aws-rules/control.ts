/**
 * The layer's own HTTP API, on the proxy's port under a reserved path prefix, for tests, the bench and
 * `npm start` running in other processes than the one that started the layer:
 *
 * | request | answer |
 * |---|---|
 * | `GET /__aws-rules/stats` | {@link AwsRulesStats} |
 * | `POST /__aws-rules/reset` | 204; counters start again from zero (rule state is kept) |
 * | `GET /__aws-rules/rules` | {@link RuleSwitches} |
 * | `PUT /__aws-rules/rules` with `{"transactionConflicts": false}` | the switches after the change; 400 on a bad one |
 * | `PUT /__aws-rules/iam/roles/ID` with `{"arn", "policies": [{"name", "document"}]}` | 204; registers or replaces a role |
 * | `DELETE /__aws-rules/iam/roles/ID` | 204 (404 when unknown); its sessions are denied everything from then on |
 * | `PUT /__aws-rules/iam/credentials/ACCESS_KEY_ID` with `{"roleId", "sessionName"}` | 204; a session of a registered role |
 * | `DELETE /__aws-rules/iam/credentials/ACCESS_KEY_ID` | 204 (404 when unknown) |
 * | `GET /__aws-rules/iam/roles` | every registered role by id, with its policies |
 *
 * The AWS SDK always posts to `/`, so the prefix never shadows an AWS request. The typed clients below
 * are what tests should call:
 *
 * ```ts
 * await setAwsRules(endpoint, { transactionConflicts: false });
 * const stats = await fetchAwsRulesStats(endpoint);
 * stats.refused.transactionConflicts.cancelledTransactions;
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  IamRegistrationError,
  type IamRegistry,
  parseRegisteredCredentials,
  parseRegisteredRole,
  type RegisteredRole,
} from './iam-registry.js';
import type { AwsRulesStats } from './stats.js';
import { type RuleSwitches, RuleSwitchesError } from './switches.js';

export const CONTROL_PREFIX = '/__aws-rules/';

/** What the control API drives: the proxy itself. */
export interface ControlTarget {
  stats(): AwsRulesStats;
  resetStats(): void;
  rules(): RuleSwitches;
  setRules(switches: Partial<RuleSwitches>): RuleSwitches;
  readonly iam: IamRegistry;
}

const IAM_PREFIX = `${CONTROL_PREFIX}iam/`;

export function isControlPath(url: string | undefined): boolean {
  return url?.startsWith(CONTROL_PREFIX) ?? false;
}

export async function handleControl(
  request: IncomingMessage,
  response: ServerResponse,
  target: ControlTarget,
): Promise<void> {
  const path = (request.url ?? '').split('?', 1)[0] ?? '';
  const route = `${request.method} ${path}`;
  try {
    switch (route) {
      case `GET ${CONTROL_PREFIX}stats`:
        return sendJson(response, 200, target.stats());
      case `POST ${CONTROL_PREFIX}reset`:
        await drain(request);
        target.resetStats();
        response.writeHead(204).end();
        return;
      case `GET ${CONTROL_PREFIX}rules`:
        return sendJson(response, 200, target.rules());
      case `PUT ${CONTROL_PREFIX}rules`: {
        const text = await drain(request);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new RuleSwitchesError('The body must be JSON like {"transactionConflicts": false}');
        }
        // setRules validates names and values.
        return sendJson(response, 200, target.setRules(body as Partial<RuleSwitches>));
      }
      case `GET ${IAM_PREFIX}roles`:
        return sendJson(response, 200, target.iam.roles());
      default:
        if (path.startsWith(IAM_PREFIX)) return await handleIam(request, response, target.iam, path);
        return sendJson(response, 404, { error: `No ${route} here. Try GET ${CONTROL_PREFIX}stats.` });
    }
  } catch (error) {
    const status = error instanceof RuleSwitchesError || error instanceof IamRegistrationError ? 400 : 500;
    return sendJson(response, status, { error: error instanceof Error ? error.message : String(error) });
  }
}

/** The registrations under `/__aws-rules/iam/`: roles and credentials, by id in the path. */
async function handleIam(
  request: IncomingMessage,
  response: ServerResponse,
  registry: IamRegistry,
  path: string,
): Promise<void> {
  const [kind, rawId, ...rest] = path.slice(IAM_PREFIX.length).split('/');
  const id = decodeURIComponent(rawId ?? '');
  if ((kind !== 'roles' && kind !== 'credentials') || id === '' || rest.length > 0) {
    return sendJson(response, 404, { error: `No ${request.method} ${path} here.` });
  }
  if (request.method === 'PUT') {
    const body = parseJson(await drain(request));
    if (kind === 'roles') registry.putRole(id, parseRegisteredRole(body));
    else registry.putCredentials(id, parseRegisteredCredentials(body));
    response.writeHead(204).end();
    return;
  }
  if (request.method === 'DELETE') {
    await drain(request);
    const existed = kind === 'roles' ? registry.deleteRole(id) : registry.deleteCredentials(id);
    if (!existed) return sendJson(response, 404, { error: `No ${kind.slice(0, -1)} ${id} is registered.` });
    response.writeHead(204).end();
    return;
  }
  return sendJson(response, 405, { error: `Use PUT or DELETE on ${path}.` });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new IamRegistrationError('The body must be JSON.');
  }
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

async function drain(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export class AwsRulesControlError extends Error {
  override readonly name = 'AwsRulesControlError';
}

async function call<T>(endpoint: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(`${CONTROL_PREFIX}${path}`, endpoint), {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: keep the text
    }
    throw new AwsRulesControlError(
      `${method} ${path} on the strict layer at ${endpoint}: ${response.status} ${message}`,
    );
  }
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** The counters of the strict layer at `endpoint` (the proxy's endpoint, as given to the AWS SDK). */
export function fetchAwsRulesStats(endpoint: string): Promise<AwsRulesStats> {
  return call<AwsRulesStats>(endpoint, 'GET', 'stats');
}

/** Counters back to zero. */
export async function resetAwsRulesStats(endpoint: string): Promise<void> {
  await call<undefined>(endpoint, 'POST', 'reset');
}

export function fetchAwsRules(endpoint: string): Promise<RuleSwitches> {
  return call<RuleSwitches>(endpoint, 'GET', 'rules');
}

/** Registers (or replaces) a role and its identity policies under `roleId`, for the `iam` rule. */
export async function registerIamRole(endpoint: string, roleId: string, role: RegisteredRole): Promise<void> {
  await call<undefined>(endpoint, 'PUT', `iam/roles/${encodeURIComponent(roleId)}`, role);
}

/** Forgets a role: sessions of it are denied everything from then on, as a deleted role's are. */
export async function deleteIamRole(endpoint: string, roleId: string): Promise<void> {
  await call<undefined>(endpoint, 'DELETE', `iam/roles/${encodeURIComponent(roleId)}`);
}

/** Registers an access key id as a session of a registered role. */
export async function registerIamCredentials(
  endpoint: string,
  accessKeyId: string,
  credentials: { roleId: string; sessionName: string },
): Promise<void> {
  await call<undefined>(endpoint, 'PUT', `iam/credentials/${encodeURIComponent(accessKeyId)}`, credentials);
}

export function fetchIamRoles(endpoint: string): Promise<Record<string, RegisteredRole>> {
  return call<Record<string, RegisteredRole>>(endpoint, 'GET', 'iam/roles');
}

/** Switches the named rules on or off; the others keep their state. Answers the switches after. */
export function setAwsRules(endpoint: string, switches: Partial<RuleSwitches>): Promise<RuleSwitches> {
  return call<RuleSwitches>(endpoint, 'PUT', 'rules', switches);
}
