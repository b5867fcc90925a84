/**
 * The leak-feed pipeline (src/http/leak-feed-routes.ts) with a fake feed of one file, and the
 * GitHub secret_scanning_alert webhook feed through the whole app against a loopback fake of
 * GitHub's REST API. No Redis: the memory replay guard and a recording enqueue.
 */
import rateLimit from '@fastify/rate-limit';
import Fastify from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { signGithubWebhook } from '../src/alerts/github-webhook.ts';
import { FEED_NAME, type LeakFeed } from '../src/alerts/leak-feed.ts';
import { MemoryReplayGuard } from '../src/alerts/replay-guard.ts';
import { leakFeedRoutes } from '../src/http/leak-feed-routes.ts';
import type { Notification } from '../src/notifications/notification.ts';
import { RotatorMetrics } from '../src/observability/metrics.ts';
import type { EnqueueRequest } from '../src/queue/rotation-queue.ts';
import { startGithubApiFake } from './helpers/github-api-fake.ts';
import { NOW_MS, appHarness, makeHttpConfig } from './http-support.ts';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('the leak-feed pipeline, with a fake feed', () => {
  /** Signed when the `x-fake-signature` header is "good"; the body is a credential id; replay key = the body. */
  const fakeFeed: LeakFeed<{ id: string }> = {
    name: FEED_NAME.generic,
    route: '/fake',
    bodyLimit: 1024,
    replySchemas: { 202: {} },
    unavailable: () => null,
    verify: (request) => (request.headers['x-fake-signature'] === 'good' ? { ok: true, verified: { id: request.rawBody.toString() } } : { ok: false, reason: 'mismatch' }),
    replay: (verified) => ({ key: `fake:${verified.id}`, ttlSeconds: 60, reply: { status: 208, body: { replayed: true } } }),
    read: async (_request, verified) => ({ kind: 'alert', alertId: `fake-${verified.id}`, claims: [{ by: 'credential', credential: verified.id }] }),
    answer: (outcomes, rotations) => ({ status: 202, body: { outcomes: outcomes.map((o) => o.credentials), rotations } }),
  };

  async function pipeline(enqueue: (request: EnqueueRequest) => Promise<void>) {
    const base = makeHttpConfig();
    const app = Fastify();
    await app.register(rateLimit, { global: false });
    await app.register(
      leakFeedRoutes(
        {
          config: base,
          logger: pino({ level: 'silent' }),
          metrics: new RotatorMetrics({ defaultMetrics: false }),
          redisReady: async () => true,
          enqueue: async (request) => {
            await enqueue(request);
            return { credentialId: request.credentialId, jobId: `job-${request.credentialId}`, deduplicated: false, mode: request.mode };
          },
          rotationStatus: async () => null,
          replayGuard: new MemoryReplayGuard({ nowMs: () => NOW_MS }),
          fingerprints: { match: async () => [], matchToken: async () => [] },
          githubKeys: null,
        },
        [fakeFeed as LeakFeed<unknown>],
      ),
    );
    closers.push(() => app.close());
    return app;
  }
  const post = (app: Awaited<ReturnType<typeof pipeline>>, signature: string, body = 'app-reader') =>
    app.inject({ method: 'POST', url: '/fake', headers: { 'content-type': 'text/plain', 'x-fake-signature': signature }, payload: body });

  it('a bad signature gets 401 and queues nothing', async () => {
    const queued: EnqueueRequest[] = [];
    const app = await pipeline(async (r) => void queued.push(r));
    expect((await post(app, 'bad')).statusCode).toBe(401);
    expect(queued).toEqual([]);
  });

  it('queues a leak rotation with the feed alert id, then answers a replay with the feed replay reply and queues nothing more', async () => {
    const queued: EnqueueRequest[] = [];
    const app = await pipeline(async (r) => void queued.push(r));
    const first = await post(app, 'good');
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ outcomes: [['app-reader']], rotations: [{ credential: 'app-reader', jobId: 'job-app-reader' }] });
    expect(queued).toMatchObject([{ credentialId: 'app-reader', mode: 'leak', alert: { alertId: 'fake-app-reader', source: 'generic' } }]);
    const again = await post(app, 'good');
    expect(again.statusCode).toBe(208);
    expect(queued).toHaveLength(1);
  });

  it('a failed enqueue answers 503 and leaves the delivery retriable: the retry is processed', async () => {
    let fail = true;
    const queued: EnqueueRequest[] = [];
    const app = await pipeline(async (r) => {
      if (fail) throw new Error('queue down');
      queued.push(r);
    });
    expect((await post(app, 'good')).statusCode).toBe(503);
    fail = false;
    expect((await post(app, 'good')).statusCode).toBe(202);
    expect(queued).toHaveLength(1);
  });
});

describe('POST /v1/leak-alerts/github-webhook (secret_scanning_alert)', () => {
  const SECRET = 'gh-webhook-secret-0123456789';
  const TOKEN = 'ghs_installation_token_for_tests';

  async function harness(options: { configured?: boolean } = {}) {
    const api = await startGithubApiFake({ token: TOKEN });
    closers.push(api.close);
    const base = makeHttpConfig();
    const config = options.configured === false ? base : { ...base, leakAlerts: { ...base.leakAlerts, githubWebhook: { secrets: [SECRET], apiUrl: api.url, token: TOKEN, resolveAlerts: false } } };
    const notified: Notification[] = [];
    const h = await appHarness({ config, notifier: { notify: (n) => void notified.push(n) } });
    closers.push(() => h.app.close());
    return { ...h, api, notified };
  }

  const delivery = (action: string, number = 7) =>
    Buffer.from(JSON.stringify({ action, alert: { number, secret_type: 'acme_milvus', state: 'open' }, repository: { full_name: 'acme/payments' }, sender: { login: 'github' } }));
  const post = (h: Awaited<ReturnType<typeof harness>>, body: Buffer, headers: Record<string, string> = {}) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/leak-alerts/github-webhook',
      headers: { 'content-type': 'application/json', 'x-github-event': 'secret_scanning_alert', 'x-github-delivery': 'd-1', 'x-hub-signature-256': signGithubWebhook(SECRET, body), ...headers },
      payload: body,
    });

  it('a created alert whose secret is a credential password queues a leak rotation for it', async () => {
    const h = await harness();
    h.api.addAlert('acme', 'payments', 7, h.passwords['app-reader'] as string);
    const reply = await post(h, delivery('created'));
    expect(reply.statusCode).toBe(202);
    expect(reply.json()).toEqual({ rotations: [{ credential: 'app-reader', jobId: '1' }], matched: 1 });
    expect(h.enqueued).toMatchObject([{ credentialId: 'app-reader', mode: 'leak', alert: { alertId: 'github:acme/payments#7', source: 'github_webhook' } }]);
    expect(h.api.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /repos/acme/payments/secret-scanning/alerts/7']);
    expect(h.logs.join('\n')).not.toContain(h.passwords['app-reader']);
    expect(reply.payload).not.toContain(h.passwords['app-reader']);
    expect(await h.alertCount('github_webhook', 'accepted')).toBe(1);
  });

  it('a bad signature gets 401: no REST call, nothing queued', async () => {
    const h = await harness();
    const reply = await post(h, delivery('created'), { 'x-hub-signature-256': signGithubWebhook('another-secret-0123456789', delivery('created')) });
    expect(reply.statusCode).toBe(401);
    expect(h.api.calls).toEqual([]);
    expect(h.enqueued).toEqual([]);
  });

  it('another event or action is acknowledged with 202 and ignored', async () => {
    const h = await harness();
    expect((await post(h, Buffer.from('{"zen":"Keep it simple."}'), { 'x-github-event': 'ping', 'x-github-delivery': 'd-ping' })).json()).toEqual({ ignored: 'not a secret_scanning_alert event' });
    const resolved = await post(h, delivery('resolved'), { 'x-github-delivery': 'd-resolved' });
    expect(resolved.statusCode).toBe(202);
    expect(resolved.json()).toEqual({ ignored: 'not a leak action' });
    expect(h.enqueued).toEqual([]);
    expect(h.api.calls).toEqual([]);
  });

  it('the REST call failing answers 503, and the redelivery (same X-GitHub-Delivery) is processed', async () => {
    const h = await harness();
    h.api.addAlert('acme', 'payments', 7, h.passwords.billing as string);
    h.api.failNext(502);
    expect((await post(h, delivery('reopened'))).statusCode).toBe(503);
    expect(h.enqueued).toEqual([]);
    const redelivered = await post(h, delivery('reopened'));
    expect(redelivered.statusCode).toBe(202);
    expect(h.enqueued).toMatchObject([{ credentialId: 'billing' }]);
    // And a copy after success is acknowledged without effect.
    const copy = await post(h, delivery('reopened'));
    expect(copy.statusCode).toBe(202);
    expect(copy.json()).toEqual({ ignored: 'already processed' });
    expect(h.enqueued).toHaveLength(1);
  });

  it('a literal that matches nothing is acknowledged, queues nothing and notifies alert_unmatched', async () => {
    const h = await harness();
    h.api.addAlert('acme', 'payments', 7, 'Not-One-Of-Ours-123!');
    const reply = await post(h, delivery('publicly_leaked'));
    expect(reply.statusCode).toBe(202);
    expect(reply.json()).toEqual({ rotations: [], matched: 0 });
    expect(h.enqueued).toEqual([]);
    expect(h.notified).toMatchObject([{ event: 'alert_unmatched', alertIds: ['github:acme/payments#7'], sources: ['github_webhook'] }]);
  });

  it('answers 503 when the webhook is not configured', async () => {
    const h = await harness({ configured: false });
    expect((await post(h, delivery('created'))).statusCode).toBe(503);
    expect(h.enqueued).toEqual([]);
  });
});
