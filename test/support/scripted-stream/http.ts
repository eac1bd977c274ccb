/**
 * TEST FIXTURE — HTTP plumbing of the scripted DynamoDB Streams endpoint: a `node:http` server on
 * 127.0.0.1 that takes `POST /` with `X-Amz-Target: DynamoDBStreams_20120810.<Operation>`, hands the
 * JSON body to a handler and writes its answer, or an error in the JSON 1.0 wire shape. Signatures
 * are not checked.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonObject } from './api.js';
import { CONTENT_TYPE, isOperation, type Operation, StreamsApiError, TARGET_PREFIX } from './protocol.js';

export type OperationHandler = (operation: Operation, input: JsonObject) => JsonObject;

/** Called once per request: the operation (or the raw target when unknown) and the error, if any. */
export type CallObserver = (operation: string, error: StreamsApiError | undefined) => void;

export interface JsonRpcServer {
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startJsonRpcServer(
  handler: OperationHandler,
  observe: CallObserver,
  port = 0,
): Promise<JsonRpcServer> {
  const server = createServer((request, response) => {
    readBody(request)
      .then((body) => {
        const target = targetOf(request);
        const answer = answerFor(handler, target, request.method, body);
        observe(target, answer.error);
        send(response, answer.status, answer.body);
      })
      .catch((error: unknown) => send(response, 500, internalError(error).toBody()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly error: StreamsApiError | undefined;
}

function answerFor(
  handler: OperationHandler,
  target: string,
  method: string | undefined,
  body: string,
): Answer {
  try {
    if (method !== 'POST')
      throw new StreamsApiError('ValidationException', `Method ${method} is not supported`);
    if (!isOperation(target))
      throw new StreamsApiError('UnknownOperationException', `Unknown operation ${target}`);
    return { status: 200, body: handler(target, parseInput(body)), error: undefined };
  } catch (error) {
    const apiError = error instanceof StreamsApiError ? error : internalError(error);
    return { status: apiError.status, body: apiError.toBody(), error: apiError };
  }
}

function targetOf(request: IncomingMessage): string {
  const header = request.headers['x-amz-target'];
  const target = Array.isArray(header) ? header[0] : header;
  if (!target) return '';
  return target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
}

function parseInput(body: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = body === '' ? {} : JSON.parse(body);
  } catch {
    throw new StreamsApiError('SerializationException', 'The request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StreamsApiError('SerializationException', 'The request body must be a JSON object');
  }
  return parsed as JsonObject;
}

function internalError(error: unknown): StreamsApiError {
  const detail = error instanceof Error ? error.message : String(error);
  return new StreamsApiError('InternalServerError', `Scripted stream fixture failed: ${detail}`);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  response.end(text);
}
