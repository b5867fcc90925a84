/**
 * The trigger scope: `POST /v1/rotations` and `GET /v1/rotations/:jobId`, behind the bearer check
 * (an onRequest hook, so an unauthenticated request is refused before its body is even read).
 *
 * A request names one credential, a list, or all. Every named id is checked before anything is
 * queued: one unknown id refuses the whole request (400, naming the ids), so a typo never leaves
 * half a list rotating.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createBearerVerifier } from './bearer.ts';
import type { AppDeps } from './deps.ts';
import { HTTP_ERROR, createScopeErrorHandler, errorFields, sendError } from './errors.ts';
import { rotationStatusRouteSchema, triggerRouteSchema, type QueuedRotation, type TriggerBody } from './schemas.ts';
import { MODE } from '../rotation/types.ts';

/** Rotations queued at once for a list or `all` (each enqueue is a few Redis round trips). */
const ENQUEUE_CONCURRENCY = 16;
/** Unknown ids named in a 400 reply; the rest are counted. */
const MAX_UNKNOWN_NAMED = 10;

/** Runs `fn` over `items`, at most `limit` at once, keeping the order of results. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

function namedIds(body: TriggerBody, configured: readonly string[]): string[] {
  if ('all' in body) return [...configured];
  if ('credentials' in body) return [...new Set(body.credentials)];
  return [body.credential];
}

function unknownIdsDetail(unknown: readonly string[]): string {
  // Ids passed the schema's pattern ([A-Za-z0-9_-]), so quoting them cannot inject anything.
  const named = unknown.slice(0, MAX_UNKNOWN_NAMED).map((id) => `"${id}"`).join(', ');
  const more = unknown.length > MAX_UNKNOWN_NAMED ? ` and ${unknown.length - MAX_UNKNOWN_NAMED} more` : '';
  return `unknown credential${unknown.length === 1 ? '' : 's'} ${named}${more}; nothing was queued`;
}

export function triggerRoutes(deps: Pick<AppDeps, 'config' | 'enqueue' | 'rotationStatus'>) {
  const verifyBearer = createBearerVerifier(deps.config.http.triggerTokens);
  /** Which configured token authenticated a request (`requestedBy: http:<index>`). */
  const tokenIndexOf = new WeakMap<FastifyRequest, number>();

  return async (app: FastifyInstance): Promise<void> => {
    app.setErrorHandler(createScopeErrorHandler({ exposeValidation: true }));

    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const check = verifyBearer(request.headers.authorization);
      if (!check.ok) {
        request.log.info({ route: request.routeOptions.url }, 'trigger request refused: bad or missing bearer token');
        return sendError(reply.header('www-authenticate', 'Bearer'), 401, HTTP_ERROR.unauthorized);
      }
      tokenIndexOf.set(request, check.tokenIndex);
      return undefined;
    });

    app.post<{ Body: TriggerBody }>('/v1/rotations', { schema: triggerRouteSchema }, async (request, reply) => {
      const configured = Object.keys(deps.config.credentials);
      const ids = namedIds(request.body, configured);
      const unknown = ids.filter((id) => !Object.hasOwn(deps.config.credentials, id));
      if (unknown.length > 0) return sendError(reply, 400, HTTP_ERROR.badRequest, unknownIdsDetail(unknown));
      const requestedBy = `http:${tokenIndexOf.get(request) ?? -1}`;
      let rotations: QueuedRotation[];
      try {
        rotations = await mapLimit(ids, ENQUEUE_CONCURRENCY, async (credentialId) => {
          const queued = await deps.enqueue({ credentialId, mode: MODE.manual, requestedBy });
          return { credential: credentialId, jobId: queued.jobId };
        });
      } catch (error) {
        request.log.error({ err: errorFields(error) }, 'could not queue rotations');
        return sendError(reply, 503, HTTP_ERROR.unavailable, 'the queue is unavailable; rotations named before the failure may have been queued');
      }
      request.log.info({ requestedBy, credentials: ids.length, jobIds: rotations.map((r) => r.jobId) }, 'rotations queued');
      return reply.code(202).send({ rotations });
    });

    app.get<{ Params: { jobId: string } }>('/v1/rotations/:jobId', { schema: rotationStatusRouteSchema }, async (request, reply) => {
      let status;
      try {
        status = await deps.rotationStatus(request.params.jobId);
      } catch (error) {
        request.log.error({ err: errorFields(error) }, 'could not read a rotation job');
        return sendError(reply, 503, HTTP_ERROR.unavailable);
      }
      if (status === null) return sendError(reply, 404, HTTP_ERROR.notFound);
      return reply.code(200).send(status);
    });
  };
}
