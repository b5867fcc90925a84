/**
 * The resume rules of docs/design.md section 5 as a pure function: for one cluster, what the probes (and
 * change attempts) have shown so far about the pending, current and previous passwords -> what to
 * do next. The single-user strategy runs it in a loop (ask, learn, ask again) for every cluster of
 * every rotation, fresh or resumed; the dry run runs it once over plain probes.
 *
 * The rules, in order:
 *  1. Resuming and the pending password not probed yet: probe it (a crash may have left it set).
 *  2. Pending accepted: the cluster is done.
 *  3. Pending gave no answer: unreachable (it may hold either password).
 *  4. Current not tried yet, or accepted: change current -> pending.
 *  5. Current gave no answer: unreachable.
 *  6. Current rejected, previous not tried yet or accepted: change previous -> pending (the
 *     cluster is one version behind).
 *  7. Previous gave no answer: unreachable.
 *  8. Nothing we hold is accepted there: unknown password (a human must look, no retry loop).
 *
 * "No answer" ends the cluster's part of the set step; what follows is the failure policy's
 * (failure-policy.ts: rolled back, or retried forward in leak mode; not needs_attention).
 */

/** A probe's answer, or what a change attempt proved about the password it started from. */
export type Answer = 'accepted' | 'rejected' | 'unknown';

/** What is known of one cluster. `undefined`: not asked yet; `none`: there is no such password to try. */
export interface ClusterEvidence {
  pending: Answer | 'none' | undefined;
  current: Answer | undefined;
  previous: Answer | 'none' | undefined;
}

export const RESUME_MOVE = {
  probePending: 'probe_pending',
  changeFromCurrent: 'change_from_current',
  changeFromPrevious: 'change_from_previous',
  /** Terminal: the cluster holds the pending password. */
  holdsPending: 'holds_pending',
  /** Terminal: no clear answer; it holds current or pending. */
  noAnswer: 'no_answer',
  /** Terminal: it holds a password we do not have. */
  unknownPassword: 'unknown_password',
} as const;
export type ResumeMove = (typeof RESUME_MOVE)[keyof typeof RESUME_MOVE];

/** True for the moves that end the cluster's part of the set step. */
export function isTerminal(move: ResumeMove): boolean {
  return move === RESUME_MOVE.holdsPending || move === RESUME_MOVE.noAnswer || move === RESUME_MOVE.unknownPassword;
}

/** The next move for one cluster, from what is known of it (see the rules above). */
export function nextResumeMove(evidence: ClusterEvidence): ResumeMove {
  const { pending, current, previous } = evidence;
  if (pending === undefined) return RESUME_MOVE.probePending; // Rule 1.
  if (pending === 'accepted') return RESUME_MOVE.holdsPending; // Rule 2.
  if (pending === 'unknown') return RESUME_MOVE.noAnswer; // Rule 3.
  if (current === undefined || current === 'accepted') return RESUME_MOVE.changeFromCurrent; // Rule 4.
  if (current === 'unknown') return RESUME_MOVE.noAnswer; // Rule 5.
  if (previous === undefined || previous === 'accepted') return RESUME_MOVE.changeFromPrevious; // Rule 6.
  if (previous === 'unknown') return RESUME_MOVE.noAnswer; // Rule 7.
  return RESUME_MOVE.unknownPassword; // Rule 8.
}
