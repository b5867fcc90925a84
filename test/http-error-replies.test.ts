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

  it('an unknown credential: 400 whose detail names it and says nothing was queued', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': 'application/json' }, payload: JSON.stringify({ credential: 'nope' }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad_request', detail: 'unknown credential "nope"; nothing was queued' });
    expect(h.enqueued).toEqual([]);
  });
});

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
