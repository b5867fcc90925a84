/**
 * `POST /v1/leak-alerts/github-webhook`: GitHub secret scanning on one's own organization or
 * repositories (custom patterns for Milvus / Zilliz Cloud credentials, generic password
 * detection). GitHub sends `secret_scanning_alert` events; `created`, `reopened` and
 * `publicly_leaked` mean a secret is exposed, every other event or action is acknowledged (202)
 * and ignored. The delivery carries no secret, so the literal is read from the REST API
 * (./../github-alerts-api.ts), matched through the fingerprint index as a claim, and dropped.
 *
 * Verified with X-Hub-Signature-256 (./../github-webhook.ts); no timestamp is signed, so the replay
 * key is the delivery id (X-GitHub-Delivery), remembered a week; a copy is acknowledged, 202. A
 * failed REST call answers 503 and leaves the delivery retriable ("Redeliver" in GitHub's UI or
 * API). The alert id is `github:<owner>/<repo>#<number>`: with `resolveAlerts`, the alert is resolved
 * as revoked once its leak rotation rotated (src/notifications/github-alert-resolver.ts).
 */
import { createHash } from 'node:crypto';
import type { GithubWebhookConfig } from '../../config/types.ts';
import type { GithubAlertsApi } from '../github-alerts-api.ts';
import { GITHUB_WEBHOOK_HEADER, deliveryId, parseSecretScanningDelivery, verifyGithubWebhookSignature } from '../github-webhook.ts';
import { FEED_NAME, type LeakFeed } from '../leak-feed.ts';
import { QUEUED_ROTATIONS_SCHEMA } from './generic-feed.ts';

export const GITHUB_WEBHOOK_ROUTE = '/v1/leak-alerts/github-webhook';
/** GitHub caps webhook payloads at 25 MB; secret_scanning_alert deliveries are a few KiB. */
export const GITHUB_WEBHOOK_BODY_LIMIT = 256 * 1024;
/** A delivery id is remembered this long (GitHub lets a delivery be redelivered for 3 days). */
export const GITHUB_WEBHOOK_REPLAY_TTL_SECONDS = 7 * 24 * 3600;

const ignoredSchema = { type: 'object', properties: { ignored: { type: 'string' } }, required: ['ignored'], additionalProperties: false } as const;

export function githubWebhookFeed(config: GithubWebhookConfig | undefined, api: Pick<GithubAlertsApi, 'readSecret'> | null): LeakFeed<{ delivery: string }> {
  return {
    name: FEED_NAME.githubWebhook,
    route: GITHUB_WEBHOOK_ROUTE,
    bodyLimit: GITHUB_WEBHOOK_BODY_LIMIT,
    replySchemas: { 202: { anyOf: [QUEUED_ROTATIONS_SCHEMA, ignoredSchema] } },
    unavailable: () => (config === undefined || api === null ? 'the GitHub webhook is not configured (leakAlerts.githubWebhook)' : null),
    verify: (request) => {
      if (config === undefined) return { ok: false, reason: 'unconfigured' };
      const check = verifyGithubWebhookSignature(request.rawBody, request.headers[GITHUB_WEBHOOK_HEADER.signature], config.secrets);
      if (!check.ok) return { ok: false, reason: check.reason };
      // Without a delivery id, the body's own digest keys the replay guard (an identical body is a copy).
      const delivery = deliveryId(request.headers[GITHUB_WEBHOOK_HEADER.delivery]) ?? `body:${createHash('sha256').update(request.rawBody).digest('hex')}`;
      return { ok: true, verified: { delivery } };
    },
    replay: (verified) => ({ key: `github-delivery:${verified.delivery}`, ttlSeconds: GITHUB_WEBHOOK_REPLAY_TTL_SECONDS, reply: { status: 202, body: { ignored: 'already processed' } } }),
    read: async (request, verified) => {
      const parsed = parseSecretScanningDelivery(request.headers[GITHUB_WEBHOOK_HEADER.event], request.rawBody);
      if (parsed.kind === 'invalid') return { kind: 'invalid', problem: 'not a secret_scanning_alert delivery (action, alert.number, repository.full_name)' };
      if (parsed.kind === 'ignored') return { kind: 'ignored', why: parsed.why, reply: { status: 202, body: { ignored: parsed.why === 'other_event' ? 'not a secret_scanning_alert event' : 'not a leak action' } } };
      if (api === null) return { kind: 'unavailable', what: 'the GitHub webhook is not configured' };
      const read = await api.readSecret(parsed);
      if (!read.ok) return { kind: 'unavailable', what: `could not read GitHub alert ${parsed.alertId}: ${read.cause}${read.status === null ? '' : ` (HTTP ${read.status})`}` };
      return {
        kind: 'alert',
        alertId: parsed.alertId,
        source: FEED_NAME.githubWebhook,
        claims: [{ by: 'literal', token: read.secret, type: 'github_secret_scanning' }],
        logFields: { delivery: verified.delivery, action: parsed.action },
      };
    },
    answer: (outcomes, rotations) => ({ status: 202, body: { rotations, matched: new Set(outcomes.flatMap((o) => o.credentials)).size } }),
  };
}
