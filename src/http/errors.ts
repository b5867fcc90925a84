/**
 * Error replies. Each scope of the app installs its own handler from here: the reply is a fixed
 * `{"error": code}` (plus, where the scope allows it, the validator's message, which names schema
 * paths and rules but never a value from the request). Never a stack, never a quote of the body,
 * never which part of a signature failed. Server errors are logged by type, code and message.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from './schemas.ts';

/** The `error` codes of error replies. */
export const HTTP_ERROR = {
  badRequest: 'bad_request',
  unauthorized: 'unauthorized',
  notFound: 'not_found',
  payloadTooLarge: 'payload_too_large',
  unsupportedMediaType: 'unsupported_media_type',
  unavailable: 'unavailable',
  tooManyRequests: 'too_many_requests',
  internal: 'internal_error',
} as const;

/** Fastify's body errors whose own message is replaced by ours (they are generic anyway). */
const INVALID_JSON_CODES: ReadonlySet<string> = new Set(['FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_ERR_CTP_INVALID_JSON_BODY']);

export interface ScopeErrorHandlerOptions {
  /** Whether a validation failure's message goes into `detail` (trigger scope: yes; alert scope: no). */
  exposeValidation: boolean;
  /** Told the status of every error reply of the scope (metrics). */
  onErrorReply?: (status: number, request: FastifyRequest) => void;
}

/** The status an error maps to: its own when it is a 4xx, else 500. */
export function errorStatus(error: Partial<Pick<FastifyError, 'statusCode' | 'validation'>>): number {
  if (error.validation !== undefined) return 400;
  const status = error.statusCode;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status < 500 ? status : 500;
}

/** The reply body of an error; see the file comment for what it may hold. */
export function errorBody(error: Partial<FastifyError>, status: number, exposeValidation: boolean): ErrorBody {
  if (status === 400) {
    if (error.validation !== undefined) {
      return exposeValidation && typeof error.message === 'string' ? { error: HTTP_ERROR.badRequest, detail: error.message } : { error: HTTP_ERROR.badRequest };
    }
    if (typeof error.code === 'string' && INVALID_JSON_CODES.has(error.code)) return { error: HTTP_ERROR.badRequest, detail: 'body is not valid JSON' };
    return { error: HTTP_ERROR.badRequest };
  }
  if (status === 401) return { error: HTTP_ERROR.unauthorized };
  if (status === 404) return { error: HTTP_ERROR.notFound };
  if (status === 413) return { error: HTTP_ERROR.payloadTooLarge };
  if (status === 415) return { error: HTTP_ERROR.unsupportedMediaType };
  if (status === 429) return { error: HTTP_ERROR.tooManyRequests };
  if (status >= 500) return { error: HTTP_ERROR.internal };
  return { error: (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z0-9]+/g, '_') };
}

/** A scope's error handler (fastify `setErrorHandler`). */
export function createScopeErrorHandler(options: ScopeErrorHandlerOptions) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const status = errorStatus(error);
    options.onErrorReply?.(status, request);
    if (status >= 500) {
      request.log.error({ err: errorFields(error), route: request.routeOptions.url }, 'request failed');
    } else {
      request.log.debug({ code: error.code, statusCode: status, route: request.routeOptions.url }, 'request refused');
    }
    return reply.code(status).send(errorBody(error, status, options.exposeValidation));
  };
}

/** Sends an error reply from a handler. */
export function sendError(reply: FastifyReply, status: number, error: string, detail?: string): FastifyReply {
  const body: ErrorBody = detail === undefined ? { error } : { error, detail };
  return reply.code(status).send(body);
}

/** A 429: refused by a limit, with Retry-After (whole seconds, at least 1) and what the limit is. */
export function sendTooManyRequests(reply: FastifyReply, retryAfterSeconds: number, detail: string): FastifyReply {
  return sendError(reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterSeconds)))), 429, HTTP_ERROR.tooManyRequests, detail);
}

/** An unexpected error as a log field: its type, code and message (messages never hold a secret by rule, src/errors.ts). */
export function errorFields(error: unknown): { type: string; code?: string; message: string } {
  if (!(error instanceof Error)) return { type: typeof error, message: '' };
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  return { type: error.name, ...(code === undefined ? {} : { code }), message: error.message };
}
