/**
 * GitHub secret scanning on one's own organization or repository: the `secret_scanning_alert`
 * webhook (spec/leak-alert-feeds.md). Unlike the partner feed, the delivery carries no secret:
 * it says an alert was created, reopened or publicly leaked, and the literal is read from the REST
 * API (./github-alerts-api.ts).
 *
 * Signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(webhook secret, raw body)>`, over the
 * bytes as received, compared in constant time, every configured secret tried (so the webhook
 * secret can be rotated). No timestamp is signed: a replay is refused by the delivery id
 * (`X-GitHub-Delivery`) in the replay guard instead.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { constantTimeEqual } from './constant-time-equal.ts';
import { singleHeader, type HeaderValue } from './header-value.ts';

/** Header names as Node presents them (lower case). */
export const GITHUB_WEBHOOK_HEADER = {
  signature: 'x-hub-signature-256',
  event: 'x-github-event',
  delivery: 'x-github-delivery',
} as const;

/** The event this feed acts on, and the actions that mean "a secret is exposed". */
export const SECRET_SCANNING_EVENT = 'secret_scanning_alert';
export const LEAK_ACTIONS: ReadonlySet<string> = new Set(['created', 'reopened', 'publicly_leaked']);

const SIGNATURE_PATTERN = /^sha256=((?:[0-9a-fA-F]{2}){1,64})$/;
/** GitHub's delivery ids are GUIDs; anything printable and short is accepted, since it is only a key. */
const DELIVERY_PATTERN = /^[A-Za-z0-9._:-]{1,100}$/;

export type GithubWebhookSignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' };

/** Checks X-Hub-Signature-256 against every secret (all are tried, so timing tells nothing). */
export function verifyGithubWebhookSignature(rawBody: Uint8Array, header: HeaderValue, secrets: readonly string[]): GithubWebhookSignatureCheck {
  const value = singleHeader(header);
  if (value === undefined) return { ok: false, reason: 'missing' };
  if (value === null) return { ok: false, reason: 'malformed' };
  const match = SIGNATURE_PATTERN.exec(value.trim());
  if (match === null || match[1] === undefined) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(match[1], 'hex');
  let matched = false;
  for (const secret of secrets) {
    if (constantTimeEqual(given, createHmac('sha256', secret).update(rawBody).digest())) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: 'mismatch' };
}

/** What a sender computes: for tests and drills. */
export function signGithubWebhook(secret: string, rawBody: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** The delivery id (the replay key), or null when absent or not of a usable form. */
export function deliveryId(header: HeaderValue): string | null {
  const value = singleHeader(header);
  return typeof value === 'string' && DELIVERY_PATTERN.test(value) ? value : null;
}

/** The few fields of a `secret_scanning_alert` delivery that the rotator needs; the rest is ignored. */
const deliverySchema = z.object({
  action: z.string().max(64),
  alert: z.object({ number: z.int().positive(), secret_type: z.string().max(200).optional() }),
  repository: z.object({ full_name: z.string().regex(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/) }),
});

/** A delivery that names an exposed secret, or one to acknowledge and ignore (with why). */
export type SecretScanningDelivery =
  | { kind: 'leak'; action: string; owner: string; repo: string; number: number; alertId: string }
  | { kind: 'ignored'; why: 'other_event' | 'other_action' }
  | { kind: 'invalid' };

/**
 * Reads a verified delivery. The alert id (`github:<owner>/<repo>#<number>`) names the alert in
 * leak notices, job results and notifications, and is what resolving it after the rotation parses.
 */
export function parseSecretScanningDelivery(eventHeader: HeaderValue, rawBody: Uint8Array): SecretScanningDelivery {
  const event = singleHeader(eventHeader);
  if (event !== SECRET_SCANNING_EVENT) return { kind: 'ignored', why: 'other_event' };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(rawBody).toString('utf8'));
  } catch {
    return { kind: 'invalid' };
  }
  const parsed = deliverySchema.safeParse(json);
  if (!parsed.success) return { kind: 'invalid' };
  const { action, alert, repository } = parsed.data;
  if (!LEAK_ACTIONS.has(action)) return { kind: 'ignored', why: 'other_action' };
  const [owner = '', repo = ''] = repository.full_name.split('/');
  return { kind: 'leak', action, owner, repo, number: alert.number, alertId: githubAlertId(owner, repo, alert.number) };
}

export function githubAlertId(owner: string, repo: string, number: number): string {
  return `github:${owner}/${repo}#${number}`;
}

/** The alert an id names, or null for ids of other feeds. */
export function parseGithubAlertId(alertId: string): { owner: string; repo: string; number: number } | null {
  const match = /^github:([A-Za-z0-9_.-]{1,100})\/([A-Za-z0-9_.-]{1,100})#([1-9][0-9]{0,15})$/.exec(alertId);
  if (match === null || match[1] === undefined || match[2] === undefined || match[3] === undefined) return null;
  return { owner: match[1], repo: match[2], number: Number(match[3]) };
}
