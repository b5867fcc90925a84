/**
 * The HTTP face of the worker (DESIGN section 7): `buildApp(deps)` returns a fastify instance that
 * is not listening (tests use `inject()`; src/http/server.ts listens). Three encapsulated scopes,
 * each with its own hooks, parser and error handler, so nothing of one leaks into another:
 *
 *   public   GET /healthz, GET /readyz, GET /metrics          no authentication
 *   trigger  POST /v1/rotations, GET /v1/rotations/:jobId      bearer token (onRequest hook)
 *   alerts   POST /v1/leak-alerts, POST /v1/leak-alerts/github raw-buffer parser, signatures
 *
 * Logging: fastify's own request logging is off (it would log URLs and, on errors, more); one
 * access line per request is written here with the route pattern, status, duration and sizes.
 * Client errors at the HTTP parser level are answered 400 without logging the raw packet (which
 * holds headers, Authorization included).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import type { AppDeps } from './deps.ts';
import { HTTP_ERROR, createScopeErrorHandler, errorBody, errorStatus, sendError } from './errors.ts';
import { LEAK_BODY_LIMIT, leakAlertRoutes } from './leak-alert-routes.ts';
import { publicRoutes } from './public-routes.ts';
import { triggerRoutes } from './trigger-routes.ts';

export type { AppDeps } from './deps.ts';

/** The default request body limit (trigger requests; the alert routes set their own). */
export const DEFAULT_BODY_LIMIT = LEAK_BODY_LIMIT.generic;

function requestBytes(header: string | undefined): number | undefined {
  const bytes = header === undefined ? Number.NaN : Number(header);
  return Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : undefined;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  // Typed as fastify's logger interface (pino's Logger is one) so the instance is a plain FastifyInstance.
  const logger: FastifyBaseLogger = deps.logger.child({ component: 'http' });
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT,
    return503OnClosing: true,
    // Strict validation: unknown keys are refused (not silently dropped) and types are not coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // A bad URL or an over-long path parameter is refused before routing; fastify's own reply
    // would quote the path. Same body shape as every other error, no echo.
    frameworkErrors: (error, _request, reply) => {
      const status = errorStatus(error);
      const body = errorBody(error, status, false);
      sendError(reply, status, body.error, body.detail);
    },
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      logger.debug({ code: error.code }, 'client error');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    },
  });

  app.setErrorHandler(createScopeErrorHandler({ exposeValidation: false }));
  app.setNotFoundHandler(async (_request, reply) => sendError(reply, 404, HTTP_ERROR.notFound));

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? null,
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        requestBytes: requestBytes(request.headers['content-length']),
      },
      'request',
    );
  });

  app.register(publicRoutes(deps));
  app.register(triggerRoutes(deps));
  app.register(leakAlertRoutes(deps));
  return app;
}
