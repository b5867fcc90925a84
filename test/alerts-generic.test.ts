/**
 * The generic leak-alert feed: the X-Rotator-Signature check (HMAC-SHA256 over timestamp + "." +
 * raw body, several secrets, tolerance both ways, constant-time compare) and the body schema
 * (exactly one way of naming the leak, strict keys, errors that never quote the body).
 */
import { describe, expect, it } from 'vitest';
import { constantTimeEqual } from '../src/alerts/constant-time-equal.ts';
import { parseGenericAlert } from '../src/alerts/generic-alert.ts';
import {
  createGenericSignatureVerifier,
  signGenericAlert,
  SIGNATURE_FAILURE,
  type GenericSignatureVerifier,
} from '../src/alerts/generic-signature.ts';

const OLD_SECRET = 'webhook-secret-old-0123456789';
const NEW_SECRET = 'webhook-secret-new-9876543210';
const TOLERANCE_SECONDS = 300;
const NOW_SECONDS = 1_750_000_000;
/** Spacing and key order a re-serialization would change. */
const RAW_BODY = Buffer.from('{ "tokenSha256" : "' + 'ab'.repeat(32) + '",\n  "id": "alert-1" }');

function verifier(secrets: string[] = [OLD_SECRET, NEW_SECRET], nowSeconds = NOW_SECONDS): GenericSignatureVerifier {
  return createGenericSignatureVerifier({ secrets, toleranceSeconds: TOLERANCE_SECONDS, nowMs: () => nowSeconds * 1_000 });
}

function signed(secret = NEW_SECRET, timestampSeconds = NOW_SECONDS, body: Uint8Array = RAW_BODY) {
  return { rawBody: body, timestamp: String(timestampSeconds), signature: signGenericAlert(secret, timestampSeconds, body) };
}

describe('generic alert signature', () => {
  it('accepts a valid signature over the raw body and returns the timestamp and the signature hex', () => {
    const request = signed();
    const check = verifier()(request);
    expect(check).toEqual({ ok: true, timestampSeconds: NOW_SECONDS, signatureHex: request.signature.slice('sha256='.length) });
  });

  it.each([
    ['the old secret', OLD_SECRET],
    ['the new secret', NEW_SECRET],
  ])('accepts a signature made with %s while both are configured', (_label, secret) => {
    expect(verifier()(signed(secret)).ok).toBe(true);
  });

  it('accepts the third of three configured secrets (every secret is tried)', () => {
    const third = 'webhook-secret-third-000000000';
    expect(verifier([OLD_SECRET, NEW_SECRET, third])(signed(third)).ok).toBe(true);
  });

  it('refuses a signature made with a secret that is not configured', () => {
    expect(verifier()(signed('webhook-secret-wrong-0000000000'))).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
  });

  it('refuses a signature once its secret is removed from the list', () => {
    expect(verifier([NEW_SECRET])(signed(OLD_SECRET))).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
  });

  it('refuses a body tampered by one byte', () => {
    const request = signed();
    const tampered = Buffer.from(request.rawBody);
    tampered[10] = (tampered[10] ?? 0) ^ 0x01;
    expect(verifier()({ ...request, rawBody: tampered })).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
  });

  it('refuses a body with one byte appended', () => {
    const request = signed();
    const longer = Buffer.concat([request.rawBody, Buffer.from(' ')]);
    expect(verifier()({ ...request, rawBody: longer })).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
  });

  it('refuses a timestamp header changed after signing, even within the tolerance', () => {
    const request = signed(NEW_SECRET, NOW_SECONDS - 10);
    expect(verifier()({ ...request, timestamp: String(NOW_SECONDS - 9) })).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
  });

  it('does not verify a signature computed over re-serialized JSON', () => {
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(RAW_BODY.toString('utf8'))));
    expect(reserialized.equals(RAW_BODY)).toBe(false);
    const signature = signGenericAlert(NEW_SECRET, NOW_SECONDS, reserialized);
    const check = verifier()({ rawBody: RAW_BODY, timestamp: String(NOW_SECONDS), signature });
    expect(check).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
  });

  describe('when the timestamp is skewed', () => {
    it.each([
      ['exactly the tolerance in the past', -TOLERANCE_SECONDS],
      ['exactly the tolerance in the future', TOLERANCE_SECONDS],
    ])('accepts a timestamp %s', (_label, offset) => {
      expect(verifier()(signed(NEW_SECRET, NOW_SECONDS + offset)).ok).toBe(true);
    });

    it.each([
      ['in the past', -TOLERANCE_SECONDS - 1],
      ['in the future', TOLERANCE_SECONDS + 1],
      ['an hour in the past', -3_600],
    ])('refuses a timestamp beyond the tolerance %s as stale', (_label, offset) => {
      expect(verifier()(signed(NEW_SECRET, NOW_SECONDS + offset))).toEqual({ ok: false, reason: SIGNATURE_FAILURE.stale });
    });

    it('reports a forged request with an old timestamp as a mismatch, not as stale', () => {
      expect(verifier()(signed('webhook-secret-wrong-0000000000', NOW_SECONDS - 10_000))).toEqual({
        ok: false,
        reason: SIGNATURE_FAILURE.mismatch,
      });
    });
  });

  describe('when headers are missing or malformed', () => {
    it.each([
      ['no timestamp', { timestamp: undefined }],
      ['no signature', { signature: undefined }],
      ['an empty timestamp', { timestamp: '' }],
      ['an empty signature', { signature: '' }],
      ['an empty header list', { signature: [] }],
    ])('answers missing for %s', (_label, patch) => {
      expect(verifier()({ ...signed(), ...patch })).toEqual({ ok: false, reason: SIGNATURE_FAILURE.missing });
    });

    it.each([
      ['a non-numeric timestamp', { timestamp: 'yesterday' }],
      ['a fractional timestamp', { timestamp: `${NOW_SECONDS}.5` }],
      ['a negative timestamp', { timestamp: `-${NOW_SECONDS}` }],
      ['a timestamp in milliseconds', { timestamp: `${NOW_SECONDS}000` }],
      ['a signature without the sha256= prefix', { signature: 'ab'.repeat(32) }],
      ['another algorithm', { signature: `sha1=${'ab'.repeat(20)}` }],
      ['a signature that is not hex', { signature: `sha256=${'zz'.repeat(32)}` }],
      ['a signature of odd length', { signature: `sha256=${'a'.repeat(63)}` }],
      ['a repeated signature header', { signature: [signGenericAlert(NEW_SECRET, NOW_SECONDS, RAW_BODY), 'sha256=00'] }],
    ])('answers malformed for %s', (_label, patch) => {
      expect(verifier()({ ...signed(), ...patch })).toEqual({ ok: false, reason: SIGNATURE_FAILURE.malformed });
    });
  });

  describe('when the signature has the wrong length', () => {
    it('refuses a prefix of the right signature as a mismatch without throwing', () => {
      const request = signed();
      const prefix = request.signature.slice(0, 'sha256='.length + 32);
      expect(() => verifier()({ ...request, signature: prefix })).not.toThrow();
      expect(verifier()({ ...request, signature: prefix })).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
    });

    it('refuses the right signature with extra bytes appended as a mismatch without throwing', () => {
      const request = signed();
      expect(verifier()({ ...request, signature: `${request.signature}00` })).toEqual({ ok: false, reason: SIGNATURE_FAILURE.mismatch });
    });

    it('compares buffers of unequal length in constant time without throwing, and never accepts a prefix', () => {
      const expected = Buffer.from('0123456789abcdef');
      expect(() => constantTimeEqual(Buffer.from('0123'), expected)).not.toThrow();
      expect(constantTimeEqual(Buffer.from('0123'), expected)).toBe(false);
      expect(constantTimeEqual(Buffer.from('0123456789abcdef00'), expected)).toBe(false);
      expect(constantTimeEqual(Buffer.alloc(0), expected)).toBe(false);
      expect(constantTimeEqual(Buffer.from('0123456789abcdef'), expected)).toBe(true);
      // A zero-padded prefix equals the padded comparison buffer: only the length verdict refuses it.
      expect(constantTimeEqual(Buffer.from([1, 2]), Buffer.from([1, 2, 0, 0]))).toBe(false);
    });
  });

  it('accepts upper-case hex but reports the lower-case signature, so a re-cased copy has the same replay key', () => {
    const request = signed();
    const upper = `sha256=${request.signature.slice('sha256='.length).toUpperCase()}`;
    const lower = verifier()(request);
    const recased = verifier()({ ...request, signature: upper });
    expect(recased.ok).toBe(true);
    expect(recased).toEqual(lower);
  });

  it('refuses to be built without a secret or with a bad tolerance', () => {
    expect(() => createGenericSignatureVerifier({ secrets: [], toleranceSeconds: 300 })).toThrow(RangeError);
    expect(() => createGenericSignatureVerifier({ secrets: [NEW_SECRET], toleranceSeconds: 0 })).toThrow(RangeError);
    expect(() => createGenericSignatureVerifier({ secrets: [''], toleranceSeconds: 300 })).toThrow(RangeError);
  });
});

describe('generic alert body', () => {
  const TOKEN_HEX = 'AB'.repeat(32);

  it('parses a leak named by credential id', () => {
    expect(parseGenericAlert('{"credential":"app-reader"}')).toEqual({ ok: true, alert: { by: 'credential', credential: 'app-reader' } });
  });

  it('parses a leak named by username and cluster', () => {
    expect(parseGenericAlert(Buffer.from('{"username":"app_reader","cluster":"prod-west"}'))).toEqual({
      ok: true,
      alert: { by: 'username-cluster', username: 'app_reader', cluster: 'prod-west' },
    });
  });

  it('parses a leak named by tokenSha256 and lower-cases the hex', () => {
    expect(parseGenericAlert(JSON.stringify({ tokenSha256: TOKEN_HEX }))).toEqual({
      ok: true,
      alert: { by: 'token', tokenSha256: TOKEN_HEX.toLowerCase() },
    });
  });

  it('keeps the optional id, source, url and detectedAt', () => {
    const body = { credential: 'app-reader', id: 'GG-123', source: 'gitguardian', url: 'https://github.com/o/r/blob/x', detectedAt: '2025-06-01T10:00:00Z' };
    expect(parseGenericAlert(JSON.stringify(body))).toEqual({
      ok: true,
      alert: { by: 'credential', credential: 'app-reader', id: 'GG-123', source: 'gitguardian', url: 'https://github.com/o/r/blob/x', detectedAt: '2025-06-01T10:00:00Z' },
    });
  });

  it.each([
    ['credential and tokenSha256', { credential: 'app-reader', tokenSha256: TOKEN_HEX }],
    ['credential and username + cluster', { credential: 'app-reader', username: 'app_reader', cluster: 'prod-west' }],
    ['username + cluster and tokenSha256', { username: 'app_reader', cluster: 'prod-west', tokenSha256: TOKEN_HEX }],
  ])('refuses two ways at once: %s', (_label, body) => {
    const parsed = parseGenericAlert(JSON.stringify(body));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/exactly one way/);
  });

  it('refuses a body that names no leak', () => {
    const parsed = parseGenericAlert('{"id":"alert-1"}');
    expect(parsed).toEqual({ ok: false, error: expect.stringMatching(/name the leak by/) });
  });

  it('refuses a username without a cluster', () => {
    expect(parseGenericAlert('{"username":"app_reader"}')).toEqual({ ok: false, error: expect.stringMatching(/go together/) });
  });

  it('refuses an unknown key, such as a misspelled tokenSHA256', () => {
    const parsed = parseGenericAlert(JSON.stringify({ tokenSHA256: TOKEN_HEX }));
    expect(parsed).toEqual({ ok: false, error: expect.stringMatching(/unknown key/) });
  });

  it('refuses an unknown key next to a valid way of naming the leak', () => {
    expect(parseGenericAlert(JSON.stringify({ credential: 'app-reader', priority: 1 })).ok).toBe(false);
  });

  it.each([
    ['63 hex characters', 'a'.repeat(63)],
    ['65 hex characters', 'a'.repeat(65)],
    ['a non-hex character', `${'a'.repeat(63)}g`],
    ['a 0x prefix', `0x${'a'.repeat(62)}`],
  ])('refuses a tokenSha256 of %s', (_label, tokenSha256) => {
    expect(parseGenericAlert(JSON.stringify({ tokenSha256 }))).toEqual({ ok: false, error: expect.stringMatching(/^tokenSha256: /) });
  });

  it.each([
    ['an id over 128 characters', { credential: 'app-reader', id: 'x'.repeat(129) }],
    ['a source over 64 characters', { credential: 'app-reader', source: 'x'.repeat(65) }],
    ['a url over 2048 characters', { credential: 'app-reader', url: `https://x/${'a'.repeat(2_048)}` }],
    ['a detectedAt that is not ISO', { credential: 'app-reader', detectedAt: 'June 1st' }],
    ['a credential that is a number', { credential: 42 }],
    ['an array', [{ credential: 'app-reader' }]],
    ['null', null],
  ])('refuses %s', (_label, body) => {
    expect(parseGenericAlert(JSON.stringify(body)).ok).toBe(false);
  });

  it('refuses invalid JSON and invalid UTF-8', () => {
    expect(parseGenericAlert('{"credential":')).toEqual({ ok: false, error: 'body is not valid JSON' });
    expect(parseGenericAlert(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ ok: false, error: 'body is not valid UTF-8' });
  });

  it('never repeats a value of the body in its error', () => {
    const secretLike = 'Zq9!xP-secret-looking-value';
    const bodies = [
      `{"credential":"${secretLike}"}`,
      `{"tokenSha256":"${secretLike}"}`,
      `{"${secretLike}":"x","credential":"app-reader"}`,
      `{"credential":"app-reader","id":"${secretLike}${' '.repeat(5)}"}`,
      `password=${secretLike}`,
      `{"credential": ${secretLike}}`,
    ];
    for (const body of bodies) {
      const parsed = parseGenericAlert(body);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error).not.toContain(secretLike.slice(0, 6));
    }
  });
});
