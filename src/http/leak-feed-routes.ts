/**
 * The leak-alert scope: one pipeline for every feed of src/alerts/feeds/ (the feed interface is
 * src/alerts/leak-feed.ts). Per delivery, in this order, and why:
 *
 *  1. The body is read as raw bytes (a `parseAs: 'buffer'` parser for every content type, scoped
 *     here) under the feed's size limit: 413 past it. Nothing parses the body before the signature
 *     is checked, and the signature covers exactly the bytes received.
 *  2. A feed that is not configured answers 503 (and says why in the log).
 *  3. Signature: 401 on any failure, with the same body whatever failed. The reason goes to a
 *     log line and nowhere else.
 *  4. Rate limit per feed (`http.rateLimit.alertsPerMinute`), counted only for authenticated
 *     requests so that nobody without the feed's key can use up its budget: 429 with Retry-After.
 *  5. Replay guard: the delivery is claimed under the feed's replay key. A delivery processed
 *     before gets the feed's replay reply; a copy arriving while the first is being processed gets
 *     503 with Retry-After (retriable, never lost). The claim is committed only when the reply is
 *     below 500 (settled in onSend, before the reply leaves): a failed read or enqueue (503)
 *     releases it, so the sender's retry is processed.
 *  6. Read: the feed turns the body into claims (400 on a malformed body, the feed's reply for an
 *     event it ignores, 503 when a call it needs fails).
 *  7. Resolve each claim against the config and the fingerprint index; enqueue one leak rotation
 *     per credential, in parallel (the latency-critical path), with the alert's id, source and
 *     receipt time. A verified alert that matches nothing raises `alert_unmatched`.
 *  8. Count, one log line, the feed's reply.
 *
 * Nothing here logs a body, a token or a header value: only sizes, ids, counts and results. A
 * claim holding a leaked literal lives only for the length of the request.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClaimOutcome, FeedName, FeedRequest, LeakFeed, QueuedLeakRotation } from '../alerts/leak-feed.ts';
import type { ReplayClaim } from '../alerts/replay-guard.ts';
import { resolveClaim, type ResolvedCredential } from '../alerts/resolve-alert.ts';
import { unmatchedAlertNotification } from '../notifications/notification.ts';
import { leakSourceLabel } from '../observability/metrics.ts';
import type { LeakNotice } from '../queue/leak-flags.ts';
import { MODE } from '../rotation/types.ts';
import type { AppDeps } from './deps.ts';
import { HTTP_ERROR, createScopeErrorHandler, errorFields, sendError, sendTooManyRequests } from './errors.ts';
import { ERROR_REPLY_SCHEMAS } from './schemas.ts';
import { createRequestLimiter, type RequestLimiter } from './request-limit.ts';

/** The `result` label of milvus_rotator_leak_alerts_total. */
export const LEAK_RESULT = {
  accepted: 'accepted',
  unmatched: 'unmatched',
  /** Verified, but an event or action that names no leak: acknowledged. */
  ignored: 'ignored',
  unauthorized: 'unauthorized',
  replayed: 'replayed',
  invalid: 'invalid',
  tooLarge: 'too_large',
  /** The feed is not configured, a call it needs failed, or Redis/the queue failed: 503. */
  unavailable: 'unavailable',
  /** Over the feed's rate limit: 429. */
  rateLimited: 'rate_limited',
  /** A copy of a delivery still being processed: 503, retriable. */
  inFlight: 'in_flight',
} as const;
export type LeakResult = (typeof LEAK_RESULT)[keyof typeof LEAK_RESULT];

/** Retry-After of a copy of a delivery still being processed. */
const IN_FLIGHT_RETRY_AFTER_SECONDS = 2;

/** One route per feed, all in one scope. */
export function leakFeedRoutes(deps: AppDeps, feeds: readonly LeakFeed<unknown>[]) {
  const nowMs = deps.nowMs ?? Date.now;
  const newAlertId = deps.newAlertId ?? (() => `alert-${randomUUID()}`);
  const resolveDeps = { config: deps.config, index: deps.fingerprints };
  const feedOfRoute = new Map<string, FeedName>(feeds.map((feed) => [feed.route, feed.name]));
  const feedOf = (request: FastifyRequest): FeedName | 'unknown' => feedOfRoute.get(request.routeOptions.url ?? '') ?? 'unknown';
  const count = (source: string, result: LeakResult): void => deps.metrics.leakAlerts.inc({ source: leakSourceLabel(source), result });
  /** When each request arrived (onRequest, before its body was read). */
  const receivedAtOf = new WeakMap<FastifyRequest, number>();
  /** The replay claim of each request being processed (settled by the onSend hook). */
  const claimOf = new WeakMap<FastifyRequest, ReplayClaim>();

  const unavailable = (request: FastifyRequest, reply: FastifyReply, feed: string, what: string, error?: unknown): FastifyReply => {
    count(feed, LEAK_RESULT.unavailable);
    request.log.error({ feed, ...(error === undefined ? {} : { err: errorFields(error) }) }, `leak alert not processed: ${what}`);
    return sendError(reply, 503, HTTP_ERROR.unavailable);
  };

  /** Commits (status < 500) or releases (5xx) a request's claim; never throws. */
  const settleClaim = async (request: FastifyRequest, status: number): Promise<void> => {
    const claim = claimOf.get(request);
    if (claim === undefined) return;
    claimOf.delete(request);
    const feed = feedOf(request);
    if (status >= 500) {
      await claim.release().catch((error: unknown) => request.log.warn({ feed, err: errorFields(error) }, 'could not release a failed delivery (it stays blocked until its claim expires)'));
    } else {
      // Its rotations are queued: a failed commit only lets a retry in, which dedup and coalescing absorb.
      await claim.commit().catch((error: unknown) => request.log.warn({ feed, err: errorFields(error) }, 'could not record a processed delivery'));
    }
  };

  /** Step 7: one leak rotation per credential, in parallel. */
  const enqueueLeak = (credentials: readonly ResolvedCredential[], alert: LeakNotice): Promise<QueuedLeakRotation[]> =>
    Promise.all(
      credentials.map(async ({ credential, username, stage, versionId }) => {
        // An alternating credential's leak named by username (or by a token of one user's version): the notice carries which user leaked.
        const notice: LeakNotice = username === undefined ? alert : { ...alert, username };
        const queued = await deps.enqueue({
          credentialId: credential,
          mode: MODE.leak,
          requestedBy: `alert:${alert.source}`,
          alert: notice,
          ...(stage !== undefined && versionId !== undefined ? { leakedVersion: { stage, versionId } } : {}),
        });
        return { credential, jobId: queued.jobId };
      }),
    );

  /** Steps 6 to 8, once the delivery is verified and claimed. */
  const process = async <V>(feed: LeakFeed<V>, request: FastifyRequest, reply: FastifyReply, input: FeedRequest, verified: V): Promise<FastifyReply> => {
    const bytes = input.rawBody.length;
    const read = await feed.read(input, verified).catch((error: unknown) => ({ kind: 'thrown' as const, error }));
    if (read.kind === 'thrown') return unavailable(request, reply, feed.name, 'the feed could not read it', read.error);
    if (read.kind === 'unavailable') return unavailable(request, reply, feed.name, read.what);
    if (read.kind === 'invalid') {
      count(feed.name, LEAK_RESULT.invalid);
      request.log.info({ feed: feed.name, bytes, problem: read.problem }, 'leak alert refused: invalid body');
      return sendError(reply, 400, HTTP_ERROR.badRequest, read.problem);
    }
    if (read.kind === 'ignored') {
      count(feed.name, LEAK_RESULT.ignored);
      request.log.info({ feed: feed.name, bytes, why: read.why }, 'leak feed delivery acknowledged and ignored');
      return reply.code(read.reply.status).send(read.reply.body);
    }

    const notice: LeakNotice = { alertId: read.alertId ?? newAlertId(), source: read.source ?? feed.name, receivedAt: input.receivedAt };
    const outcomes: ClaimOutcome[] = [];
    const credentials = new Map<string, ResolvedCredential>();
    let rotations: QueuedLeakRotation[];
    try {
      // Claim by claim: a miss may refresh the index once (rate-limited), and later claims see it.
      for (const claim of read.claims) {
        const found = await resolveClaim(claim, resolveDeps);
        outcomes.push({ claim, credentials: found.map((f) => f.credential) });
        for (const f of found) {
          const earlier = credentials.get(f.credential);
          if (!earlier) credentials.set(f.credential, f);
          // Claims naming both users of an alternating credential: both may have leaked (two turns).
          else if (earlier.username !== f.username) delete earlier.username;
        }
      }
      rotations = await enqueueLeak([...credentials.values()], notice);
    } catch (error) {
      return unavailable(request, reply, feed.name, 'could not resolve or queue it', error);
    }
    const matched = credentials.size > 0;
    count(notice.source, matched ? LEAK_RESULT.accepted : LEAK_RESULT.unmatched);
    if (!matched) deps.notifier?.notify(unmatchedAlertNotification(notice, nowMs()));
    request.log[matched ? 'warn' : 'info'](
      {
        feed: feed.name,
        alertId: notice.alertId,
        source: leakSourceLabel(notice.source),
        bytes,
        claims: read.claims.length,
        matchedClaims: outcomes.filter((o) => o.credentials.length > 0).length,
        result: matched ? LEAK_RESULT.accepted : LEAK_RESULT.unmatched,
        credentials: [...credentials.keys()],
        jobIds: rotations.map((r) => r.jobId),
        ...read.logFields,
      },
      matched ? 'leak alert accepted: leak rotations queued' : 'leak alert matched no credential',
    );
    const answer = feed.answer(outcomes, rotations);
    return reply.code(answer.status).send(answer.body);
  };

  return async (app: FastifyInstance): Promise<void> => {
    const feedLimiter: RequestLimiter = createRequestLimiter(app, { perMinute: deps.config.http.rateLimit.alertsPerMinute, keyOf: (request) => `feed:${request.routeOptions.url ?? ''}` });
    // Raw bytes for every content type, in this scope only: the signature is over the bytes.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    app.addHook('onRequest', async (request: FastifyRequest) => {
      receivedAtOf.set(request, nowMs());
    });
    app.addHook('onSend', async (request, reply, payload) => {
      await settleClaim(request, reply.statusCode);
      return payload;
    });
    app.setErrorHandler(
      createScopeErrorHandler({
        exposeValidation: false,
        onErrorReply: (status, request) => count(feedOf(request), status === 413 ? LEAK_RESULT.tooLarge : status >= 500 ? LEAK_RESULT.unavailable : LEAK_RESULT.invalid),
      }),
    );

    for (const feed of feeds) {
      app.post(feed.route, { bodyLimit: feed.bodyLimit, schema: { response: { ...feed.replySchemas, ...ERROR_REPLY_SCHEMAS } } }, async (request, reply) => {
        const input: FeedRequest = {
          rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
          headers: request.headers,
          receivedAt: receivedAtOf.get(request) ?? nowMs(),
        };
        // 2. Configured at all.
        const off = feed.unavailable();
        if (off !== null) return unavailable(request, reply, feed.name, off);
        // 3. Signature, over the raw bytes, before anything reads them.
        const check = feed.verify(input);
        if (!check.ok) {
          count(feed.name, LEAK_RESULT.unauthorized);
          request.log.info({ feed: feed.name, bytes: input.rawBody.length, reason: check.reason }, 'leak alert refused: signature');
          return sendError(reply, 401, HTTP_ERROR.unauthorized);
        }
        // 4. Rate limit, per feed, authenticated requests only.
        const limit = await feedLimiter(request);
        if (limit.exceeded) {
          count(feed.name, LEAK_RESULT.rateLimited);
          request.log.warn({ feed: feed.name, limitPerMinute: deps.config.http.rateLimit.alertsPerMinute }, 'leak alert refused: over the feed rate limit');
          return sendTooManyRequests(reply, limit.retryAfterSeconds, `more than ${deps.config.http.rateLimit.alertsPerMinute} requests per minute on this feed`);
        }
        // 5. Replay guard.
        const replay = feed.replay(check.verified, input);
        let claimed;
        try {
          claimed = await deps.replayGuard.claim(replay.key, replay.ttlSeconds);
        } catch (error) {
          return unavailable(request, reply, feed.name, 'the replay guard is unavailable', error);
        }
        if (claimed.status === 'seen') {
          count(feed.name, LEAK_RESULT.replayed);
          request.log.warn({ feed: feed.name, bytes: input.rawBody.length }, 'leak alert already processed: nothing queued');
          return reply.code(replay.reply.status).send(replay.reply.body);
        }
        if (claimed.status === 'in_flight') {
          count(feed.name, LEAK_RESULT.inFlight);
          request.log.warn({ feed: feed.name }, 'leak alert copy while the first is being processed: retry');
          return sendError(reply.header('retry-after', String(IN_FLIGHT_RETRY_AFTER_SECONDS)), 503, HTTP_ERROR.unavailable, 'this delivery is being processed; retry');
        }
        // Settled in onSend, before the reply's bytes leave: a sender that retries at once finds it recorded.
        claimOf.set(request, claimed.claim);
        return process(feed, request, reply, input, check.verified);
      });
    }
  };
}
