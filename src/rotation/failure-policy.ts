import { MODE, OUTCOME, REASON, type Mode, type Outcome, type Reason } from './types.ts';

/**
 * The failure policy of docs/design.md section 5 as pure functions: once the set step has begun and the
 * run cannot finish, mode x what changed -> roll back, roll forward or stop, with the outcome and
 * reason. The strategy supplies the facts and carries out the decision; nothing here does I/O.
 */

/** How far the promotion (moving AWSCURRENT) got. */
export const PROMOTION = {
  /** The run stopped before promoting (a cluster could not be set or verified). */
  notReached: 'not_reached',
  /** Read back: AWSCURRENT did not move. Every cluster holds the new password. */
  failed: 'failed',
  /**
   * Read back: AWSCURRENT did not move because Secrets Manager throttled every attempt to move it
   * (the shared write quota, not the secret, said no). Every cluster holds the new password.
   */
  throttled: 'throttled',
  /** Whether AWSCURRENT moved is not known (the read back failed too). Every cluster holds the new password. */
  unknown: 'unknown',
} as const;
export type Promotion = (typeof PROMOTION)[keyof typeof PROMOTION];

export interface FailureFacts {
  mode: Mode;
  /** Some cluster holds, or may hold, the new password. */
  touched: boolean;
  /** Some cluster holds a password under no label (a human must look whatever else happens). */
  stranger: boolean;
  promotion: Promotion;
  /** The reason the clusters' states give (a refusal, no answer, a failed verification, ...). */
  cause: Reason;
  /**
   * Leak mode: every cluster was seen to reject the leaked (old) password, so the leak is contained
   * even though the run cannot finish (verification of the new password failed or got no answer).
   * @defaultValue false
   */
  leakContained?: boolean;
}

export const FAILURE_ACTION = {
  /** Put the touched clusters back to AWSCURRENT, then decide with rollBackVerdict. */
  rollBack: 'roll_back',
  /**
   * Keep AWSPENDING (clusters hold it) and leave the clusters on the new password: running the
   * same rotation id again finishes it forward (leak mode, or a promotion that may have happened).
   */
  rollForward: 'roll_forward',
  /** No cluster holds the new password: drop AWSPENDING and stop. */
  stop: 'stop',
} as const;
export type FailureAction = (typeof FAILURE_ACTION)[keyof typeof FAILURE_ACTION];

export interface Verdict {
  outcome: Outcome;
  reason: Reason;
}

export type FailureDecision =
  | { action: typeof FAILURE_ACTION.rollBack }
  | ({ action: typeof FAILURE_ACTION.rollForward | typeof FAILURE_ACTION.stop; dropPending: boolean } & Verdict);

/**
 * The cases:
 *  1. Whether AWSCURRENT moved is unknown: never roll back (that could strand the clusters on
 *     AWSPREVIOUS); keep AWSPENDING, finish_unknown. Running the same rotation id again settles it.
 *  2. The move was throttled (every mode): keep AWSPENDING, promote_failed, retried forward like 3a.
 *     Every cluster holds (verified) the new password, and all that is left is one label move that
 *     the shared quota refused for now; it refills within a second. A roll back would change every
 *     cluster again and needs a write of its own (dropping AWSPENDING, as throttled as the move) to
 *     undo a rotation that the next attempt finishes; the worker runs it again within seconds
 *     (finish-retry.ts). Until then consumers reading AWSCURRENT hold the old password, as during
 *     any roll back.
 *  3. Leak mode never restores the leaked password:
 *     a. the promotion failed with every cluster moved: keep AWSPENDING, promote_failed (retried forward);
 *     b. some cluster took the new password: keep AWSPENDING, report what could not be moved;
 *     c. none did: drop AWSPENDING. The outcome is needs_attention either way: leak_not_contained,
 *        or, when every cluster was seen to reject the leaked password (the leak is contained, only
 *        the new one is not verified everywhere), the clusters' own cause (cluster_unreachable,
 *        verify_failed): a reason must not claim a leaked password that is dead to be alive.
 *  4. No cluster holds (or may hold) the new password: drop AWSPENDING, failed.
 *  5. Some do: roll them back (then rollBackVerdict).
 *  A cluster holding a password we do not have makes every outcome needs_attention.
 *
 * Decided where docs/design.md section 5 said otherwise ("any UNKNOWN on resume -> NEEDS_ATTENTION"): a
 * cluster that gave no clear answer (on resume or not) counts as touched and is rolled back in
 * scheduled and manual mode (retried forward in leak mode), not sent to a human. Its password is
 * one of two values we hold (AWSCURRENT or AWSPENDING, both stored), so the roll back first probes
 * AWSCURRENT and changes only if needed, then verifies; the state is known again without anyone
 * paging. A human is needed only when that fails too (rollback_failed, AWSPENDING kept), or when a
 * cluster holds a password we do not have (unknown_password). No answer is almost always a
 * transient (timeout, gateway 5xx: the chaos soak's 800 rotations lost nothing this way), and a
 * page for every one of them would teach operators to ignore needs_attention.
 */
export function decideFailure(facts: FailureFacts): FailureDecision {
  const { mode, touched, stranger, promotion, cause, leakContained = false } = facts;
  // Case 1.
  if (promotion === PROMOTION.unknown) {
    return { action: FAILURE_ACTION.rollForward, dropPending: false, outcome: OUTCOME.needsAttention, reason: REASON.finishUnknown };
  }
  // Case 2.
  if (promotion === PROMOTION.throttled) {
    return { action: FAILURE_ACTION.rollForward, dropPending: false, outcome: OUTCOME.needsAttention, reason: stranger ? REASON.unknownPassword : REASON.promoteFailed };
  }
  if (mode === MODE.leak) {
    // Case 3a.
    if (promotion === PROMOTION.failed) {
      return { action: FAILURE_ACTION.rollForward, dropPending: false, outcome: OUTCOME.needsAttention, reason: stranger ? REASON.unknownPassword : REASON.promoteFailed };
    }
    // Cases 3b and 3c.
    const reason = stranger ? REASON.unknownPassword : leakContained ? cause : REASON.leakNotContained;
    return touched
      ? { action: FAILURE_ACTION.rollForward, dropPending: false, outcome: OUTCOME.needsAttention, reason }
      : { action: FAILURE_ACTION.stop, dropPending: true, outcome: OUTCOME.needsAttention, reason };
  }
  // Case 4.
  if (!touched) return { action: FAILURE_ACTION.stop, dropPending: true, outcome: stranger ? OUTCOME.needsAttention : OUTCOME.failed, reason: cause };
  // Case 5.
  return { action: FAILURE_ACTION.rollBack };
}

/**
 * After a roll back. The cases:
 *  1. Every touched cluster is back on AWSCURRENT (verified): drop AWSPENDING, rolled_back.
 *  2. One is not: it may hold the new password, so AWSPENDING stays (it records a live password): rollback_failed.
 */
export function rollBackVerdict(facts: { allBack: boolean; stranger: boolean; cause: Reason }): Verdict & { dropPending: boolean } {
  if (facts.allBack) return { dropPending: true, outcome: facts.stranger ? OUTCOME.needsAttention : OUTCOME.rolledBack, reason: facts.cause }; // Case 1.
  return { dropPending: false, outcome: OUTCOME.needsAttention, reason: REASON.rollbackFailed }; // Case 2.
}
