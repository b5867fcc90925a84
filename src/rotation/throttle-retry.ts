import { REASON, type RotationResult } from './types.ts';

/**
 * Trying again later what Secrets Manager throttled before anything changed. A rotation that ends
 * `secrets_throttled` (the write ahead still throttled after its retries through the fence,
 * write-retry.ts, or a read at load after the SDK's attempts) changed nothing and is not wrong:
 * the shared quota was full. Completing its job `failed` would leave a scheduled credential for
 * its next schedule (a week), so the worker puts the job back, delayed, with the same rotation id.
 * Bounded: after THROTTLE_RETRY.putBacks put-backs (about 3 minutes of pauses) the result stands.
 */
export const THROTTLE_RETRY = {
  /** Put-backs before a still-throttled rotation ends `failed`, `secrets_throttled`. */
  putBacks: 10,
  /** The first pause; it doubles with each put-back, up to maxDelayMs. */
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
} as const;

/** True when the rotation stopped because Secrets Manager throttled it, with nothing changed. */
export function throttledBeforeChange(result: RotationResult): boolean {
  return result.reason === REASON.secretsThrottled;
}

/**
 * The pause before running a throttled rotation again, after `putBacks` earlier put-backs: 1 s,
 * 2 s, 4 s, 8 s, 16 s, then 30 s; null once THROTTLE_RETRY.putBacks are spent (the result stands).
 */
export function throttleRetryDelayMs(putBacks: number): number | null {
  if (putBacks >= THROTTLE_RETRY.putBacks) return null;
  return Math.min(THROTTLE_RETRY.maxDelayMs, THROTTLE_RETRY.baseDelayMs * 2 ** Math.max(0, putBacks));
}
