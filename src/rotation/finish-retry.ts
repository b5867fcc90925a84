import { REASON, type RotationRequest, type RotationResult } from './types.ts';

/**
 * Finishing what was started. A rotation that ends `finish_unknown` (whether AWSCURRENT moved could
 * not be read back) or `promote_failed` (AWSCURRENT could not be moved: leak mode, or throttled) leaves every
 * cluster on the new password, recorded under AWSPENDING, while consumers reading AWSCURRENT get the
 * old one: running the same rotation id again resumes it (every cluster already holds the pending
 * password: probe, verify, promote) and settles it. It is retried within seconds, with a bounded
 * backoff, instead of waiting for the pending version's lease to run out.
 */
export const FINISH_RETRY = {
  /** First pause before running the same rotation again. */
  baseDelayMs: 500,
  /** The backoff's bound: a credential stuck behind a Secrets Manager outage is retried this often. */
  maxDelayMs: 5_000,
} as const;

/** True when every cluster is ahead of AWSCURRENT and the same rotation id, run again, promotes. */
export function needsFinishing(result: RotationResult): boolean {
  return result.reason === REASON.finishUnknown || result.reason === REASON.promoteFailed;
}

/**
 * While finishing, a run that could not read Secrets Manager (the load step's
 * secrets_manager_error or secrets_throttled: nothing changed) has settled nothing either: keep trying.
 */
export function stillFinishing(result: RotationResult): boolean {
  return needsFinishing(result) || result.reason === REASON.secretsManagerError || result.reason === REASON.secretsThrottled;
}

/** The pause before finishing attempt `attempt` (1-based): 0.5 s, 1 s, 2 s, 4 s, then 5 s. */
export function finishRetryDelayMs(attempt: number): number {
  return Math.min(FINISH_RETRY.maxDelayMs, FINISH_RETRY.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * Runs `rotate(req)` and, while its result needs finishing, runs the same request again (same
 * rotation id) up to `attempts` more times with the backoff above. `finishing`: the request is
 * already a retry of an unfinished rotation (a transient Secrets Manager error keeps it going).
 * Returns the last result and how many retries it took.
 */
export async function rotateUntilFinished(
  rotate: (req: RotationRequest) => Promise<RotationResult>,
  req: RotationRequest,
  options: { attempts: number; sleep: (ms: number) => Promise<void>; finishing?: boolean; firstAttempt?: number },
): Promise<{ result: RotationResult; retries: number }> {
  let result = await rotate(req);
  let finishing = (options.finishing ?? false) || needsFinishing(result);
  let retries = 0;
  while (finishing && stillFinishing(result) && retries < options.attempts) {
    retries++;
    await options.sleep(finishRetryDelayMs((options.firstAttempt ?? 1) + retries - 1));
    result = await rotate(req);
    finishing = true;
  }
  return { result, retries };
}
