/**
 * The HTTP face of the worker (docs/design.md section 7): `buildApp(deps)` returns a fastify instance that
 * is not listening (tests use `inject()`; src/http/server.ts listens). Three encapsulated scopes,
 * each with its own hooks, parser and error handler, so nothing of one leaks into another:
 *
 *   public   GET /healthz, GET /readyz, GET /metrics          no authentication
 *   trigger  POST /v1/rotations, GET /v1/rotations/:jobId      bearer token (onRequest hook)
 *   alerts   POST /v1/leak-alerts, /v1/leak-alerts/github,      raw-buffer parser, signatures
 *            /v1/leak-alerts/github-webhook                    (one pipeline, leak-feed-routes.ts)
 *
 * Logging: fastify's own request logging is off (it would log URLs and, on errors, more); one
 * access line per request is written here with the route pattern, status, duration and sizes.
 * Client errors at the HTTP parser level are answered 400 without logging the raw packet (which
 * holds headers, Authorization included).
 *
 * Slow clients: `http.headersTimeoutMs` for the headers, `http.requestTimeoutMs` for the whole
 * request (headers and body; checked every CONNECTIONS_CHECK_MS), `http.keepAliveTimeoutMs` for an
 * idle kept-alive connection, and at most `http.maxConnections` open connections (more are closed
 * at accept). A request cut by a timeout is answered 408 and its socket closed.
 */
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import type { AppDeps } from './deps.ts';
import { HTTP_ERROR, createScopeErrorHandler, errorBody, errorStatus, sendError } from './errors.ts';
import { GENERIC_BODY_LIMIT, genericFeed } from '../alerts/feeds/generic-feed.ts';
import { githubPartnerFeed } from '../alerts/feeds/github-partner-feed.ts';
import { githubWebhookFeed } from '../alerts/feeds/github-webhook-feed.ts';
import { GithubAlertsApi } from '../alerts/github-alerts-api.ts';
import type { LeakFeed } from '../alerts/leak-feed.ts';
import { leakFeedRoutes } from './leak-feed-routes.ts';
import { publicRoutes } from './public-routes.ts';
import { triggerRoutes } from './trigger-routes.ts';

export type { AppDeps } from './deps.ts';

/** How often Node looks for requests past their header or request timeout. */
const CONNECTIONS_CHECK_MS = 1_000;

/** The default request body limit (trigger requests; the alert routes set their own). */
export const DEFAULT_BODY_LIMIT = GENERIC_BODY_LIMIT;

/** Every leak-alert feed the app serves: a new feed is one file in src/alerts/feeds/ and a line here. */
export function leakFeeds(deps: AppDeps): LeakFeed<unknown>[] {
  const webhook = deps.config.leakAlerts.githubWebhook;
  return [
    genericFeed(deps.config, deps.nowMs ?? Date.now),
    githubPartnerFeed(() => deps.currentGithubKeys?.() ?? deps.githubKeys),
    githubWebhookFeed(webhook, webhook === undefined ? null : new GithubAlertsApi({ apiUrl: webhook.apiUrl, token: webhook.token })),
  ] as LeakFeed<unknown>[];
}

function requestBytes(header: string | undefined): number | undefined {
  const bytes = header === undefined ? Number.NaN : Number(header);
  return Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : undefined;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  // Typed as fastify's logger interface (pino's Logger is one) so the instance is a plain FastifyInstance.
  const logger: FastifyBaseLogger = deps.logger.child({ component: 'http' });
  const limits = deps.config.http;
  // Node refuses a headers timeout above the request timeout.
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const app = Fastify({
    http: { headersTimeout, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs, connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_MS, headersTimeout) },
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Socket inactivity (no byte either way) also ends a connection.
    connectionTimeout: limits.requestTimeoutMs,
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
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    },
  });

  app.server.maxConnections = limits.maxConnections;
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

  // Rate limits (in memory, per replica): no route is limited by default; the trigger scope limits
  // per bearer token, the alert scope per feed after the signature check (createRateLimit).
  app.register(rateLimit, { global: false, skipOnError: true });
  app.register(publicRoutes(deps));
  app.register(triggerRoutes(deps));
  app.register(leakFeedRoutes(deps, leakFeeds(deps)));
  return app;
}
