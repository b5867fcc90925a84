/**
 * The leak-alert scope: `POST /v1/leak-alerts` (generic, HMAC-signed) and
 * `POST /v1/leak-alerts/github` (GitHub secret scanning partner format, ECDSA-signed).
 *
 * Order per request, and why:
 *  1. The body is read as raw bytes (a `parseAs: 'buffer'` parser for every content type, scoped
 *     here) under a size limit: 413 past it. Nothing parses JSON before the signature is checked,
 *     and the MAC/ECDSA covers exactly the bytes received.
 *  2. Signature: 401 on any failure, with the same body whatever failed (missing, malformed,
 *     stale, mismatch, unknown key). The reason goes to a debug log line and nowhere else.
 *  3. Replay guard: a signature seen before is refused (generic: 401) or acknowledged without
 *     effect (GitHub: 200 [], GitHub expects 2xx and retries anything else).
 *  4. Parse and validate: 400 on malformed JSON or schema; the detail names our keys, never a value.
 *  5. Resolve to credentials, enqueue each in leak mode with the alert's id, source and receipt time.
 *
 * Body limits: 64 KiB for the generic feed (an alert is a few hundred bytes). 1 MiB for GitHub:
 * GitHub batches up to 1,000 matches per delivery, each a token, type, URL and source (a few
 * hundred bytes, up to ~8 KiB at our schema's bounds), so 64 KiB would refuse real batches with 413,
 * and GitHub would retry the same batch and the leak would never be answered. 1 MiB fits a
 * full batch of typical matches; verifying an ECDSA signature over 1 MiB costs about a millisecond.
 *
 * Nothing here logs a body, a token or a header value: only sizes, ids, counts and results.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseGenericAlert } from '../alerts/generic-alert.ts';
import { GENERIC_HEADER, createGenericSignatureVerifier, type GenericSignatureVerifier } from '../alerts/generic-signature.ts';
import { GITHUB_HEADER, parseGithubMatches, verifyGithubSignature } from '../alerts/github-partner.ts';
import { singleHeader } from '../alerts/header-value.ts';
import { genericReplayTtlSeconds } from '../alerts/replay-guard.ts';
import { resolveGenericAlert, resolveGithubMatches, type ResolvedCredential } from '../alerts/resolve-alert.ts';
import type { LeakNotice } from '../queue/leak-flags.ts';
import type { AppDeps } from './deps.ts';
import { HTTP_ERROR, createScopeErrorHandler, errorFields, sendError } from './errors.ts';
import { GITHUB_REPLAY_TTL_SECONDS, githubReplayKey } from './github-replay-key.ts';
import { genericAlertRouteSchema, githubAlertRouteSchema, type GithubFeedback, type QueuedRotation } from './schemas.ts';
import { MODE } from '../rotation/types.ts';

export const LEAK_ROUTE = {
  generic: '/v1/leak-alerts',
  github: '/v1/leak-alerts/github',
} as const;

/** Request body limits in bytes (see the file comment). */
export const LEAK_BODY_LIMIT = {
  generic: 64 * 1024,
  github: 1024 * 1024,
} as const;

/** The `result` label of milvus_rotator_leak_alerts_total. */
export const LEAK_RESULT = {
  accepted: 'accepted',
  unmatched: 'unmatched',
  unauthorized: 'unauthorized',
  replayed: 'replayed',
  invalid: 'invalid',
  tooLarge: 'too_large',
  /** The feed is not configured (no webhook secret, no GitHub keys) or Redis/the queue failed: 503. */
  unavailable: 'unavailable',
} as const;
export type LeakResult = (typeof LEAK_RESULT)[keyof typeof LEAK_RESULT];

/** The `source` label before an alert is authenticated (the body's own `source` is not trusted yet). */
export const FEED = { generic: 'generic', github: 'github' } as const;

export function leakAlertRoutes(deps: AppDeps) {
  const nowMs = deps.nowMs ?? Date.now;
  const newAlertId = deps.newAlertId ?? (() => `alert-${randomUUID()}`);
  const { leakAlerts } = deps.config;
  const verifyGeneric: GenericSignatureVerifier | null =
    leakAlerts.webhookSecrets.length === 0
      ? null
      : createGenericSignatureVerifier({ secrets: leakAlerts.webhookSecrets, toleranceSeconds: leakAlerts.toleranceSeconds, nowMs });
  const replayTtlSeconds = genericReplayTtlSeconds(leakAlerts.toleranceSeconds);
  /** When each request arrived (onRequest, before its body was read): the alert's receipt time. */
  const receivedAtOf = new WeakMap<FastifyRequest, number>();
  const count = (source: string, result: LeakResult): void => deps.metrics.leakAlerts.inc({ source, result });
  const resolveDeps = { config: deps.config, index: deps.fingerprints };

  /** Enqueues a leak rotation per credential (in parallel: this is the latency-critical path). */
  const enqueueLeak = (credentials: readonly ResolvedCredential[], alert: LeakNotice): Promise<QueuedRotation[]> =>
    Promise.all(
      credentials.map(async ({ credential, username }) => {
        const notice: LeakNotice = username === undefined ? alert : { ...alert, username };
        const queued = await deps.enqueue({ credentialId: credential, mode: MODE.leak, requestedBy: `alert:${alert.source}`, alert: notice });
        return { credential, jobId: queued.jobId };
      }),
    );

  const rawBodyOf = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));

  const unavailable = (request: FastifyRequest, reply: FastifyReply, source: string, what: string, error?: unknown): FastifyReply => {
    count(source, LEAK_RESULT.unavailable);
    request.log.error({ feed: source, ...(error === undefined ? {} : { err: errorFields(error) }) }, what);
    return sendError(reply, 503, HTTP_ERROR.unavailable);
  };

  return async (app: FastifyInstance): Promise<void> => {
    // Raw bytes for every content type, in this scope only: the signature is over the bytes.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    app.addHook('onRequest', async (request: FastifyRequest) => {
      receivedAtOf.set(request, nowMs());
    });

    app.setErrorHandler(
      createScopeErrorHandler({
        exposeValidation: false,
        onErrorReply: (status, request) => {
          const feed = request.routeOptions.url === LEAK_ROUTE.github ? FEED.github : FEED.generic;
          count(feed, status === 413 ? LEAK_RESULT.tooLarge : status >= 500 ? LEAK_RESULT.unavailable : LEAK_RESULT.invalid);
        },
      }),
    );

    app.post(LEAK_ROUTE.generic, { bodyLimit: LEAK_BODY_LIMIT.generic, schema: genericAlertRouteSchema }, async (request, reply) => {
      const receivedAt = receivedAtOf.get(request) ?? nowMs();
      const rawBody = rawBodyOf(request);
      if (verifyGeneric === null) return unavailable(request, reply, FEED.generic, 'generic leak alert refused: no webhook secret is configured');

      // 2. Signature, over the raw bytes, before anything reads them.
      const check = verifyGeneric({
        rawBody,
        timestamp: request.headers[GENERIC_HEADER.timestamp],
        signature: request.headers[GENERIC_HEADER.signature],
      });
      if (!check.ok) {
        count(FEED.generic, LEAK_RESULT.unauthorized);
        request.log.info({ feed: FEED.generic, bytes: rawBody.length, reason: check.reason }, 'leak alert refused: signature');
        return sendError(reply, 401, HTTP_ERROR.unauthorized);
      }

      // 3. Replay guard, keyed by the verified signature.
      let firstSeen: boolean;
      try {
        firstSeen = await deps.replayGuard.firstSeen(check.signatureHex, replayTtlSeconds);
      } catch (error) {
        return unavailable(request, reply, FEED.generic, 'leak alert not processed: the replay guard is unavailable', error);
      }
      if (!firstSeen) {
        count(FEED.generic, LEAK_RESULT.replayed);
        request.log.warn({ feed: FEED.generic, bytes: rawBody.length }, 'leak alert refused: replayed signature');
        return sendError(reply, 401, HTTP_ERROR.unauthorized);
      }

      // 4. Parse.
      const parsed = parseGenericAlert(rawBody);
      if (!parsed.ok) {
        count(FEED.generic, LEAK_RESULT.invalid);
        request.log.info({ feed: FEED.generic, bytes: rawBody.length, problem: parsed.error }, 'leak alert refused: invalid body');
        return sendError(reply, 400, HTTP_ERROR.badRequest, parsed.error);
      }
      const { alert } = parsed;
      const notice: LeakNotice = { alertId: alert.id ?? newAlertId(), source: alert.source ?? FEED.generic, receivedAt };

      // 5. Resolve and enqueue.
      let rotations: QueuedRotation[];
      let resolved: ResolvedCredential[];
      try {
        resolved = await resolveGenericAlert(alert, resolveDeps);
        rotations = await enqueueLeak(resolved, notice);
      } catch (error) {
        return unavailable(request, reply, notice.source, 'leak alert not processed: could not resolve or queue it', error);
      }
      const result = resolved.length > 0 ? LEAK_RESULT.accepted : LEAK_RESULT.unmatched;
      count(notice.source, result);
      request.log[resolved.length > 0 ? 'warn' : 'info'](
        {
          feed: FEED.generic,
          alertId: notice.alertId,
          source: notice.source,
          namedBy: alert.by,
          bytes: rawBody.length,
          result,
          credentials: resolved.map((r) => r.credential),
          jobIds: rotations.map((r) => r.jobId),
        },
        resolved.length > 0 ? 'leak alert accepted: leak rotations queued' : 'leak alert matched no credential',
      );
      return reply.code(202).send({ rotations, matched: resolved.length });
    });

    app.post(LEAK_ROUTE.github, { bodyLimit: LEAK_BODY_LIMIT.github, schema: githubAlertRouteSchema }, async (request, reply) => {
      const receivedAt = receivedAtOf.get(request) ?? nowMs();
      const rawBody = rawBodyOf(request);
      if (deps.githubKeys === null) return unavailable(request, reply, FEED.github, 'GitHub leak alert refused: no usable GitHub public keys (leakAlerts.githubKeysFile)');

      const signatureHeader = request.headers[GITHUB_HEADER.signature];
      const check = verifyGithubSignature(
        { rawBody, keyIdentifier: request.headers[GITHUB_HEADER.keyIdentifier], signature: signatureHeader },
        deps.githubKeys,
      );
      if (!check.ok) {
        count(FEED.github, LEAK_RESULT.unauthorized);
        request.log.info({ feed: FEED.github, bytes: rawBody.length, reason: check.reason }, 'leak alert refused: signature');
        return sendError(reply, 401, HTTP_ERROR.unauthorized);
      }

      let firstSeen: boolean;
      try {
        firstSeen = await deps.replayGuard.firstSeen(githubReplayKey(singleHeader(signatureHeader) ?? ''), GITHUB_REPLAY_TTL_SECONDS);
      } catch (error) {
        return unavailable(request, reply, FEED.github, 'GitHub leak alert not processed: the replay guard is unavailable', error);
      }
      if (!firstSeen) {
        count(FEED.github, LEAK_RESULT.replayed);
        request.log.warn({ feed: FEED.github, bytes: rawBody.length, keyIdentifier: check.keyIdentifier }, 'GitHub leak alert already processed: acknowledged, nothing queued');
        return reply.code(200).send([]);
      }

      const parsed = parseGithubMatches(rawBody);
      if (!parsed.ok) {
        count(FEED.github, LEAK_RESULT.invalid);
        request.log.info({ feed: FEED.github, bytes: rawBody.length, problem: parsed.error }, 'GitHub leak alert refused: invalid body');
        return sendError(reply, 400, HTTP_ERROR.badRequest, parsed.error);
      }

      const notice: LeakNotice = { alertId: newAlertId(), source: FEED.github, receivedAt };
      const feedback: GithubFeedback[] = [];
      const credentials = new Map<string, ResolvedCredential>();
      let rotations: QueuedRotation[];
      try {
        // Token by token, so the feedback names exactly the matched ones; each token is hashed
        // for the reply and otherwise dropped.
        const seen = new Set<string>();
        for (const match of parsed.matches) {
          const tokenHash = createHash('sha256').update(match.token, 'utf8').digest('hex');
          const key = `${tokenHash}\n${match.type}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const found = await resolveGithubMatches([match], resolveDeps);
          if (found.length === 0) continue;
          feedback.push({ token_hash: tokenHash, token_type: match.type, label: 'true_positive' });
          for (const credential of found) {
            const earlier = credentials.get(credential.credential);
            if (!earlier) credentials.set(credential.credential, credential);
            // Tokens of both users of an alternating credential: both may have leaked (two turns).
            else if (earlier.username !== credential.username) delete earlier.username;
          }
        }
        rotations = await enqueueLeak([...credentials.values()], notice);
      } catch (error) {
        return unavailable(request, reply, FEED.github, 'GitHub leak alert not processed: could not resolve or queue it', error);
      }
      const result = credentials.size > 0 ? LEAK_RESULT.accepted : LEAK_RESULT.unmatched;
      count(FEED.github, result);
      request.log[credentials.size > 0 ? 'warn' : 'info'](
        {
          feed: FEED.github,
          alertId: notice.alertId,
          keyIdentifier: check.keyIdentifier,
          bytes: rawBody.length,
          matches: parsed.matches.length,
          matchedTokens: feedback.length,
          result,
          credentials: [...credentials.keys()],
          jobIds: rotations.map((r) => r.jobId),
        },
        credentials.size > 0 ? 'GitHub leak alert accepted: leak rotations queued' : 'GitHub leak alert matched no credential',
      );
      return reply.code(200).send(feedback);
    });
  };
}
