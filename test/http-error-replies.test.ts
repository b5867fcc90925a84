/**
 * The README's HTTP error contract, route by route where it is easy to get wrong: the reply shape
 * `{"error": code, "detail"?}`, 415 for a trigger body that is not JSON (and what `text/plain`
 * gets instead), and nothing queued for any of them.
 */
import { describe, expect, it } from 'vitest';
import { TRIGGER_TOKENS, appHarness } from './http-support.ts';

const bearer = { authorization: `Bearer ${TRIGGER_TOKENS[0]}` };
const JSON_BODY = JSON.stringify({ credential: 'app-reader' });

describe('POST /v1/rotations error replies', () => {
  it('a form (curl -d without a Content-Type) or an octet stream: 415 {"error":"unsupported_media_type"}, nothing queued', async () => {
    const h = await appHarness();
    for (const contentType of ['application/x-www-form-urlencoded', 'application/octet-stream']) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': contentType }, payload: JSON_BODY });
      expect(res.statusCode, contentType).toBe(415);
      expect(res.json()).toEqual({ error: 'unsupported_media_type' });
    }
    expect(h.enqueued).toEqual([]);
  });

  it('text/plain is read as a string, so the schema refuses it: 400 bad_request with a detail, nothing queued', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': 'text/plain' }, payload: JSON_BODY });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad_request', detail: expect.any(String) });
    expect(h.enqueued).toEqual([]);
  });

  it('an unknown credential: 400 whose detail names it and says nothing was queued', async () => {
    const h = await appHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/rotations', headers: { ...bearer, 'content-type': 'application/json' }, payload: JSON.stringify({ credential: 'nope' }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad_request', detail: 'unknown credential "nope"; nothing was queued' });
    expect(h.enqueued).toEqual([]);
  });
});
