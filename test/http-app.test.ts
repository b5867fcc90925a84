/**
 * The HTTP app through inject(), no Redis: every route of docs/design.md section 7, every "Bad input" row
 * of issue 5 (each asserting the status, the body and that nothing was queued), the trigger
 * token's constant-time path, and replies and logs that hold no secret.
 *
 * The fakes are the app's seams (src/http/deps.ts): an enqueue that records its calls, the memory
 * replay guard, and a real FingerprintIndex over an in-memory SecretStore. The clock is fixed at
 * NOW_MS so timestamps are exact.
 */
import Fastify from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { createBearerVerifier } from '../src/http/bearer.ts';
import { createScopeErrorHandler } from '../src/http/errors.ts';
import { ecdsaSignatureR } from '../src/alerts/github-replay-key.ts';
import { GENERIC_BODY_LIMIT } from '../src/alerts/feeds/generic-feed.ts';
import { GITHUB_PARTNER_BODY_LIMIT } from '../src/alerts/feeds/github-partner-feed.ts';
import { rotationStatusOf, type RotationStatus } from '../src/http/rotation-status.ts';
import { findExposures } from './helpers/exposure.ts';
import {
  GITHUB_OTHER_KEY_ID,
  NOW_MS,
  NOW_SECONDS,
  TRIGGER_TOKENS,
  WEBHOOK_SECRETS,
  appHarness,
  githubSigner,
  sha256Hex,
  signedGeneric,
  signedGithub,
  twinSignature,
  type AppHarness,
} from './http-support.ts';

const bearer = (token: string = TRIGGER_TOKENS[0]) => ({ authorization: `Bearer ${token}` });
const UNAUTHORIZED = { error: 'unauthorized' };

async function postGeneric(h: AppHarness, body: unknown, options: { secret?: string; timestampSeconds?: number } = {}) {
  const signed = signedGeneric(body, { secret: options.secret ?? WEBHOOK_SECRETS[0], timestampSeconds: options.timestampSeconds ?? NOW_SECONDS });
  return h.app.inject({ method: 'POST', url: '/v1/leak-alerts', headers: signed.headers, payload: signed.payload });
}

describe('public scope', () => {
  it('GET /healthz answers 200 {status: ok}', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when Redis answers and the config is loaded', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { redis: true, config: true }, reasons: [] });
  });

  it('GET /readyz answers 503 when Redis does not answer, throws, or hangs', async () => {
    for (const redisReady of [async () => false, async () => Promise.reject(new Error('ECONNREFUSED')), () => new Promise<boolean>(() => {})]) {
      const h = await appHarness({ redisReady });
      const res = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: 'not_ready', checks: { redis: false, config: true }, reasons: ['redis_unreachable'] });
    }
  });

  it('GET /readyz answers 503 when the config is not loaded', async () => {
    const h = await appHarness({ configLoaded: () => false });
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'not_ready', checks: { redis: true, config: false }, reasons: ['config_not_loaded'] });
  });

  it("GET /readyz answers 503 with the process's reasons (first schedule sync pending, shutting down), after its own", async () => {
    const h = await appHarness({ redisReady: async () => false, notReady: () => ['schedules_not_synced', 'shutting_down'] });
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'not_ready', checks: { redis: false, config: true }, reasons: ['redis_unreachable', 'schedules_not_synced', 'shutting_down'] });
  });

  it('GET /metrics serves the registry as Prometheus text, leak-alert counters included', async () => {
    const h = await appHarness();
    await postGeneric(h, { credential: 'app-reader' }, { secret: 'not-a-configured-secret-000' });
    const res = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('milvus_rotator_leak_alerts_total{source="generic",result="unauthorized"} 1');
  });

  it('answers an unknown route with 404 {error: not_found} and no echo of the path', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'GET', url: '/v1/secret-path-marker' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found' });
  });
});

describe('trigger scope: POST /v1/rotations', () => {
  it('queues one credential in manual mode and answers 202 with its job id', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: bearer(), payload: { credential: 'app-reader' } });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ rotations: [{ credential: 'app-reader', jobId: '1' }] });
    expect(h.enqueued).toEqual([{ credentialId: 'app-reader', mode: 'manual', requestedBy: 'http:0' }]);
  });

  it('queues a list (duplicates once) and records which token asked', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: bearer(TRIGGER_TOKENS[1]), payload: { credentials: ['billing', 'app-reader', 'billing'] } });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ rotations: [{ credential: 'billing', jobId: '1' }, { credential: 'app-reader', jobId: '2' }] });
    expect(h.enqueued.map((e) => [e.credentialId, e.mode, e.requestedBy])).toEqual([
      ['billing', 'manual', 'http:1'],
      ['app-reader', 'manual', 'http:1'],
    ]);
  });

  it('queues every configured credential for {"all": true}', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: bearer(), payload: { all: true } });
    expect(res.statusCode).toBe(202);
    expect((res.json() as { rotations: { credential: string }[] }).rotations.map((r) => r.credential).sort()).toEqual(['app-reader', 'billing']);
    expect(h.enqueued).toHaveLength(2);
  });

  it('answers 503 without detail of the failure when the queue is down', async () => {
    const h = await appHarness({ enqueue: async () => Promise.reject(new Error('Stream isn\'t writeable: redis://secret-host')) });
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: bearer(), payload: { credential: 'app-reader' } });
    expect(res.statusCode).toBe(503);
    expect(res.body).not.toContain('secret-host');
    expect(res.body).not.toContain('at ');
  });

  describe('bad input (issue 5): the reply, and nothing queued', () => {
    const rows: { name: string; headers?: Record<string, string>; payload?: string | object; status: number; body?: object; detail?: RegExp }[] = [
      { name: 'no Authorization header', payload: { credential: 'app-reader' }, status: 401, body: UNAUTHORIZED },
      { name: 'a wrong token', headers: bearer('wrong-trigger-token-0123456789'), payload: { credential: 'app-reader' }, status: 401, body: UNAUTHORIZED },
      { name: 'a prefix of a right token', headers: bearer(TRIGGER_TOKENS[0].slice(0, -1)), payload: { credential: 'app-reader' }, status: 401, body: UNAUTHORIZED },
      { name: 'a right token with a suffix', headers: bearer(`${TRIGGER_TOKENS[0]}x`), payload: { credential: 'app-reader' }, status: 401, body: UNAUTHORIZED },
      { name: 'the Basic scheme', headers: { authorization: `Basic ${Buffer.from(`x:${TRIGGER_TOKENS[0]}`).toString('base64')}` }, payload: { credential: 'app-reader' }, status: 401, body: UNAUTHORIZED },
      { name: 'a token with no scheme', headers: { authorization: TRIGGER_TOKENS[0] }, payload: { credential: 'app-reader' }, status: 401, body: UNAUTHORIZED },
      { name: 'an unknown credential', headers: bearer(), payload: { credential: 'no-such-cred' }, status: 400, detail: /^credential is not a configured credential id; nothing was queued/ },
      { name: 'a list with one unknown credential', headers: bearer(), payload: { credentials: ['app-reader', 'ghost-1', 'billing'] }, status: 400, detail: /^1 of the 3 entries of credentials is not a configured credential id \(credentials\[1\]\); nothing was queued/ },
      { name: 'two ways at once', headers: bearer(), payload: { credential: 'app-reader', all: true }, status: 400 },
      { name: 'an empty object', headers: bearer(), payload: {}, status: 400 },
      { name: '{"all": false}', headers: bearer(), payload: { all: false }, status: 400 },
      { name: 'an empty list', headers: bearer(), payload: { credentials: [] }, status: 400 },
      { name: 'an unknown key', headers: bearer(), payload: { credential: 'app-reader', mode: 'leak' }, status: 400 },
      { name: 'a credential id that is not an id', headers: bearer(), payload: { credential: '../../etc/passwd' }, status: 400 },
      { name: 'a number for the credential', headers: bearer(), payload: { credential: 7 }, status: 400 },
      { name: 'a JSON array', headers: bearer(), payload: ['app-reader'], status: 400 },
      { name: 'malformed JSON', headers: { ...bearer(), 'content-type': 'application/json' }, payload: '{"credential": "app-reader"', status: 400, detail: /not valid JSON/ },
      { name: 'an empty JSON body', headers: { ...bearer(), 'content-type': 'application/json' }, payload: '', status: 400 },
      { name: 'a prototype-poisoning body', headers: { ...bearer(), 'content-type': 'application/json' }, payload: '{"credential":"app-reader","__proto__":{"all":true}}', status: 400 },
      { name: 'a body over 64 KiB', headers: bearer(), payload: { credentials: Array.from({ length: 7000 }, (_, i) => `credential-${i}`) }, status: 413, body: { error: 'payload_too_large' } },
      { name: 'an unauthenticated body over 64 KiB (401 before the body is read)', payload: { credentials: Array.from({ length: 7000 }, (_, i) => `credential-${i}`) }, status: 401, body: UNAUTHORIZED },
    ];
    for (const row of rows) {
      it(`${row.name}: ${row.status}`, async () => {
        const h = await appHarness();
        const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: row.headers ?? {}, payload: row.payload as string });
        expect(res.statusCode).toBe(row.status);
        if (row.body) expect(res.json()).toEqual(row.body);
        if (row.detail) expect((res.json() as { detail: string }).detail).toMatch(row.detail);
        if (row.status === 401) expect(res.headers['www-authenticate']).toBe('Bearer');
        expect(res.body).not.toContain(TRIGGER_TOKENS[0]);
        expect(h.enqueued).toEqual([]);
      });
    }
  });
});

const JOB_42 = '42424242-4242-4242-8242-424242424242';

describe('trigger scope: GET /v1/rotations/:jobId', () => {
  const status: RotationStatus = {
    jobId: JOB_42,
    credential: 'app-reader',
    state: 'completed',
    step: 'finish',
    outcome: 'rotated',
    reason: 'ok',
    clusters: { west: 'updated', east: 'updated' },
    versionId: '0b6d3a44-5c5e-4a33-9f44-6a4f1d7f7a11',
    durationMs: 812,
    leak: { alertIds: ['a-1'], sources: ['generic'], firstReceivedAt: NOW_MS, revokedAt: NOW_MS + 700, receiptToRevokedMs: 700 },
  };

  it('answers the job view, and the response schema drops anything else a reader returns', async () => {
    const reader = vi.fn(async (jobId: string) => (jobId === JOB_42 ? ({ ...status, password: 'Leaked-Passw0rd!xyz', data: { pp: 'x' } } as RotationStatus) : null));
    const h = await appHarness({ rotationStatus: reader });
    const res = await h.app.inject({ method: 'GET', url: `/v1/rotations/${JOB_42}`, headers: bearer() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(status);
    expect(res.body).not.toContain('Leaked-Passw0rd');
    expect(reader).toHaveBeenCalledWith(JOB_42);
  });

  it('answers an alternating rotation with which user is AWSCURRENT and AWSPREVIOUS, turns and roles aligned', async () => {
    const alternating = { currentUser: 'app_b', previousUser: 'app_a', turns: 1, rolesAligned: { user: 'app_b', granted: ['reader'], revoked: [] }, graceEndsAt: '2026-12-01T16:00:00.000Z' };
    const h = await appHarness({ rotationStatus: async () => ({ ...status, alternating: { ...alternating, extra: 'dropped' } as RotationStatus['alternating'] }) });
    const res = await h.app.inject({ method: 'GET', url: `/v1/rotations/${JOB_42}`, headers: bearer() });
    expect(res.json()).toEqual({ ...status, alternating });
  });

  it('reads the alternating part of a completed job\'s result, and drops what does not fit its schema', () => {
    const returned = {
      outcome: 'failed',
      reason: 'grace_not_elapsed',
      versionId: null,
      clusters: {},
      durationMs: 5,
      alternating: { currentUser: 'app_a', previousUser: 'app_b', turns: 0, notBefore: '2026-12-01T14:00:00.000Z', graceEndsAt: '2026-12-01T14:00:00.000Z', rolesDiffer: [] },
    };
    expect(rotationStatusOf('7', 'app', 'completed', { step: 'load' }, returned)).toMatchObject({
      outcome: 'failed',
      reason: 'grace_not_elapsed',
      alternating: { currentUser: 'app_a', previousUser: 'app_b', turns: 0, notBefore: '2026-12-01T14:00:00.000Z', graceEndsAt: '2026-12-01T14:00:00.000Z' },
    });
    expect(rotationStatusOf('7', 'app', 'completed', null, returned).alternating).not.toHaveProperty('rolesDiffer');
  });

  it('answers 404 for an unknown job, 401 without a token, 400 for an id that cannot be one', async () => {
    const h = await appHarness({ rotationStatus: async () => null });
    expect((await h.app.inject({ method: 'GET', url: '/v1/rotations/99999999-9999-4999-8999-999999999999', headers: bearer() })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'GET', url: `/v1/rotations/${JOB_42}` })).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: `/v1/rotations/${JOB_42}`, headers: bearer('wrong-token-0000000000000') })).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/v1/rotations/a%20b', headers: bearer() })).statusCode).toBe(400);
  });

  it("refuses ids that are not a rotation id (BullMQ's own keys, numbers, prototype names) with 400, before the reader is asked", async () => {
    const reader = vi.fn(async () => null);
    const h = await appHarness({ rotationStatus: reader });
    for (const id of ['events', 'id', 'completed', 'meta', 'wait', 'constructor', '__proto__', '42', 'repeat:x:1', 'ABCDEF42-4242-4242-8242-424242424242']) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/rotations/${id}`, headers: bearer() });
      expect(res.statusCode, id).toBe(400);
    }
    expect(reader).not.toHaveBeenCalled();
  });
});

describe('the trigger token check', () => {
  it('compares against every configured token, 32 bytes each, whether the first, the last or none matches', () => {
    const tokens = ['token-one-0000000000', 'token-two-00000000000000000000', 'token-three-0']; // different lengths
    const calls: number[][] = [];
    let current: number[] = [];
    const verify = createBearerVerifier(tokens, {
      compare: (given, expected) => {
        current.push(given.length, expected.length);
        return Buffer.from(given).equals(Buffer.from(expected));
      },
    });
    const headers = [`Bearer ${tokens[0]}`, `Bearer ${tokens[2]}`, 'Bearer wrong', undefined, 'Basic abc', `Bearer ${tokens[1]}x`];
    const results = headers.map((header) => {
      current = [];
      const result = verify(header);
      calls.push(current);
      return result;
    });
    expect(results).toEqual([{ ok: true, tokenIndex: 0 }, { ok: true, tokenIndex: 2 }, { ok: false }, { ok: false }, { ok: false }, { ok: false }]);
    for (const call of calls) expect(call).toEqual([32, 32, 32, 32, 32, 32]);
  });

  it('refuses everything when no token is configured', async () => {
    const verify = createBearerVerifier([]);
    expect(verify('Bearer anything-at-all-0000')).toEqual({ ok: false });
    expect(verify('Bearer ')).toEqual({ ok: false });
  });
});

describe('leak alerts: POST /v1/leak-alerts (generic)', () => {
  it('by credential id: queues that credential in leak mode with the alert id, source and receipt time', async () => {
    const h = await appHarness();
    const res = await postGeneric(h, { credential: 'billing', id: 'gg-123', source: 'gitguardian' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ rotations: [{ credential: 'billing', jobId: '1' }], matched: 1 });
    expect(h.enqueued).toEqual([
      { credentialId: 'billing', mode: 'leak', requestedBy: 'alert:gitguardian', alert: { alertId: 'gg-123', source: 'gitguardian', receivedAt: NOW_MS } },
    ]);
    expect(await h.alertCount('gitguardian', 'accepted')).toBe(1);
  });

  it('by username and cluster: every credential of that user on that cluster', async () => {
    const h = await appHarness();
    const res = await postGeneric(h, { username: 'app_reader', cluster: 'east' });
    expect(res.statusCode).toBe(202);
    expect((res.json() as { matched: number }).matched).toBe(1);
    expect(h.enqueued.map((e) => [e.credentialId, e.mode, e.alert?.source])).toEqual([['app-reader', 'leak', 'generic']]);
    expect(h.enqueued[0]?.alert?.alertId).toMatch(/^alert-[0-9a-f-]{36}$/);
  });

  it('by tokenSha256 of the password, and of user:password', async () => {
    const h = await appHarness();
    const password = h.passwords['app-reader'] as string;
    for (const token of [password, `app_reader:${password}`]) {
      const res = await postGeneric(h, { tokenSha256: sha256Hex(token).toUpperCase(), id: `t-${token.length}` });
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ rotations: [{ credential: 'app-reader', jobId: '1' }], matched: 1 });
    }
    expect(h.enqueued.map((e) => e.credentialId)).toEqual(['app-reader', 'app-reader']);
  });

  it('accepts an alert signed with the second webhook secret (secret rotation without dropped alerts)', async () => {
    const h = await appHarness();
    const res = await postGeneric(h, { credential: 'app-reader' }, { secret: WEBHOOK_SECRETS[1] });
    expect(res.statusCode).toBe(202);
    expect(h.enqueued).toHaveLength(1);
  });

  it('answers 202 with no rotation for an alert that names nothing of ours, and queues nothing', async () => {
    const h = await appHarness();
    for (const body of [{ credential: 'not-ours' }, { username: 'app_reader', cluster: 'nowhere' }, { tokenSha256: sha256Hex('some other password') }]) {
      const res = await postGeneric(h, body);
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ rotations: [], matched: 0 });
    }
    expect(h.enqueued).toEqual([]);
    expect(await h.alertCount('generic', 'unmatched')).toBe(3);
  });

  it('answers 503 and queues nothing when no webhook secret is configured', async () => {
    const base = await appHarness();
    const h = await appHarness({ config: { ...base.config, leakAlerts: { ...base.config.leakAlerts, webhookSecrets: [] } } });
    const res = await postGeneric(h, { credential: 'app-reader' });
    expect(res.statusCode).toBe(503);
    expect(h.enqueued).toEqual([]);
  });

  it('answers 503 and queues nothing when the replay guard is unavailable', async () => {
    const down = async (): Promise<never> => Promise.reject(new Error('redis down'));
    const h = await appHarness({ replayGuard: { firstSeen: down, claim: down } });
    const res = await postGeneric(h, { credential: 'app-reader' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: 'unavailable' });
    expect(h.enqueued).toEqual([]);
  });

  describe('bad input (issue 5): the reply, and nothing queued', () => {
    const body = Buffer.from(JSON.stringify({ credential: 'app-reader', id: 'bad-input' }));
    const good = () => signedGeneric(body, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS });
    const rows: { name: string; request: () => { headers: Record<string, string>; payload: Buffer | string }; status: number; result: string }[] = [
      { name: 'no signature headers', request: () => ({ headers: { 'content-type': 'application/json' }, payload: body }), status: 401, result: 'unauthorized' },
      { name: 'no timestamp', request: () => ({ headers: { ...good().headers, 'x-rotator-timestamp': '' }, payload: body }), status: 401, result: 'unauthorized' },
      { name: 'no signature', request: () => ({ headers: { 'content-type': 'application/json', 'x-rotator-timestamp': String(NOW_SECONDS) }, payload: body }), status: 401, result: 'unauthorized' },
      { name: 'a signature by an unknown secret', request: () => signedGeneric(body, { secret: 'some-other-secret-0123456789', timestampSeconds: NOW_SECONDS }), status: 401, result: 'unauthorized' },
      { name: 'a malformed signature header', request: () => ({ headers: { ...good().headers, 'x-rotator-signature': 'md5=abc' }, payload: body }), status: 401, result: 'unauthorized' },
      { name: 'a truncated signature', request: () => ({ headers: { ...good().headers, 'x-rotator-signature': (good().headers['x-rotator-signature'] as string).slice(0, -2) }, payload: body }), status: 401, result: 'unauthorized' },
      { name: 'a tampered body', request: () => ({ headers: good().headers, payload: Buffer.from(JSON.stringify({ credential: 'billing', id: 'bad-input' })) }), status: 401, result: 'unauthorized' },
      { name: 'the same body re-serialized (whitespace)', request: () => ({ headers: good().headers, payload: Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 1)) }), status: 401, result: 'unauthorized' },
      { name: 'a timestamp changed after signing', request: () => ({ headers: { ...good().headers, 'x-rotator-timestamp': String(NOW_SECONDS + 1) }, payload: body }), status: 401, result: 'unauthorized' },
      { name: 'a stale timestamp (301 s old, correctly signed)', request: () => signedGeneric(body, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS - 301 }), status: 401, result: 'unauthorized' },
      { name: 'a timestamp from the future (301 s ahead, correctly signed)', request: () => signedGeneric(body, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS + 301 }), status: 401, result: 'unauthorized' },
      { name: 'malformed JSON, unsigned (the signature is checked before anything parses)', request: () => ({ headers: { 'content-type': 'application/json' }, payload: '{"credential": "app-reader"' }), status: 401, result: 'unauthorized' },
      { name: 'malformed JSON, correctly signed', request: () => signedGeneric('{"credential": "app-reader"', { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS }), status: 400, result: 'invalid' },
      { name: 'invalid UTF-8, correctly signed', request: () => signedGeneric(Buffer.from([0x7b, 0xff, 0x7d]), { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS }), status: 400, result: 'invalid' },
      { name: 'two ways of naming the leak, correctly signed', request: () => signedGeneric({ credential: 'app-reader', username: 'app_reader', cluster: 'west' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS }), status: 400, result: 'invalid' },
      { name: 'an unknown key, correctly signed', request: () => signedGeneric({ credential: 'app-reader', password: 'hunter2hunter2' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS }), status: 400, result: 'invalid' },
      { name: 'a bad tokenSha256, correctly signed', request: () => signedGeneric({ tokenSha256: 'abc' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS }), status: 400, result: 'invalid' },
      { name: 'a JSON array, correctly signed', request: () => signedGeneric([{ credential: 'app-reader' }], { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS }), status: 400, result: 'invalid' },
      { name: 'a body over 64 KiB, correctly signed', request: () => signedGeneric({ credential: 'app-reader', url: 'x'.repeat(GENERIC_BODY_LIMIT) }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS }), status: 413, result: 'too_large' },
      { name: 'a body over 64 KiB, unsigned', request: () => ({ headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(GENERIC_BODY_LIMIT + 1, 0x41) }), status: 413, result: 'too_large' },
    ];
    for (const row of rows) {
      it(`${row.name}: ${row.status}`, async () => {
        const h = await appHarness();
        const { headers, payload } = row.request();
        const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts', headers, payload });
        expect(res.statusCode).toBe(row.status);
        if (row.status === 401) expect(res.json()).toEqual(UNAUTHORIZED); // the same body whatever failed
        if (row.status === 413) expect(res.json()).toEqual({ error: 'payload_too_large' });
        if (row.status === 400) expect(res.body).not.toContain('app-reader');
        expect(h.enqueued).toEqual([]);
        expect(await h.alertCount('generic', row.result)).toBe(1);
      });
    }

    it('a replayed signature: the first delivery is queued, the second answered 401 and not queued', async () => {
      const h = await appHarness();
      const signed = good();
      const first = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts', headers: signed.headers, payload: signed.payload });
      expect(first.statusCode).toBe(202);
      const again = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts', headers: signed.headers, payload: signed.payload });
      expect(again.statusCode).toBe(401);
      expect(again.json()).toEqual(UNAUTHORIZED);
      const upper = await h.app.inject({
        method: 'POST',
        url: '/v1/leak-alerts',
        headers: { ...signed.headers, 'x-rotator-signature': `sha256=${(signed.headers['x-rotator-signature'] as string).slice(7).toUpperCase()}` },
        payload: signed.payload,
      });
      expect(upper.statusCode).toBe(401);
      expect(h.enqueued).toHaveLength(1);
      expect(await h.alertCount('generic', 'replayed')).toBe(2);
    });
  });
});

describe('leak alerts: POST /v1/leak-alerts/github', () => {
  const match = (token: string, type = 'milvus_password') => ({ token, type, url: 'https://github.com/o/r/blob/abc/config.yaml', source: 'content' });

  it('matched: queues the credential in leak mode and answers 200 with the hash of matched tokens only, never a token', async () => {
    const h = await appHarness();
    const leaked = h.passwords['app-reader'] as string;
    const signed = signedGithub([match('not-ours-0000000000'), match(`app_reader:${leaked}`), match(leaked, 'milvus_token')], h.github);
    const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: signed.headers, payload: signed.payload });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([
      { token_hash: sha256Hex(`app_reader:${leaked}`), token_type: 'milvus_password', label: 'true_positive' },
      { token_hash: sha256Hex(leaked), token_type: 'milvus_token', label: 'true_positive' },
    ]);
    expect(findExposures([res.body], [leaked], ['app_reader'])).toEqual([]);
    expect(h.enqueued).toHaveLength(1);
    expect(h.enqueued[0]).toMatchObject({ credentialId: 'app-reader', mode: 'leak', requestedBy: 'alert:github', alert: { source: 'github', receivedAt: NOW_MS } });
    expect(await h.alertCount('github', 'accepted')).toBe(1);
  });

  it('unmatched: answers 200 [] and queues nothing', async () => {
    const h = await appHarness();
    const signed = signedGithub([match('ghp_notoursnotoursnotours'), match('')].slice(0, 1), h.github);
    const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: signed.headers, payload: signed.payload });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([]);
    expect(h.enqueued).toEqual([]);
    expect(await h.alertCount('github', 'unmatched')).toBe(1);
  });

  it('accepts a batch over 64 KiB (GitHub batches up to 1,000 matches) and refuses one over 1 MiB with 413', async () => {
    const h = await appHarness();
    const batch = Array.from({ length: 1000 }, (_, i) => match(`unrelated-token-${i}-${'x'.repeat(40)}`));
    const signed = signedGithub(batch, h.github);
    expect(signed.payload.length).toBeGreaterThan(GENERIC_BODY_LIMIT);
    const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: signed.headers, payload: signed.payload });
    expect(res.statusCode).toBe(200);
    const huge = signedGithub(Array.from({ length: 1000 }, (_, i) => match(`t-${i}-${'y'.repeat(1100)}`)), h.github);
    expect(huge.payload.length).toBeGreaterThan(GITHUB_PARTNER_BODY_LIMIT);
    const tooLarge = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: huge.headers, payload: huge.payload });
    expect(tooLarge.statusCode).toBe(413);
    expect(h.enqueued).toEqual([]);
  });

  it('acknowledges a replayed delivery, and its malleable twin signature, with 200 [] and queues nothing more', async () => {
    const h = await appHarness();
    const signed = signedGithub([match(h.passwords.billing as string)], h.github);
    const first = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: signed.headers, payload: signed.payload });
    expect(first.statusCode).toBe(200);
    expect(h.enqueued).toHaveLength(1);
    const twin = twinSignature(signed.headers['github-public-key-signature'] as string);
    expect(twin).not.toBe(signed.headers['github-public-key-signature']);
    expect(ecdsaSignatureR(Buffer.from(twin, 'base64'))).toBe(ecdsaSignatureR(Buffer.from(signed.headers['github-public-key-signature'] as string, 'base64')));
    for (const signature of [signed.headers['github-public-key-signature'] as string, twin]) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: { ...signed.headers, 'github-public-key-signature': signature }, payload: signed.payload });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual([]);
    }
    expect(h.enqueued).toHaveLength(1);
    expect(await h.alertCount('github', 'replayed')).toBe(2);
  });

  it('answers 503 and queues nothing when no GitHub keys are loaded', async () => {
    const h = await appHarness({ githubKeys: null });
    const signed = signedGithub([match('whatever-token')], h.github);
    const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: signed.headers, payload: signed.payload });
    expect(res.statusCode).toBe(503);
    expect(h.enqueued).toEqual([]);
  });

  describe('bad input (issue 5): the reply, and nothing queued', () => {
    const rows: { name: string; request: (h: AppHarness) => { headers: Record<string, string>; payload: Buffer }; status: number; result: string }[] = [
      { name: 'no signature headers', request: (h) => ({ headers: { 'content-type': 'application/json' }, payload: signedGithub([match(h.passwords.billing as string)], h.github).payload }), status: 401, result: 'unauthorized' },
      {
        name: 'a wrong key identifier',
        request: (h) => {
          const signed = signedGithub([match(h.passwords.billing as string)], h.github);
          return { headers: { ...signed.headers, 'github-public-key-identifier': GITHUB_OTHER_KEY_ID }, payload: signed.payload };
        },
        status: 401,
        result: 'unauthorized',
      },
      {
        name: 'a tampered body',
        request: (h) => {
          const signed = signedGithub([match('ghp_innocent_token_000000')], h.github);
          return { headers: signed.headers, payload: Buffer.from(JSON.stringify([match(h.passwords.billing as string)])) };
        },
        status: 401,
        result: 'unauthorized',
      },
      { name: 'a signature by another key under our key id', request: (h) => signedGithub([match(h.passwords.billing as string)], { keyId: h.github.keyId, privateKey: githubSigner().privateKey }), status: 401, result: 'unauthorized' },
      {
        name: 'a signature that is not base64',
        request: (h) => {
          const signed = signedGithub([match(h.passwords.billing as string)], h.github);
          return { headers: { ...signed.headers, 'github-public-key-signature': '!!not base64!!' }, payload: signed.payload };
        },
        status: 401,
        result: 'unauthorized',
      },
      { name: 'malformed JSON, correctly signed', request: (h) => signedGithub('[{"token": "x"', h.github), status: 400, result: 'invalid' },
      { name: 'an object instead of an array, correctly signed', request: (h) => signedGithub({ token: 'abc', type: 't', url: '', source: 'npm' }, h.github), status: 400, result: 'invalid' },
      { name: 'an empty array, correctly signed', request: (h) => signedGithub([], h.github), status: 400, result: 'invalid' },
      { name: 'a match without a token, correctly signed', request: (h) => signedGithub([{ type: 't', url: '', source: 'npm' }], h.github), status: 400, result: 'invalid' },
    ];
    for (const row of rows) {
      it(`${row.name}: ${row.status}`, async () => {
        const h = await appHarness();
        const { headers, payload } = row.request(h);
        const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers, payload });
        expect(res.statusCode).toBe(row.status);
        if (row.status === 401) expect(res.json()).toEqual(UNAUTHORIZED);
        expect(findExposures([res.body], Object.values(h.passwords))).toEqual([]);
        expect(h.enqueued).toEqual([]);
        expect(await h.alertCount('github', row.result)).toBe(1);
      });
    }
  });
});

describe('secrets stay out of replies and logs', () => {
  it('no reply or log line of a mixed session holds a password, token, secret or alert body', async () => {
    const h = await appHarness();
    const password = h.passwords['app-reader'] as string;
    const replies: string[] = [];
    const keep = (res: { body: string; headers: Record<string, unknown> }) => replies.push(res.body, JSON.stringify(res.headers));
    const marker = 'body-marker-7f3a9c';
    keep(await postGeneric(h, { credential: 'app-reader', id: 'alert-id-1', url: `https://leaks.example/${marker}` }));
    keep(await postGeneric(h, { tokenSha256: sha256Hex(password), url: `https://example.com/${marker}` }));
    keep(await postGeneric(h, `{"credential": "${marker}`));
    keep(await postGeneric(h, { credential: 'app-reader', url: marker }, { secret: 'wrong-secret-00000000000000' }));
    const gh = signedGithub([{ token: password, type: 't', url: `https://github.com/${marker}`, source: 'content' }], h.github);
    keep(await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: gh.headers, payload: gh.payload }));
    keep(await h.app.inject({ method: 'POST', url: '/v1/leak-alerts/github', headers: { ...gh.headers, 'github-public-key-identifier': 'nope' }, payload: gh.payload }));
    keep(await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: bearer(), payload: { credential: 'app-reader' } }));
    keep(await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: bearer(`${TRIGGER_TOKENS[1]}0`), payload: { credential: 'app-reader' } }));
    keep(await h.app.inject({ method: 'GET', url: '/metrics' }));

    const secrets = [...Object.values(h.passwords), ...TRIGGER_TOKENS, ...WEBHOOK_SECRETS];
    expect(findExposures(replies, secrets, ['app_reader', 'billing_svc'])).toEqual([]);
    expect(findExposures(h.logs, secrets, ['app_reader', 'billing_svc'])).toEqual([]);
    expect(h.logs.join('')).not.toContain(marker.slice(0, 12));
    expect(h.logs.join('')).not.toContain(sha256Hex(password));
    expect(h.logs.length).toBeGreaterThan(10);
  });

  it('an unexpected error becomes 500 {error: internal_error}: no stack, no message, no echo', async () => {
    const app = Fastify();
    app.setErrorHandler(createScopeErrorHandler({ exposeValidation: false }));
    app.post('/boom', async (request) => {
      throw new Error(`failed on ${JSON.stringify(request.body)} with Secret-Value-123`);
    });
    const res = await app.inject({ method: 'POST', url: '/boom', payload: { leaked: 'Secret-Value-123' } });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal_error' });
  });

});
