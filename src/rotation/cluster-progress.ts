import type { ChangeResult } from './change-password.ts';
import type { Answer } from './resume-rules.ts';
import { CLUSTER_STATE } from './types.ts';

/**
 * Where one cluster stands during a rotation, as far as this run knows: one discriminated union,
 * so what the cluster holds is derived from its state (holdsOf), never kept beside it.
 */
export type ClusterProgress =
  /** Not touched, or nothing changed: it holds AWSCURRENT. */
  | { state: typeof CLUSTER_STATE.unchanged }
  /** It holds the new password (changed by this run, or found already changed on resume). */
  | { state: typeof CLUSTER_STATE.updated }
  /** It held the new password and was put back (verified) to AWSCURRENT. */
  | { state: typeof CLUSTER_STATE.rolledBack }
  /** It holds a password under none of AWSCURRENT, AWSPENDING, AWSPREVIOUS. */
  | { state: typeof CLUSTER_STATE.unknownPassword; detail: string }
  /** It accepted a random wrong password: authentication is off. */
  | { state: typeof CLUSTER_STATE.authDisabled }
  /**
   * No clear answer. `mayHoldNew`: false when nothing was sent to it yet (load), true once a
   * change may have reached it (it holds AWSCURRENT or the new password, we cannot tell which).
   */
  | { state: typeof CLUSTER_STATE.unreachable; mayHoldNew: boolean; detail: string }
  /** It refused the change: by its password policy (code 1100) or the request (403, ...). Nothing changed. */
  | { state: typeof CLUSTER_STATE.refused; by: 'policy' | 'request'; detail: string }
  /** Changed, but verification failed: the new password not accepted, or the old one still accepted. */
  | { state: typeof CLUSTER_STATE.verifyFailed; newAccepted: boolean; detail: string }
  /** A roll back was needed and failed: it may still hold the new password (kept under AWSPENDING). */
  | { state: typeof CLUSTER_STATE.rollbackFailed; detail: string };

/** What a cluster holds: AWSCURRENT, the new (pending) password, either (unknown), or a stranger's. */
export type Holds = 'current' | 'pending' | 'unknown' | 'other';

export function holdsOf(progress: ClusterProgress): Holds {
  switch (progress.state) {
    case CLUSTER_STATE.unchanged:
    case CLUSTER_STATE.rolledBack:
    case CLUSTER_STATE.refused:
      return 'current';
    case CLUSTER_STATE.updated:
      return 'pending';
    case CLUSTER_STATE.unknownPassword:
      return 'other';
    case CLUSTER_STATE.authDisabled:
    case CLUSTER_STATE.rollbackFailed:
      return 'unknown';
    case CLUSTER_STATE.unreachable:
      return progress.mayHoldNew ? 'unknown' : 'current';
    case CLUSTER_STATE.verifyFailed:
      return progress.newAccepted ? 'pending' : 'unknown';
    default: {
      const unreachable: never = progress;
      throw new Error(`unhandled cluster progress ${JSON.stringify(unreachable)}`);
    }
  }
}

export function detailOf(progress: ClusterProgress): string | undefined {
  return 'detail' in progress && progress.detail !== '' ? progress.detail : undefined;
}

/** A change that ended (every kind but from-rejected and unknown, which each strategy reads in its own terms). */
export type EndedChange = Exclude<ChangeResult, { kind: 'from-rejected' } | { kind: 'unknown' }>;

/** Where a cluster stands after a change that ended: updated, or refused by its policy or the request. */
export function progressAfterChange(result: EndedChange): ClusterProgress {
  switch (result.kind) {
    case 'changed':
      return { state: CLUSTER_STATE.updated };
    case 'policy-rejected':
      return { state: CLUSTER_STATE.refused, by: 'policy', detail: `policy: ${result.message}` };
    case 'refused':
      return { state: CLUSTER_STATE.refused, by: 'request', detail: result.message };
    default: {
      const unreachable: never = result;
      throw new Error(`unhandled change result ${JSON.stringify(unreachable)}`);
    }
  }
}

/** One series of verification probes on a cluster (probeUntil): what it wanted and what it got. */
export interface VerificationCheck {
  answer: Answer;
  want: 'accepted' | 'rejected';
  /** What was probed, for the detail when there was no clear answer ("the old password"). */
  what: string;
  /** The detail when the cluster clearly answered the opposite of `want`. */
  missed: string;
}

/**
 * Where a cluster stands after its verification probes: the new password's (wanted accepted) and
 * the strategy's others (the old password rejected; alternating, the active user still accepted).
 * null when verified. The cases, in this order:
 *  1. a check got the clear opposite of what it wanted: verify_failed, with the first such
 *     check's detail (`newAccepted` from the new password's answer);
 *  2. a check got no clear answer: unreachable (it may hold the new password), naming what was
 *     not answered. An unclear answer is never reported as a rejection (docs/reliability.md,
 *     finding 6);
 *  3. every check got what it wanted: null.
 */
export function progressAfterVerification(newPassword: Answer, others: readonly VerificationCheck[]): ClusterProgress | null {
  const checks: VerificationCheck[] = [{ answer: newPassword, want: 'accepted', what: 'the new password', missed: 'the new password is not accepted' }, ...others];
  const missed = checks.find((c) => c.answer !== 'unknown' && c.answer !== c.want);
  if (missed) return { state: CLUSTER_STATE.verifyFailed, newAccepted: newPassword === 'accepted', detail: missed.missed }; // case 1
  const unanswered = checks.filter((c) => c.answer === 'unknown').map((c) => c.what);
  if (unanswered.length > 0) return { state: CLUSTER_STATE.unreachable, mayHoldNew: true, detail: `no clear answer to the verification probes of ${unanswered.join(' and ')}` }; // case 2
  return null; // case 3
}
