/**
 * Request rate limits of the HTTP API, over @fastify/rate-limit (registered once in app.ts with
 * `global: false`): a fixed one-minute window per key, counted in this replica's memory (no Redis
 * round trip on the leak path; N replicas behind a Service admit up to N x the limit). A scope
 * calls its limiter where the key is known: after the bearer check (per token), after the
 * signature check (per feed), so that nobody without the credential can use up its budget.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** The window of every limit. */
export const RATE_WINDOW_MS = 60_000;

export type LimitCheck = { exceeded: false } | { exceeded: true; retryAfterSeconds: number };
export type RequestLimiter = (request: FastifyRequest) => Promise<LimitCheck>;

export function createRequestLimiter(app: FastifyInstance, options: { perMinute: number; keyOf: (request: FastifyRequest) => string }): RequestLimiter {
  const limit = app.createRateLimit({ max: options.perMinute, timeWindow: RATE_WINDOW_MS, keyGenerator: options.keyOf });
  return async (request) => {
    const result = await limit(request);
    if (result.isAllowed || !result.isExceeded) return { exceeded: false };
    return { exceeded: true, retryAfterSeconds: Math.max(1, result.ttlInSeconds) };
  };
}
