/**
 * The GitHub secret_scanning_alert feed's parts: the X-Hub-Signature-256 check, reading a
 * delivery, the REST calls against a loopback fake with GitHub's recorded shapes, and resolving
 * answered alerts after a leak rotation (through the notifier, so with its retries).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GithubAlertsApi } from '../src/alerts/github-alerts-api.ts';
import {
  deliveryId,
  githubAlertId,
  parseGithubAlertId,
  parseSecretScanningDelivery,
  signGithubWebhook,
  verifyGithubWebhookSignature,
} from '../src/alerts/github-webhook.ts';
import { GithubAlertResolver } from '../src/notifications/github-alert-resolver.ts';
import { notificationsOfResult } from '../src/notifications/notification.ts';
import { Notifier, type DeliveryResult } from '../src/notifications/notifier.ts';
import { startGithubApiFake } from './helpers/github-api-fake.ts';

const SECRET = 'gh-webhook-secret-0123456789';
const TOKEN = 'ghs_test_installation_token';
const LITERAL = 'Leaked-Pa55word!xyz';

function delivery(action: string, number = 7, fullName = 'acme/payments'): Buffer {
  // Trimmed from GitHub's documented secret_scanning_alert payload.
  return Buffer.from(
    JSON.stringify({
      action,
      alert: { number, secret_type: 'acme_milvus_password', secret_type_display_name: 'Milvus password', state: 'open', resolution: null, html_url: 'https://github.com/acme/payments/security/secret-scanning/7', publicly_leaked: false },
      repository: { id: 1, full_name: fullName, private: true },
      organization: { login: 'acme' },
      sender: { login: 'github' },
    }),
  );
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('X-Hub-Signature-256', () => {
  const body = delivery('created');
  it('accepts the HMAC of the raw body under any configured secret', () => {
    expect(verifyGithubWebhookSignature(body, signGithubWebhook(SECRET, body), ['other-secret-0123456789', SECRET])).toEqual({ ok: true });
  });
  it.each([
    ['missing', undefined, 'missing'],
    ['not sha256=hex', 'sha1=abcd', 'malformed'],
    ['repeated', [signGithubWebhook(SECRET, body), signGithubWebhook(SECRET, body)], 'malformed'],
    ['of another secret', signGithubWebhook('wrong-secret-0123456789', body), 'mismatch'],
  ])('refuses a signature that is %s', (_what, header, reason) => {
    expect(verifyGithubWebhookSignature(body, header, [SECRET])).toEqual({ ok: false, reason });
  });
  it('refuses a body changed after signing (one byte)', () => {
    const signature = signGithubWebhook(SECRET, body);
    const changed = Buffer.from(body);
    const at = changed.length - 2;
    changed[at] = (changed[at] ?? 0) ^ 1;
    expect(verifyGithubWebhookSignature(changed, signature, [SECRET]).ok).toBe(false);
  });
});

describe('a secret_scanning_alert delivery', () => {
  it.each(['created', 'reopened', 'publicly_leaked'])('action %s names a leak, with an alert id that parses back', (action) => {
    const parsed = parseSecretScanningDelivery('secret_scanning_alert', delivery(action));
    expect(parsed).toEqual({ kind: 'leak', action, owner: 'acme', repo: 'payments', number: 7, alertId: 'github:acme/payments#7' });
    expect(parseGithubAlertId(githubAlertId('acme', 'payments', 7))).toEqual({ owner: 'acme', repo: 'payments', number: 7 });
  });
  it.each(['resolved', 'validated', 'assigned'])('action %s is acknowledged and ignored', (action) => {
    expect(parseSecretScanningDelivery('secret_scanning_alert', delivery(action))).toEqual({ kind: 'ignored', why: 'other_action' });
  });
  it('another event (ping, push) is acknowledged and ignored', () => {
    expect(parseSecretScanningDelivery('ping', Buffer.from('{"zen":"x"}'))).toEqual({ kind: 'ignored', why: 'other_event' });
  });
  it('a body that is not JSON, or lacks the alert number or repository, is invalid', () => {
    expect(parseSecretScanningDelivery('secret_scanning_alert', Buffer.from('{'))).toEqual({ kind: 'invalid' });
    expect(parseSecretScanningDelivery('secret_scanning_alert', Buffer.from('{"action":"created","alert":{},"repository":{"full_name":"a/b"}}'))).toEqual({ kind: 'invalid' });
    expect(parseSecretScanningDelivery('secret_scanning_alert', delivery('created', 7, '../../etc'))).toEqual({ kind: 'invalid' });
  });
  it('the delivery id is the replay key; absent or odd ones give none', () => {
    expect(deliveryId('72d3162e-cc78-11e3-81ab-4c9367dc0958')).toBe('72d3162e-cc78-11e3-81ab-4c9367dc0958');
    expect(deliveryId(undefined)).toBeNull();
    expect(deliveryId('has space')).toBeNull();
  });
  it('alert ids of other feeds are not GitHub alerts', () => {
    expect(parseGithubAlertId('a-1')).toBeNull();
    expect(parseGithubAlertId('github:acme/payments#0')).toBeNull();
  });
});

describe('GitHub REST calls (loopback fake)', () => {
  async function fake() {
    const f = await startGithubApiFake({ token: TOKEN });
    closers.push(f.close);
    f.addAlert('acme', 'payments', 7, LITERAL);
    return f;
  }

  it('reads the secret with the bearer token and the API version header', async () => {
    const f = await fake();
    const api = new GithubAlertsApi({ apiUrl: `${f.url}/`, token: TOKEN });
    expect(await api.readSecret({ owner: 'acme', repo: 'payments', number: 7 })).toEqual({ ok: true, secret: LITERAL });
    expect(f.calls[0]).toMatchObject({ method: 'GET', path: '/repos/acme/payments/secret-scanning/alerts/7' });
    expect(f.calls[0]?.headers['x-github-api-version']).toBe('2022-11-28');
    expect(f.calls[0]?.headers.accept).toBe('application/vnd.github+json');
  });

  it('says not_found, unauthorized, http_error and connection_error without any body text', async () => {
    const f = await fake();
    const api = new GithubAlertsApi({ apiUrl: f.url, token: TOKEN });
    expect(await api.readSecret({ owner: 'acme', repo: 'payments', number: 8 })).toEqual({ ok: false, status: 404, cause: 'not_found' });
    expect(await new GithubAlertsApi({ apiUrl: f.url, token: 'wrong' }).readSecret({ owner: 'acme', repo: 'payments', number: 7 })).toEqual({ ok: false, status: 401, cause: 'unauthorized' });
    f.failNext(502);
    expect(await api.readSecret({ owner: 'acme', repo: 'payments', number: 7 })).toEqual({ ok: false, status: 502, cause: 'http_error' });
    await f.close();
    closers.splice(0);
    expect(await api.readSecret({ owner: 'acme', repo: 'payments', number: 7 })).toMatchObject({ ok: false, status: null, cause: 'connection_error' });
  });

  it('resolves the answered GitHub alerts as revoked after a leak rotation, retrying a 503, and names the rotation, not the secret', async () => {
    const f = await fake();
    f.addAlert('acme', 'payments', 9, 'another-literal');
    f.failNext(503);
    const record: DeliveryResult[] = [];
    const notifier = new Notifier([new GithubAlertResolver(new GithubAlertsApi({ apiUrl: f.url, token: TOKEN }))], { baseDelayMs: 5, random: () => 1, onDelivery: (_s, _n, r) => record.push(r) });
    closers.push(() => notifier.close(1_000));
    const result = { credential: 'app', outcome: 'rotated' as const, reason: 'ok' as const, mode: 'leak' as const, rotationId: 'rot-abc', versionId: 'rot-abc', clusters: {}, durationMs: 10 };
    for (const n of notificationsOfResult(result, { alertIds: ['github:acme/payments#7', 'generic-1', 'github:acme/payments#9'], sources: ['github-webhook'], receiptToRevokedMs: 5 }, Date.now())) notifier.notify(n);
    const deadline = Date.now() + 5_000;
    while (!record.includes('delivered') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(record).toEqual(['retried', 'delivered']);
    expect(f.resolved().sort()).toEqual(['acme/payments#7', 'acme/payments#9']);
    const patches = f.calls.filter((c) => c.method === 'PATCH' && c.body !== '');
    expect(JSON.parse(patches.at(-1)?.body ?? '{}')).toMatchObject({ state: 'resolved', resolution: 'revoked' });
    expect(patches.every((p) => p.body.includes('rot-abc') && !p.body.includes(LITERAL))).toBe(true);
  });

  it('does nothing for rotations that did not rotate (no leak_rotated)', async () => {
    const f = await fake();
    const notifier = new Notifier([new GithubAlertResolver(new GithubAlertsApi({ apiUrl: f.url, token: TOKEN }))]);
    const result = { credential: 'app', outcome: 'needs_attention' as const, reason: 'leak_not_contained' as const, mode: 'leak' as const, rotationId: 'r', versionId: null, clusters: {}, durationMs: 1 };
    for (const n of notificationsOfResult(result, { alertIds: ['github:acme/payments#7'], sources: [], receiptToRevokedMs: null }, Date.now())) notifier.notify(n);
    await notifier.close(1_000);
    expect(f.calls).toHaveLength(0);
  });
});
