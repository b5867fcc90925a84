/**
 * `POST /v1/leak-alerts/github`: GitHub's secret scanning partner program, for a token issuer
 * whose token pattern GitHub knows (GitHub forwards the matches it finds in public code). A
 * company that only runs this rotator cannot make GitHub call this route: it wants the
 * organization webhook (./github-webhook-feed.ts). ECDSA P-256 over the raw body with GitHub's
 * published keys (./../github-partner.ts); the replay key is the signature's `r`
 * (./../github-replay-key.ts). A copy is acknowledged with `200 []`: GitHub retries anything but 2xx.
 * The reply is GitHub's feedback format, for the matched tokens only, by hash. 1 MiB at most:
 * GitHub batches up to 1,000 matches per delivery.
 */
import { createHash } from 'node:crypto';
import { GITHUB_HEADER, parseGithubMatches, verifyGithubSignature, type GithubKeys } from '../github-partner.ts';
import { GITHUB_REPLAY_TTL_SECONDS, githubReplayKey } from '../github-replay-key.ts';
import { singleHeader } from '../header-value.ts';
import { FEED_NAME, type LeakClaim, type LeakFeed } from '../leak-feed.ts';

export const GITHUB_PARTNER_ROUTE = '/v1/leak-alerts/github';
export const GITHUB_PARTNER_BODY_LIMIT = 1024 * 1024;

/** GitHub's feedback format, matched tokens only: a hash, never the token. */
export interface GithubFeedback {
  token_hash: string;
  token_type: string;
  label: 'true_positive';
}

const feedbackSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { token_hash: { type: 'string' }, token_type: { type: 'string' }, label: { type: 'string', enum: ['true_positive'] } },
    required: ['token_hash', 'token_type', 'label'],
    additionalProperties: false,
  },
} as const;

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** `keys()` is read per request, so a reloaded keys file takes effect without a restart. */
export function githubPartnerFeed(keys: () => GithubKeys | null): LeakFeed<{ keyIdentifier: string }> {
  return {
    name: FEED_NAME.githubPartner,
    route: GITHUB_PARTNER_ROUTE,
    bodyLimit: GITHUB_PARTNER_BODY_LIMIT,
    replySchemas: { 200: feedbackSchema },
    unavailable: () => (keys() === null ? 'no usable GitHub public keys (leakAlerts.githubKeysFile)' : null),
    verify: (request) => {
      const current = keys();
      if (current === null) return { ok: false, reason: 'unconfigured' };
      const check = verifyGithubSignature(
        { rawBody: request.rawBody, keyIdentifier: request.headers[GITHUB_HEADER.keyIdentifier], signature: request.headers[GITHUB_HEADER.signature] },
        current,
      );
      return check.ok ? { ok: true, verified: { keyIdentifier: check.keyIdentifier } } : { ok: false, reason: check.reason };
    },
    replay: (_verified, request) => ({
      key: githubReplayKey(singleHeader(request.headers[GITHUB_HEADER.signature]) ?? ''),
      ttlSeconds: GITHUB_REPLAY_TTL_SECONDS,
      reply: { status: 200, body: [] },
    }),
    read: async (request, verified) => {
      const parsed = parseGithubMatches(request.rawBody);
      if (!parsed.ok) return { kind: 'invalid', problem: parsed.error };
      // One claim per distinct (token, type): the feedback names each matched token once.
      const seen = new Set<string>();
      const claims: LeakClaim[] = [];
      for (const match of parsed.matches) {
        const key = `${sha256Hex(match.token)}\n${match.type}`;
        if (seen.has(key)) continue;
        seen.add(key);
        claims.push({ by: 'literal', token: match.token, type: match.type });
      }
      return { kind: 'alert', source: FEED_NAME.githubPartner, claims, logFields: { keyIdentifier: verified.keyIdentifier, matches: parsed.matches.length } };
    },
    answer: (outcomes) => {
      const feedback: GithubFeedback[] = [];
      for (const { claim, credentials } of outcomes) {
        if (claim.by === 'literal' && credentials.length > 0) feedback.push({ token_hash: sha256Hex(claim.token), token_type: claim.type, label: 'true_positive' });
      }
      return { status: 200, body: feedback };
    },
  };
}
