/**
 * The trigger API's bearer check (`Authorization: Bearer <token>`, config `http.triggerTokens`).
 *
 * Every configured token is compared, every time, with no early exit, so the time taken says
 * neither whether a token matched nor which one. Both sides are hashed with SHA-256 first: the
 * comparison then always runs over 32 bytes, so it does not depend on the configured tokens'
 * lengths either (a plain constant-time compare still takes time proportional to the expected
 * value's length). The index of the matching token is returned for `requestedBy` (`http:<index>`),
 * never the token.
 */
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../alerts/constant-time-equal.ts';

export type BearerCheck = { ok: true; tokenIndex: number } | { ok: false };

export type BearerVerifier = (authorization: string | readonly string[] | undefined) => BearerCheck;

export interface BearerVerifierOptions {
  /** The byte comparison; a seam for the test that counts comparisons. @defaultValue constantTimeEqual */
  compare?: (given: Uint8Array, expected: Uint8Array) => boolean;
}

/** `Bearer <token>`: scheme case-insensitive (RFC 9110), one or more spaces, a token68-ish value. */
const BEARER_PATTERN = /^Bearer +([\x21-\x7e]+) *$/i;
/** A token longer than this is not one of ours (the config caps nothing, but 4 KiB is plenty). */
const MAX_TOKEN_LENGTH = 4_096;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The token carried by an Authorization header, or null when the header is absent or not a bearer. */
export function bearerToken(authorization: string | readonly string[] | undefined): string | null {
  if (typeof authorization !== 'string' || authorization.length > MAX_TOKEN_LENGTH + 16) return null;
  const match = BEARER_PATTERN.exec(authorization);
  return match?.[1] ?? null;
}

export function createBearerVerifier(tokens: readonly string[], options: BearerVerifierOptions = {}): BearerVerifier {
  const compare = options.compare ?? constantTimeEqual;
  const expected = tokens.map(digest);
  return (authorization) => {
    const token = bearerToken(authorization);
    // A missing or malformed header is compared too (as an empty value): one path for every request.
    const given = digest(token ?? '');
    let matchedIndex = -1;
    for (let index = 0; index < expected.length; index++) {
      const same = compare(given, expected[index] as Buffer);
      if (same && matchedIndex === -1) matchedIndex = index;
    }
    return token !== null && matchedIndex !== -1 ? { ok: true, tokenIndex: matchedIndex } : { ok: false };
  };
}
