/**
 * The trigger scope: `POST /v1/rotations` and `GET /v1/rotations/:jobId`, behind the bearer check
 * (an onRequest hook, so an unauthenticated request is refused before its body is even read).
 *
 * Bodies are JSON (`application/json`); any other Content-Type, `text/plain` included, is 415.
 *
 * A request names one credential, a list, or all. Every named id is checked before anything is
 * queued: one unknown id refuses the whole request (400), so a typo never leaves half a list
 * rotating. The 400 says how many ids are unknown and where they sit in the body (`credential`,
 * `credentials[3]`), never the ids themselves: a reply repeats no text the client sent (a
 * password pasted in place of an id would come back in the reply and in whatever logs it).
 *
 * Limits: `http.rateLimit.triggerPerMinute` requests per bearer token (429 with Retry-After), and
 * the per-credential `rotation.minIntervalMs` (the queue refuses a rotation within it): a request
 * whose every credential is refused gets 429 with Retry-After (the soonest possible time) and the
 * time in `detail`; a list with some refused gets 202 with the queued ones and `refused`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createBearerVerifier } from './bearer.ts';
import type { AppDeps } from './deps.ts';
import { CooldownError, retryAfterSeconds } from '../queue/rotation-cooldown.ts';
import { MODE } from '../rotation/types.ts';
import { HTTP_ERROR, createScopeErrorHandler, errorFields, sendError, sendTooManyRequests } from './errors.ts';
import { createRequestLimiter } from './request-limit.ts';
import { rotationStatusRouteSchema, triggerRouteSchema, type QueuedRotation, type RefusedRotation, type TriggerBody } from './schemas.ts';

/**
 * Rotations being queued at once for ALL trigger requests together (each enqueue is a few Redis
 * round trips): a storm of `{"all": true}` requests then waits its turn here instead of queueing
 * thousands of commands ahead of a leak alert's on the shared producer connection.
 */
const ENQUEUE_CONCURRENCY = 16;

/** At most `limit` calls of the returned function run at once; the others wait in arrival order. */
function createSlots(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    // A freed slot is handed to the first waiter as is (running stays counted), so none is overtaken.
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
/** Positions of unknown ids named in a 400 reply; the rest are counted. */
const MAX_UNKNOWN_POSITIONS = 10;

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

/** Where the body names an id that is not configured: `credential`, or `credentials[i]` for each entry. */
function unknownPositions(body: TriggerBody, configured: (id: string) => boolean): string[] {
  if ('credential' in body) return configured(body.credential) ? [] : ['credential'];
  if ('credentials' in body) return body.credentials.flatMap((id, index) => (configured(id) ? [] : [`credentials[${index}]`]));
  return [];
}

/** The 400's detail: how many and where, never which (see the file comment). */
function unknownIdsDetail(body: TriggerBody, positions: readonly string[]): string {
  const hint = 'nothing was queued; ids are not repeated in replies, `milvus-rotator status` lists the configured ones';
  if (!('credentials' in body)) return `credential is not a configured credential id; ${hint}`;
  const named = positions.slice(0, MAX_UNKNOWN_POSITIONS).join(', ');
  const more = positions.length > MAX_UNKNOWN_POSITIONS ? ` and ${positions.length - MAX_UNKNOWN_POSITIONS} more` : '';
  const total = body.credentials.length;
  return `${positions.length} of the ${total} entr${total === 1 ? 'y' : 'ies'} of credentials ${positions.length === 1 ? 'is not a configured credential id' : 'are not configured credential ids'} (${named}${more}); ${hint}`;
}

export function triggerRoutes(deps: Pick<AppDeps, 'config' | 'enqueue' | 'rotationStatus' | 'nowMs'>) {
  const nowMs = deps.nowMs ?? Date.now;
  const verifyBearer = createBearerVerifier(deps.config.http.triggerTokens);
  const enqueueSlot = createSlots(ENQUEUE_CONCURRENCY);
  /** Which configured token authenticated a request (`requestedBy: http:<index>`). */
  const tokenIndexOf = new WeakMap<FastifyRequest, number>();

  return async (app: FastifyInstance): Promise<void> => {
    app.setErrorHandler(createScopeErrorHandler({ exposeValidation: true }));
    // JSON only. Fastify also parses text/plain (into a string the schema then refuses with a 400);
    // without that parser every non-JSON body gets fastify's FST_ERR_CTP_INVALID_MEDIA_TYPE, which
    // the error handler answers 415 {"error":"unsupported_media_type"} like any other media type.
    app.removeContentTypeParser('text/plain');
    const perToken = createRequestLimiter(app, { perMinute: deps.config.http.rateLimit.triggerPerMinute, keyOf: (request) => `token:${tokenIndexOf.get(request) ?? -1}` });

    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const check = verifyBearer(request.headers.authorization);
      if (!check.ok) {
        request.log.info({ route: request.routeOptions.url }, 'trigger request refused: bad or missing bearer token');
        return sendError(reply.header('www-authenticate', 'Bearer'), 401, HTTP_ERROR.unauthorized);
      }
      tokenIndexOf.set(request, check.tokenIndex);
      const limit = await perToken(request);
      if (limit.exceeded) {
        request.log.warn({ route: request.routeOptions.url, tokenIndex: check.tokenIndex }, 'trigger request refused: over the per-token rate limit');
        return sendTooManyRequests(reply, limit.retryAfterSeconds, `more than ${deps.config.http.rateLimit.triggerPerMinute} requests per minute with this token`);
      }
      return undefined;
    });

    app.post<{ Body: TriggerBody }>('/v1/rotations', { schema: triggerRouteSchema }, async (request, reply) => {
      const configured = Object.keys(deps.config.credentials);
      const ids = namedIds(request.body, configured);
      const unknown = unknownPositions(request.body, (id) => Object.hasOwn(deps.config.credentials, id));
      if (unknown.length > 0) {
        request.log.info({ unknown: unknown.length }, 'trigger request refused: unknown credential ids');
        return sendError(reply, 400, HTTP_ERROR.badRequest, unknownIdsDetail(request.body, unknown));
      }
      const requestedBy = `http:${tokenIndexOf.get(request) ?? -1}`;
      let answers: (QueuedRotation | RefusedRotation)[];
      try {
        answers = await mapLimit(ids, ENQUEUE_CONCURRENCY, async (credentialId): Promise<QueuedRotation | RefusedRotation> => {
          try {
            const queued = await enqueueSlot(() => deps.enqueue({ credentialId, mode: MODE.manual, requestedBy }));
            return { credential: credentialId, jobId: queued.jobId };
          } catch (error) {
            if (error instanceof CooldownError) return { credential: credentialId, reason: 'min_interval', retryAt: new Date(error.retryAtMs).toISOString() };
            throw error;
          }
        });
      } catch (error) {
        request.log.error({ err: errorFields(error) }, 'could not queue rotations');
        return sendError(reply, 503, HTTP_ERROR.unavailable, 'the queue is unavailable; rotations named before the failure may have been queued');
      }
      const rotations = answers.filter((a): a is QueuedRotation => 'jobId' in a);
      const refused = answers.filter((a): a is RefusedRotation => 'retryAt' in a);
      if (refused.length > 0) request.log.info({ requestedBy, refused: refused.length, minIntervalMs: deps.config.rotation.minIntervalMs }, 'rotations refused: within rotation.minIntervalMs');
      if (rotations.length === 0 && refused.length > 0) {
        const soonest = refused.map((r) => Date.parse(r.retryAt)).reduce((a, b) => (b < a ? b : a));
        const detail =
          refused.length === 1
            ? `credential "${refused[0]?.credential}" was rotated less than rotation.minIntervalMs ago; next rotation possible at ${new Date(soonest).toISOString()}`
            : `all ${refused.length} credentials were rotated less than rotation.minIntervalMs ago; the first next rotation is possible at ${new Date(soonest).toISOString()}`;
        return sendTooManyRequests(reply, retryAfterSeconds(soonest, nowMs()), detail);
      }
      request.log.info({ requestedBy, credentials: ids.length, jobIds: rotations.map((r) => r.jobId) }, 'rotations queued');
      return reply.code(202).send(refused.length > 0 ? { rotations, refused } : { rotations });
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
