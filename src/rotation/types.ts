import type { CredentialConfig } from '../config/types.ts';

/** Why a rotation runs. Leak mode never restores the old password (docs/design.md section 5). */
export const MODE = { scheduled: 'scheduled', manual: 'manual', leak: 'leak' } as const;
export type Mode = (typeof MODE)[keyof typeof MODE];

/** The four outcomes of docs/design.md section 7; the CLI maps them to exit codes 0, 1, 1, 3. */
export const OUTCOME = {
  rotated: 'rotated',
  rolledBack: 'rolled_back',
  failed: 'failed',
  needsAttention: 'needs_attention',
} as const;
export type Outcome = (typeof OUTCOME)[keyof typeof OUTCOME];

/** Where one cluster stands at the end (or at any event) of a rotation. */
export const CLUSTER_STATE = {
  /** Not touched yet, or nothing changed: it holds the current password. */
  unchanged: 'unchanged',
  /** It now holds the new password (changed by this run, or found already changed on resume). */
  updated: 'updated',
  /** It held the new password, and was put back to the current one. */
  rolledBack: 'rolled_back',
  /** It holds a password that is under none of AWSCURRENT, AWSPENDING, AWSPREVIOUS. */
  unknownPassword: 'unknown_password',
  /** It accepted a random wrong password: authentication is off, rotating proves nothing. */
  authDisabled: 'auth_disabled',
  /** It could not be reached, or its answer stayed ambiguous: which password it holds is not known. */
  unreachable: 'unreachable',
  /** It refused the new password (code 1100) or the request (403, bad request): nothing changed. */
  refused: 'refused',
  /** The change was made but verification failed (new password not accepted, or old one still accepted). */
  verifyFailed: 'verify_failed',
  /** Roll back was needed and failed: it still holds the new password (kept under AWSPENDING). */
  rollbackFailed: 'rollback_failed',
} as const;
export type ClusterState = (typeof CLUSTER_STATE)[keyof typeof CLUSTER_STATE];

/** A stable reason code for the outcome; metrics label by it, runbooks explain each. */
export const REASON = {
  ok: 'ok',
  alreadyRotated: 'already_rotated',
  secretNotFound: 'secret_not_found',
  secretInvalid: 'secret_invalid',
  usernameMismatch: 'username_mismatch',
  rotationInProgress: 'rotation_in_progress',
  rotationIdSpent: 'rotation_id_spent',
  authDisabled: 'auth_disabled',
  clusterUnreachable: 'cluster_unreachable',
  unknownPassword: 'unknown_password',
  policyRejected: 'policy_rejected',
  clusterRefused: 'cluster_refused',
  verifyFailed: 'verify_failed',
  secretsManagerError: 'secrets_manager_error',
  rollbackFailed: 'rollback_failed',
  leakNotContained: 'leak_not_contained',
  finishUnknown: 'finish_unknown',
  /**
   * Every cluster holds the new password (under AWSPENDING) and AWSCURRENT could not be moved yet:
   * leak mode whatever stopped the move, any mode when Secrets Manager throttled it past the
   * retries (write-retry.ts). Carried forward: the same rotation, run again, promotes.
   */
  promoteFailed: 'promote_failed',
  /**
   * Secrets Manager throttled the rotation before anything changed (the write ahead past its
   * retries, or a read at load past the SDK's attempts): failed, and the worker puts the job back
   * (delayed, bounded: src/rotation/throttle-retry.ts) instead of leaving it for the next schedule.
   */
  secretsThrottled: 'secrets_throttled',
  /** `recover` with nothing pending: nothing to resume, nothing written. */
  nothingPending: 'nothing_pending',
  /** Alternating: the retired user was retired less than graceMs ago; nothing changed (not a failure to page on). */
  graceNotElapsed: 'grace_not_elapsed',
  /** Alternating: the two users hold different roles and no admin is configured to align them. */
  rolesDiffer: 'roles_differ',
  /**
   * Alternating: the roles step could not read a user's roles on a cluster (users/describe gave no
   * clear answer, or refused), so whether the two users hold the same roles is not known; not
   * promoted. Scheduled and manual: the retired user is put back (rolled_back). Leak mode:
   * AWSPENDING kept (every cluster holds the new password), needs_attention.
   */
  rolesUnknown: 'roles_unknown',
  /** Alternating: the second user is not onboarded (AWSPREVIOUS names no other user) and no admin is configured. */
  onboardingRequired: 'onboarding_required',
} as const;
export type Reason = (typeof REASON)[keyof typeof REASON];

export const STEP = {
  load: 'load',
  writeAhead: 'write_ahead',
  set: 'set',
  verify: 'verify',
  /** Alternating: both users hold the same roles on every cluster (aligned with admin). */
  roles: 'roles',
  finish: 'finish',
  rollBack: 'roll_back',
} as const;
export type Step = (typeof STEP)[keyof typeof STEP];

export interface RotationRequest {
  credential: CredentialConfig;
  mode: Mode;
  /** Fixed when the rotation is created; the ClientRequestToken and so the new VersionId (32-64 chars). */
  rotationId: string;
  /** Adopt a foreign pending version even if its owner may be alive (`recover`). */
  recover?: boolean;
  /**
   * Leak mode, alternating credentials: the user whose password leaked, when the alert names it.
   * Absent, both users are changed (two turns); the retired user alone takes one.
   */
  leakedUsername?: string;
}

/** The outcome as data. Never holds a password. Its JSON is the `--json` line of docs/design.md section 7. */
export interface RotationResult {
  credential: string;
  outcome: Outcome;
  reason: Reason;
  mode: Mode;
  rotationId: string;
  /** The version the rotation wrote or resumed (the new AWSCURRENT when rotated); null before one existed. */
  versionId: string | null;
  clusters: Record<string, ClusterState>;
  durationMs: number;
  /** A human-readable explanation for anything but `rotated`. */
  error?: string;
  /** Alternating credentials only: which user is where, and what the rotation did besides passwords. */
  alternating?: AlternatingSummary;
}

/** What an alternating rotation reports beside the common result. No password. */
export interface AlternatingSummary {
  /** The user under AWSCURRENT at the end (consumers get it). */
  currentUser: string;
  /** The user under AWSPREVIOUS at the end (still valid until the next rotation), null before onboarding. */
  previousUser: string | null;
  /** Turns run: 1, or 2 for a leak of the active user's password. */
  turns: number;
  /** True when this rotation created the second user (onboarding with admin). */
  onboarded?: boolean;
  /** Role changes made with admin so the two users hold the same roles. */
  rolesAligned?: { user: string; granted: string[]; revoked: string[] };
  /** Roles that differ between the users (roles_differ): what the active user holds that the other lacks, and the reverse. */
  rolesDiffer?: { cluster: string; missing: string[]; extra: string[] }[];
  /** grace_not_elapsed: when the rotation becomes possible (ISO 8601). */
  notBefore?: string;
  /**
   * When the grace of the user under AWSPREVIOUS ends (ISO 8601): from then on a scheduled or
   * manual rotation is allowed. Set when this rotation promoted (the instant it saw AWSCURRENT
   * moved + graceMs) or was refused by the grace (= notBefore); absent otherwise.
   */
  graceEndsAt?: string;
}

/** Progress events that logging, metrics and audit consume. No event carries a password. */
export type RotationEvent =
  | { type: 'step-begin'; credential: string; rotationId: string; step: Step }
  | { type: 'step-end'; credential: string; rotationId: string; step: Step; durationMs: number; ok: boolean }
  | { type: 'cluster'; credential: string; rotationId: string; cluster: string; state: ClusterState; detail?: string }
  | { type: 'outcome'; result: RotationResult };
