/**
 * The generic leak-alert signature (docs/design.md section 7, `POST /v1/leak-alerts`):
 *
 *   X-Rotator-Timestamp: <unix seconds>
 *   X-Rotator-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>
 *
 * Why each rule:
 * - The MAC covers the raw body bytes as received. Re-serialized JSON differs in spacing, key order
 *   and escapes, so a check over a parsed-and-restringified body would refuse honest senders and
 *   could accept a body that differs from the signed one.
 * - The timestamp is signed with the body and must lie within ±toleranceSeconds of our clock, which
 *   bounds how long a captured request stays usable; the replay guard (./replay-guard.ts) closes
 *   the rest of that window.
 * - Several secrets are tried, every one of them, so the signing secret can be rotated (sender and
 *   receiver briefly share old and new) without dropping alerts, and without the time taken
 *   telling which secret matched.
 * - Comparison is constant-time (./constant-time-equal.ts).
 *
 * The failure reason is for metrics and logs only. The HTTP layer answers a bare 401 whatever it
 * is, so a caller cannot learn which part of a signature failed.
 */
import { createHmac } from 'node:crypto';
import { constantTimeEqual } from './constant-time-equal.ts';
import { singleHeader, type HeaderValue } from './header-value.ts';

/** Header names as Node presents them (lower case). */
export const GENERIC_HEADER = {
  timestamp: 'x-rotator-timestamp',
  signature: 'x-rotator-signature',
} as const;

export const SIGNATURE_FAILURE = {
  /** A header is absent or empty. */
  missing: 'missing',
  /** A header is present but not of the documented form. */
  malformed: 'malformed',
  /** Authentic (a secret matched) but the timestamp is outside the tolerance: skewed clock or replay. */
  stale: 'stale',
  /** No configured secret produces this signature. */
  mismatch: 'mismatch',
} as const;
export type SignatureFailure = (typeof SIGNATURE_FAILURE)[keyof typeof SIGNATURE_FAILURE];

export type GenericSignatureCheck =
  | {
      ok: true;
      /** X-Rotator-Timestamp, unix seconds. */
      timestampSeconds: number;
      /**
       * The verified signature as lower-case hex, recomputed by us: the replay key. Taken from our
       * own digest rather than the header so that an upper-case copy of a used signature cannot
       * pass the replay guard as a new one.
       */
      signatureHex: string;
    }
  | { ok: false; reason: SignatureFailure };

export interface GenericSignatureOptions {
  /** Every accepted signing secret (config `leakAlerts.webhookSecrets`). At least one. */
  secrets: readonly string[];
  /** Accepted distance between X-Rotator-Timestamp and our clock, either direction. Integer >= 1. */
  toleranceSeconds: number;
  /** Wall clock, epoch milliseconds. @defaultValue Date.now */
  nowMs?: () => number;
}

export interface GenericSignatureInput {
  /** The request body exactly as received, before any parsing. */
  rawBody: Uint8Array;
  /** X-Rotator-Timestamp. */
  timestamp: HeaderValue;
  /** X-Rotator-Signature. */
  signature: HeaderValue;
}

/** Unix seconds as a plain decimal integer; 12 digits reach the year 33658, enough to refuse nothing real. */
const TIMESTAMP_PATTERN = /^[0-9]{1,12}$/;
/**
 * `sha256=` then hex. Lengths other than 64 are accepted here on purpose and refused by the
 * constant-time comparison (as a mismatch), so no length-dependent early exit exists; the upper
 * bound only keeps absurd headers out.
 */
const SIGNATURE_PATTERN = /^sha256=((?:[0-9a-fA-F]{2}){1,64})$/;

export type GenericSignatureVerifier = (input: GenericSignatureInput) => GenericSignatureCheck;

/** Checks the options once, at startup, and returns the verifier the HTTP layer calls per request. */
export function createGenericSignatureVerifier(options: GenericSignatureOptions): GenericSignatureVerifier {
  if (options.secrets.length === 0) throw new RangeError('secrets must hold at least one webhook secret');
  if (options.secrets.some((secret) => secret.length === 0)) throw new RangeError('secrets must not be empty strings');
  if (!Number.isInteger(options.toleranceSeconds) || options.toleranceSeconds < 1) {
    throw new RangeError('toleranceSeconds must be an integer >= 1');
  }
  const secrets = [...options.secrets];
  const toleranceSeconds = options.toleranceSeconds;
  const nowMs = options.nowMs ?? Date.now;
  return (input) => verifyGenericSignature(input, secrets, toleranceSeconds, nowMs());
}

function verifyGenericSignature(
  input: GenericSignatureInput,
  secrets: readonly string[],
  toleranceSeconds: number,
  nowMs: number,
): GenericSignatureCheck {
  const timestamp = singleHeader(input.timestamp);
  const signature = singleHeader(input.signature);
  if (timestamp === undefined || signature === undefined) return { ok: false, reason: SIGNATURE_FAILURE.missing };
  if (timestamp === null || signature === null) return { ok: false, reason: SIGNATURE_FAILURE.malformed };

  const timestampText = timestamp.trim();
  const signatureMatch = SIGNATURE_PATTERN.exec(signature.trim());
  if (!TIMESTAMP_PATTERN.test(timestampText) || signatureMatch === null || signatureMatch[1] === undefined) {
    return { ok: false, reason: SIGNATURE_FAILURE.malformed };
  }
  const given = Buffer.from(signatureMatch[1], 'hex');

  // Every secret is tried even after a match, so the time taken does not tell which one matched.
  let matchedHex: string | undefined;
  for (const secret of secrets) {
    const expected = genericSignatureDigest(secret, timestampText, input.rawBody);
    if (constantTimeEqual(given, expected)) matchedHex ??= expected.toString('hex');
  }
  if (matchedHex === undefined) return { ok: false, reason: SIGNATURE_FAILURE.mismatch };

  // Checked after the MAC, so `stale` counts only authentic requests (clock skew, replays of real
  // alerts) and the metric is not drowned by unsigned noise. Both directions: a timestamp from
  // the future would otherwise extend the replay window past the guard's TTL.
  const timestampSeconds = Number(timestampText);
  if (Math.abs(nowMs / 1_000 - timestampSeconds) > toleranceSeconds) return { ok: false, reason: SIGNATURE_FAILURE.stale };
  return { ok: true, timestampSeconds, signatureHex: matchedHex };
}

/** HMAC-SHA256(secret, timestamp + "." + rawBody), over the bytes, never a decoded string. */
function genericSignatureDigest(secret: string, timestampText: string, rawBody: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestampText}.`).update(rawBody).digest();
}

/**
 * The X-Rotator-Signature value for a body: what a sender computes. Used by tests, the benchmark
 * and any in-house sender written in TypeScript.
 */
export function signGenericAlert(secret: string, timestampSeconds: number, rawBody: Uint8Array): string {
  return `sha256=${genericSignatureDigest(secret, String(timestampSeconds), rawBody).toString('hex')}`;
}
