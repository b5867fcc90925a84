/**
 * The public scope: liveness, readiness and metrics. No authentication (the kubelet and Prometheus
 * call these), so nothing here says more than "up", "ready" and the metric values, which carry
 * only ids and codes (src/observability/metrics.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from './deps.ts';
import { createScopeErrorHandler } from './errors.ts';
import { healthRouteSchema, readinessRouteSchema, type ReadinessReason } from './schemas.ts';

/** How long readiness waits for Redis before saying not ready (the kubelet's probe timeout is 1 s by default). */
export const READINESS_REDIS_TIMEOUT_MS = 800;

async function within(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check().catch(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function publicRoutes(deps: Pick<AppDeps, 'configLoaded' | 'metrics' | 'redisReady' | 'notReady'>) {
  return async (app: FastifyInstance): Promise<void> => {
    app.setErrorHandler(createScopeErrorHandler({ exposeValidation: false }));

    app.get('/healthz', { schema: healthRouteSchema }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: readinessRouteSchema }, async (_request, reply) => {
      const redis = await within(deps.redisReady, READINESS_REDIS_TIMEOUT_MS);
      const config = deps.configLoaded?.() ?? true;
      const reasons: ReadinessReason[] = [...(redis ? [] : (['redis_unreachable'] as const)), ...(config ? [] : (['config_not_loaded'] as const)), ...(deps.notReady?.() ?? [])];
      const ready = reasons.length === 0;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: { redis, config }, reasons });
    });

    // Prometheus text, not JSON: no JSON response schema applies; the registry holds only metrics.
    app.get('/metrics', async (_request, reply) => {
      const text = await deps.metrics.registry.metrics();
      return reply.header('content-type', deps.metrics.registry.contentType).send(text);
    });
  };
}
