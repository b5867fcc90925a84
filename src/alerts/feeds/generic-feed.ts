/**
 * `POST /v1/leak-alerts`: the generic feed, for any scanner or in-house sender. HMAC-signed with
 * a timestamp (./../generic-signature.ts); the replay key is the verified signature, remembered for
 * the whole window in which it verifies; a copy is refused with 401 (nothing to tell a forger).
 * The body names the leak by credential, by username + cluster or by token SHA-256
 * (./../generic-alert.ts). 64 KiB at most: an alert is a few hundred bytes.
 */
import type { Config } from '../../config/types.ts';
import { parseGenericAlert } from '../generic-alert.ts';
import { GENERIC_HEADER, createGenericSignatureVerifier, type GenericSignatureVerifier } from '../generic-signature.ts';
import { FEED_NAME, type LeakFeed } from '../leak-feed.ts';
import { genericReplayTtlSeconds } from '../replay-guard.ts';

export const GENERIC_FEED_ROUTE = '/v1/leak-alerts';
export const GENERIC_BODY_LIMIT = 64 * 1024;

const queuedRotations = {
  type: 'object',
  properties: {
    rotations: {
      type: 'array',
      items: { type: 'object', properties: { credential: { type: 'string' }, jobId: { type: 'string' } }, required: ['credential', 'jobId'], additionalProperties: false },
    },
    matched: { type: 'integer' },
  },
  required: ['rotations', 'matched'],
  additionalProperties: false,
} as const;

/** The reply body of feeds that answer with the rotations they queued. */
export const QUEUED_ROTATIONS_SCHEMA = queuedRotations;

export function genericFeed(config: Pick<Config, 'leakAlerts'>, nowMs: () => number): LeakFeed<{ signatureHex: string }> {
  const { webhookSecrets, toleranceSeconds } = config.leakAlerts;
  const verifier: GenericSignatureVerifier | null = webhookSecrets.length === 0 ? null : createGenericSignatureVerifier({ secrets: webhookSecrets, toleranceSeconds, nowMs });
  const ttlSeconds = genericReplayTtlSeconds(toleranceSeconds);
  return {
    name: FEED_NAME.generic,
    route: GENERIC_FEED_ROUTE,
    bodyLimit: GENERIC_BODY_LIMIT,
    replySchemas: { 202: queuedRotations },
    unavailable: () => (verifier === null ? 'no webhook secret is configured (leakAlerts.webhookSecret)' : null),
    verify: (request) => {
      if (verifier === null) return { ok: false, reason: 'unconfigured' };
      const check = verifier({ rawBody: request.rawBody, timestamp: request.headers[GENERIC_HEADER.timestamp], signature: request.headers[GENERIC_HEADER.signature] });
      return check.ok ? { ok: true, verified: { signatureHex: check.signatureHex } } : { ok: false, reason: check.reason };
    },
    replay: (verified) => ({ key: verified.signatureHex, ttlSeconds, reply: { status: 401, body: { error: 'unauthorized' } } }),
    read: async (request) => {
      const parsed = parseGenericAlert(request.rawBody);
      if (!parsed.ok) return { kind: 'invalid', problem: parsed.error };
      const { alert } = parsed;
      return { kind: 'alert', ...(alert.id !== undefined && { alertId: alert.id }), ...(alert.source !== undefined && { source: alert.source }), claims: [alert], logFields: { namedBy: alert.by } };
    },
    answer: (outcomes, rotations) => ({ status: 202, body: { rotations, matched: new Set(outcomes.flatMap((o) => o.credentials)).size } }),
  };
}
