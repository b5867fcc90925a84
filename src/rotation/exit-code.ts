import { OUTCOME, type Outcome } from './types.ts';

/** Exit codes of docs/design.md section 7. */
export const EXIT = {
  ok: 0,
  /** Failed or rolled back: the old password is still valid everywhere. */
  failed: 1,
  usage: 2,
  /** A human must look. */
  needsAttention: 3,
  /** Redis could not be used (unreachable, refused authentication, TLS mismatch, a cluster node): nothing was queued or changed. */
  redisUnavailable: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitCodeOf(outcome: Outcome): ExitCode {
  switch (outcome) {
    case OUTCOME.rotated:
      return EXIT.ok;
    case OUTCOME.rolledBack:
    case OUTCOME.failed:
      return EXIT.failed;
    case OUTCOME.needsAttention:
      return EXIT.needsAttention;
    default: {
      const unreachable: never = outcome;
      throw new Error(`unknown outcome ${String(unreachable)}`);
    }
  }
}

/** The most severe of several exit codes; the codes are ordered by severity (3 > 2 > 1 > 0). */
export function worstExitCode(codes: Iterable<ExitCode>): ExitCode {
  let worst: ExitCode = EXIT.ok;
  for (const code of codes) if (code > worst) worst = code;
  return worst;
}
