/**
 * The README's HTTP error contract, route by route where it is easy to get wrong: the reply shape
 * `{"error": code, "detail"?}`, 415 for a trigger body that is not JSON (`text/plain` too), and
 * nothing queued for any of them.
 */
import { describe, expect, it } from 'vitest';
import { NOW_SECONDS, TRIGGER_TOKENS, WEBHOOK_SECRETS, appHarness, signedGeneric } from './http-support.ts';

const bearer = { authorization: `Bearer ${TRIGGER_TOKENS[0]}` };
const JSON_BODY = JSON.stringify({ credential: 'app-reader' });

describe('POST /v1/rotations error replies', () => {
  it('any body that is not application/json, text/plain included: 415 {"error":"unsupported_media_type"}, nothing queued', async () => {
    const h = await appHarness();
    // A form is what `curl -d` sends without a Content-Type; text/plain is what some clients default to.
    for (const contentType of ['application/x-www-form-urlencoded', 'application/octet-stream', 'text/plain', 'text/plain; charset=utf-8', 'TEXT/PLAIN', 'application/xml']) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': contentType }, payload: JSON_BODY });
      expect(res.statusCode, contentType).toBe(415);
      expect(res.json(), contentType).toEqual({ error: 'unsupported_media_type' });
    }
    expect(h.enqueued).toEqual([]);
  });

  it('the same body as application/json is queued (the 415 is about the media type only)', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': 'application/json; charset=utf-8' }, payload: JSON_BODY });
    expect(res.statusCode).toBe(202);
    expect(h.enqueued.map((e) => e.credentialId)).toEqual(['app-reader']);
  });

  it('an unknown credential: 400 that says where, not what, and that nothing was queued', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': 'application/json' }, payload: JSON.stringify({ credential: 'nope' }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'bad_request',
      detail: 'credential is not a configured credential id; nothing was queued; ids are not repeated in replies, `milvus-rotator status` lists the configured ones',
    });
    expect(h.enqueued).toEqual([]);
  });

  it('a list with unknown ids: 400 counting them and naming their positions (at most 10), never the ids', async () => {
    const h = await appHarness();
    const credentials = ['app-reader', ...Array.from({ length: 12 }, (_, i) => `${CANARY}-${i}`), 'billing', `${CANARY}-0`];
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': 'application/json' }, payload: JSON.stringify({ credentials }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'bad_request',
      detail:
        '13 of the 15 entries of credentials are not configured credential ids (credentials[1], credentials[2], credentials[3], credentials[4], credentials[5], credentials[6], credentials[7], credentials[8], credentials[9], credentials[10] and 3 more); nothing was queued; ids are not repeated in replies, `milvus-rotator status` lists the configured ones',
    });
    expect(h.enqueued).toEqual([]);
    // Not in the log either: the access line and the refusal carry counts.
    expect(h.logs.join('')).not.toContain(CANARY);
  });
});

/**
 * Text a client could paste by mistake (a password where an id goes) in every part of a request
 * that reaches a 4xx: no reply body or header, and no log line, holds it. It matches the id
 * pattern, so it gets past the schema wherever an id is expected.
 */
const CANARY = 'Pasted-Passw0rd-Canary';

describe('no 4xx reply repeats what the client sent', () => {
  const json = { ...bearer, 'content-type': 'application/json' };
  const rows: { name: string; method?: 'GET' | 'POST'; url: string; headers: Record<string, string>; payload?: string | Buffer; status: number }[] = [
    { name: 'trigger: an unknown credential', url: '/v1/rotations', headers: json, payload: JSON.stringify({ credential: CANARY }), status: 400 },
    { name: 'trigger: unknown credentials in a list', url: '/v1/rotations', headers: json, payload: JSON.stringify({ credentials: ['app-reader', CANARY, `${CANARY}2`] }), status: 400 },
    { name: 'trigger: a credential that is not an id', url: '/v1/rotations', headers: json, payload: JSON.stringify({ credential: `${CANARY} !` }), status: 400 },
    { name: 'trigger: a list entry that is not an id', url: '/v1/rotations', headers: json, payload: JSON.stringify({ credentials: ['app-reader', `${CANARY} !`] }), status: 400 },
    { name: 'trigger: an unknown key', url: '/v1/rotations', headers: json, payload: JSON.stringify({ credential: 'app-reader', [CANARY]: CANARY }), status: 400 },
    { name: 'trigger: a wrong value for all', url: '/v1/rotations', headers: json, payload: JSON.stringify({ all: CANARY }), status: 400 },
    { name: 'trigger: malformed JSON', url: '/v1/rotations', headers: json, payload: `{"credential": "${CANARY}`, status: 400 },
    { name: 'trigger: text/plain', url: '/v1/rotations', headers: { ...bearer, 'content-type': 'text/plain' }, payload: CANARY, status: 415 },
    { name: 'trigger: a media type of its own', url: '/v1/rotations', headers: { ...bearer, 'content-type': `application/${CANARY}` }, payload: CANARY, status: 415 },
    { name: 'trigger: a body over the limit', url: '/v1/rotations', headers: json, payload: JSON.stringify({ credential: CANARY.repeat(4000) }), status: 413 },
    { name: 'trigger: a wrong token', url: '/v1/rotations', headers: { authorization: `Bearer ${CANARY}`, 'content-type': 'application/json' }, payload: JSON.stringify({ credential: 'app-reader' }), status: 401 },
    { name: 'status: a job id that is not one', method: 'GET', url: `/v1/rotations/${CANARY}`, headers: bearer, status: 400 },
    { name: 'status: a query string', method: 'GET', url: `/v1/rotations/${CANARY}?${CANARY}=${CANARY}`, headers: bearer, status: 400 },
    { name: 'an unknown route', url: `/v1/${CANARY}?${CANARY}`, headers: { ...bearer, 'content-type': 'text/plain' }, payload: CANARY, status: 404 },
    { name: 'an unknown route, a body that is not JSON', url: `/v1/${CANARY}`, headers: json, payload: CANARY, status: 400 },
    { name: 'generic alert: unsigned', url: '/v1/leak-alerts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ credential: CANARY }), status: 401 },
    { name: 'generic alert: an unknown key', url: '/v1/leak-alerts', ...signed({ credential: 'app-reader', [CANARY]: CANARY }), status: 400 },
    { name: 'generic alert: an id that is not printable', url: '/v1/leak-alerts', ...signed({ credential: 'app-reader', id: `${CANARY}\u0001` }), status: 400 },
    { name: 'generic alert: a credential that is not an id', url: '/v1/leak-alerts', ...signed({ credential: `${CANARY} !` }), status: 400 },
    { name: 'generic alert: malformed JSON', url: '/v1/leak-alerts', ...signed(`{"credential": "${CANARY}`), status: 400 },
    { name: 'GitHub partner: unsigned', url: '/v1/leak-alerts/github', headers: { 'content-type': 'application/json' }, payload: JSON.stringify([{ token: CANARY, type: 't', url: '', source: 'content' }]), status: 401 },
  ];
  for (const row of rows) {
    it(`${row.name}: ${row.status}, no echo`, async () => {
      const h = await appHarness();
      const res = await h.app.inject({ method: row.method ?? 'POST', url: row.url, headers: row.headers, ...(row.payload === undefined ? {} : { payload: row.payload }) });
      expect(res.statusCode).toBe(row.status);
      expect(Object.keys(res.json() as object).every((key) => key === 'error' || key === 'detail')).toBe(true);
      expect(res.body).not.toContain(CANARY);
      expect(JSON.stringify(res.headers)).not.toContain(CANARY);
      expect(h.logs.join('')).not.toContain(CANARY);
      expect(h.enqueued).toEqual([]);
    });
  }
});

function signed(body: unknown): { headers: Record<string, string>; payload: Buffer } {
  return signedGeneric(body, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS });
}

describe('leak alert routes and the Content-Type', () => {
  it('take any Content-Type, text/plain or none (the signature covers the raw bytes): a signed alert is processed, never 415', async () => {
    const h = await appHarness();
    for (const [i, contentType] of ['text/plain', 'application/octet-stream', undefined].entries()) {
      const signed = signedGeneric({ credential: 'app-reader', id: `ct-${i}` }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS });
      const headers: Record<string, string> = { ...signed.headers };
      if (contentType === undefined) delete headers['content-type'];
      else headers['content-type'] = contentType;
      const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts', headers, payload: signed.payload });
      expect(res.statusCode, String(contentType)).toBe(202);
    }
    expect(h.enqueued.map((e) => e.credentialId)).toEqual(['app-reader', 'app-reader', 'app-reader']);
  });
});
