import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';
import { fencePoint, type SecretsWrite } from './fence-point.ts';
import type { StrategyContext } from './strategy.ts';

/**
 * A Secrets Manager write that the service throttled, sent again through the fence. The store does
 * not retry a throttled write (src/secrets/store.ts): every attempt here passes the write's fence
 * first, which checks the lease and, in the worker, books a new slot in the fleet's write budget
 * (jobs/rotate.ts, src/queue/write-gate.ts). A retry is so paced like any other write, instead of
 * adding a write no one booked to a quota that has just said it is full. The quota is shared with
 * every other writer of the account and region, so throttling is a fact of production life: a
 * throttled write is retried for a while (`writeThrottleBudgetMs`) before its step reports it.
 */
export const WRITE_RETRY = {
  /** The pause before the first retry; it doubles with each retry, up to maxDelayMs. */
  baseDelayMs: 100,
  maxDelayMs: 1_000,
} as const;

export interface WriteRetryFacts {
  /** The attempt failed with SECRET_THROTTLED (nothing was written). */
  throttled: boolean;
  /** The attempt that failed, 1-based. */
  attempt: number;
  /** Time since the first attempt began (the fence's waits included). */
  elapsedMs: number;
  /** The pauses taken so far, summed (bounds the retries even when the clock does not move). */
  pausedMs: number;
  /** How long the write may go on being throttled (tuning `writeThrottleBudgetMs`). */
  budgetMs: number;
}

export type WriteRetryDecision = { retry: true; delayMs: number } | { retry: false };

/** The pause after attempt `attempt` (1-based): 100 ms, 200 ms, 400 ms, 800 ms, then 1 s. */
export function writeRetryDelayMs(attempt: number): number {
  return Math.min(WRITE_RETRY.maxDelayMs, WRITE_RETRY.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * After a write's attempt failed. The cases:
 *  1. Not throttled (a refusal, a conflict, a 5xx the store already retried): no retry here.
 *  2. Throttled, and the pause would end past the budget (counted from the first attempt, or by
 *     the pauses alone, whichever is further along): no retry; the step reports SECRET_THROTTLED.
 *  3. Throttled otherwise: pause (writeRetryDelayMs), then send again through the fence.
 * Every retry adds at least baseDelayMs to `pausedMs`, so a write is sent at most
 * budgetMs / baseDelayMs + 1 times whatever the clock does.
 */
export function nextWriteRetry(facts: WriteRetryFacts): WriteRetryDecision {
  if (!facts.throttled) return { retry: false }; // case 1
  const delayMs = writeRetryDelayMs(facts.attempt);
  if (Math.max(facts.elapsedMs, facts.pausedMs) + delayMs > facts.budgetMs) return { retry: false }; // case 2
  return { retry: true, delayMs }; // case 3
}

/** True for the error of a throttled Secrets Manager call (the store's SECRET_THROTTLED). */
export function isThrottled(err: unknown): boolean {
  return err instanceof RotatorError && err.code === ERROR_CODE.secretThrottled;
}

/** How a write went: done, or the error of its last attempt (after `attempts` attempts over `elapsedMs`). */
export type WriteOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown; attempts: number; elapsedMs: number };

/**
 * Sends `send` behind the fence of the Secrets Manager write `write`; while the service throttles
 * it (nextWriteRetry), pauses and sends it again, behind the fence again. The write's own failure
 * is returned; whatever the fence throws (a lost lease, a crash) goes through at once. `send` must
 * be safe to repeat: a throttled call changed nothing, and the store's writes are idempotent besides.
 */
export async function writeThroughFence<T>(ctx: StrategyContext, write: SecretsWrite, send: () => Promise<T>): Promise<WriteOutcome<T>> {
  const startedAt = ctx.now();
  let pausedMs = 0;
  for (let attempt = 1; ; attempt++) {
    await ctx.fence(fencePoint.secretsWrite(write));
    try {
      return { ok: true, value: await send() };
    } catch (error) {
      const elapsedMs = ctx.now() - startedAt;
      const next = nextWriteRetry({ throttled: isThrottled(error), attempt, elapsedMs, pausedMs, budgetMs: ctx.tuning.writeThrottleBudgetMs });
      if (!next.retry) return { ok: false, error, attempts: attempt, elapsedMs };
      pausedMs += next.delayMs;
      await ctx.sleep(next.delayMs);
    }
  }
}

/** For a message: how long a write went on being throttled. */
export function throttledFor(outcome: { attempts: number; elapsedMs: number }): string {
  return `still throttled after ${outcome.attempts} attempts over ${(outcome.elapsedMs / 1000).toFixed(1)} s`;
}
