import { timingSafeEqual } from 'node:crypto';

/**
 * Compares a caller-supplied value with an expected secret-derived value in time that depends
 * only on `expected.length`, never on where the two first differ.
 *
 * crypto.timingSafeEqual throws on buffers of different lengths, and a plain length check before
 * it is fine for a fixed-length digest, but callers should not have to remember either: the given
 * value is copied into a zero buffer of the expected length (truncated or padded), compared there,
 * and the length verdict is combined only afterwards. So a prefix of the right answer, an empty
 * value and an over-long one all take the same path and return false without throwing.
 */
export function constantTimeEqual(given: Uint8Array, expected: Uint8Array): boolean {
  const sized = Buffer.alloc(expected.length);
  sized.set(given.subarray(0, expected.length));
  const sameBytes = timingSafeEqual(sized, expected);
  return sameBytes && given.length === expected.length;
}
