/**
 * The decisions of the alternating strategy, as pure functions (no I/O, no clock): which user a
 * rotation changes, under which version id, whether it resumes, onboards, waits out the grace or
 * is refused, how many turns a leak takes, and which roles make the two users differ. The
 * strategy (alternating-strategy.ts) reads the facts, asks these, and carries out the answer.
 *
 * The model (docs/design.md section 5, alternating users): AWSCURRENT holds one user's credential (the
 * active user, the one consumers are given), AWSPREVIOUS the other's (the retired user, which
 * consumers that read the secret before the last promotion still use). A turn changes the
 * retired user's password, writes it ahead under AWSPENDING, sets it on every cluster, verifies,
 * and promotes it: the two users swap roles.
 */
import { MODE, OUTCOME, REASON, type Mode, type Outcome, type Reason } from './types.ts';

/** What the load step read, reduced to what the decision needs. Holds no password. */
export interface AlternatingFacts {
  usernames: readonly [string, string];
  rotationId: string;
  mode: Mode;
  /** Adopt a foreign pending version whatever its age (`recover`). */
  recover: boolean;
  /** Unix ms. */
  now: number;
  graceMs: number;
  pendingLeaseMs: number;
  hasAdmin: boolean;
  /** Leak mode: the user whose password leaked, when the alert says; undefined = unknown (both may have). */
  leakedUsername?: string;
  /**
   * AWSCURRENT: `createdAt` is its CreatedDate (its write ahead, unix ms); `carriesPending`: AWSPENDING
   * sits on it too (the engine promotes without taking the label off; a later write ahead moves it).
   */
  current: { versionId: string; username: string; createdAt: number | null; carriesPending: boolean };
  /** AWSPREVIOUS's credential (`createdAt`: its CreatedDate, unix ms), or null when there is none (or it is not a credential). */
  previous: { username: string; createdAt: number | null } | null;
  /** DescribeSecret's LastChangedDate (unix ms): the last write of any kind to the secret; null when the service gave none. */
  lastChangedAt: number | null;
  /** AWSPENDING on a version other than AWSCURRENT; `username` null for a placeholder without a value. */
  pending: { versionId: string; username: string | null; createdAt: number | null } | null;
  /** Every version id that carries a label (a rotation id found there has been used). */
  labelledVersionIds: readonly string[];
}

/** One turn: the user it changes, the version it writes (or resumes), and what comes after. */
export interface Turn {
  kind: 'turn';
  /** The version id: the rotation id for the first turn, secondRotationId() for a leak's second. */
  token: string;
  turn: 1 | 2;
  /** The user whose password this turn changes (the one that is not AWSCURRENT). */
  user: string;
  /** The AWSCURRENT user, which must keep working on every cluster throughout. */
  active: string;
  /** A pending version exists for this token: clusters may already hold its password. */
  resume: boolean;
  /** The second user does not exist yet for the rotator: create it (admin) instead of changing it. */
  onboard: boolean;
  /** Turns still to run after this one (a leak of the active user's password takes two). */
  remaining: 0 | 1;
}

export type AlternatingDecision =
  | Turn
  /** Nothing to write: the rotation already finished (a crash after promoting); confirm the clusters. */
  | { kind: 'done' }
  /** Refused before anything is written. `notBefore` (unix ms) when waiting makes it possible. */
  | { kind: 'stop'; outcome: Outcome; reason: Reason; error: string; notBefore?: number };

/**
 * The version id of a leak's second turn: the rotation id with a suffix, within the 64-character
 * limit of ClientRequestToken, never equal to the rotation id. Derived, not stored, so a fresh
 * engine resuming the same rotation finds the same second version.
 */
export function secondRotationId(rotationId: string): string {
  const base = rotationId.length > 62 ? rotationId.slice(0, 62) : rotationId;
  const candidate = `${base}-2`;
  return candidate === rotationId ? `${base}-3` : candidate;
}

/** The other user of the pair. */
export function otherUser(usernames: readonly [string, string], user: string): string {
  return usernames[0] === user ? usernames[1] : usernames[0];
}

/**
 * Whether a leak needs a second turn after the first: the first turn changes the retired user; if
 * the leaked password may be the active user's (the alert says so, or does not say), that user
 * must be changed too, once it is retired. `rotatedUser` is the user the first turn changed.
 */
export function leakNeedsSecondTurn(leakedUsername: string | undefined, rotatedUser: string): boolean {
  return leakedUsername !== rotatedUser;
}

/** What graceStartsAt reads: a part of AlternatingFacts, so that `status` asks the same function. */
export interface GraceFacts {
  current: { createdAt: number | null; carriesPending: boolean };
  previous: { createdAt: number | null } | null;
  lastChangedAt: number | null;
  graceMs: number;
}

/**
 * When the grace of the retired user (AWSPREVIOUS's) began, unix ms; null when no date is known.
 * The grace runs from the promotion that retired the user (consumers start reading the other user
 * then), and Secrets Manager keeps no promotion time. It keeps AWSCURRENT's CreatedDate (its write
 * ahead: a rotation's duration before the promotion, or far more when the rotation was cut and
 * resumed late, docs/reliability.md finding 4) and the secret's LastChangedDate (its last write of
 * any kind). Never earlier than the creation. The cases:
 *  1. AWSPREVIOUS was created after AWSCURRENT: no promotion put it there (a promotion retires the
 *     version that was AWSCURRENT, written before the new one); an operator stored it (onboarding
 *     without admin, docs/operations.md). Nobody was handed it under AWSCURRENT: the creation.
 *  2. AWSPENDING sits on AWSCURRENT: the engine promoted that version and left the label there
 *     (docs/design.md section 5). A later write ahead would have moved it, and a leak rotation that
 *     gives up before touching a cluster moves it back. So nothing has rotated since the promotion,
 *     and LastChangedDate is the promotion or a later edit (which only makes the grace start later).
 *  3. AWSPENDING on no version: a later rotation wrote ahead and gave up (failed, rolled back).
 *     Scheduled or manual, it was admitted only `graceMs` after the promotion (case 2 then held),
 *     so its last write came at least `graceMs` after the creation and the grace is over: the
 *     creation, which never holds back its retry. A last change sooner than that was no such
 *     rotation (an edit by hand, a leak of an older rotator that gave up): it may follow a recent
 *     promotion, so it counts.
 *  Without LastChangedDate, the creation; without the creation, LastChangedDate; with neither, null
 *  (no refusal, as before: the service always gives both).
 */
export function graceStartsAt(facts: GraceFacts): number | null {
  const created = facts.current.createdAt;
  const changed = facts.lastChangedAt;
  if (created === null) return changed;
  if (changed === null || changed <= created) return created;
  // Case 1.
  const previousCreated = facts.previous?.createdAt ?? null;
  if (previousCreated !== null && previousCreated > created) return created;
  // Case 2.
  if (facts.current.carriesPending) return changed;
  // Case 3.
  return changed < created + facts.graceMs ? changed : created;
}

/**
 * The decision, in this order (each case labelled where it is handled):
 *  1. AWSCURRENT names neither configured user: refuse (never rotate somebody else's user).
 *  2. AWSCURRENT is this rotation's second version: everything finished; confirm.
 *  3. AWSCURRENT is this rotation's first version: finished, unless a leak needs the second turn.
 *  4. A pending version exists:
 *     a. this rotation's (first or second version): resume it;
 *     b. foreign and younger than the lease, without `recover`: refuse (its owner may be alive);
 *     c. foreign and older, or `recover`: adopt it as the first turn;
 *     in every case it must be a credential of the retired user (or a placeholder without value).
 *  5. The rotation id already ended under another label: refuse.
 *  6. AWSPREVIOUS names no other configured user (a single-user secret): onboard the second user
 *     with `admin`, else refuse with what the operator must do (needs attention).
 *  7. Scheduled or manual, sooner than `graceMs` after the last promotion (graceStartsAt): refuse
 *     until then (the retired user may still be held by consumers). Leak mode ignores the grace.
 *  8. Otherwise: a fresh first turn.
 */
export function decideAlternating(facts: AlternatingFacts): AlternatingDecision {
  const { usernames, rotationId, mode, current, previous, pending } = facts;
  // Case 1.
  if (!usernames.includes(current.username)) {
    return stop(OUTCOME.failed, REASON.usernameMismatch, `AWSCURRENT names user "${current.username}", neither of ${usernames.map((u) => `"${u}"`).join(' and ')}; refusing to rotate it`);
  }
  const retired = otherUser(usernames, current.username);
  const secondId = secondRotationId(rotationId);
  const onboard = previous?.username !== retired;
  const remainingAfter = (user: string): 0 | 1 => (mode === MODE.leak && leakNeedsSecondTurn(facts.leakedUsername, user) ? 1 : 0);
  const turn = (token: string, n: 1 | 2, resume: boolean): Turn => ({
    kind: 'turn',
    token,
    turn: n,
    user: retired,
    active: current.username,
    resume,
    onboard,
    remaining: n === 2 ? 0 : remainingAfter(retired),
  });

  // Case 2.
  if (current.versionId === secondId) return { kind: 'done' };
  // Case 3: the first turn changed (and promoted) the user now under AWSCURRENT.
  const firstDone = current.versionId === rotationId;
  if (firstDone && !(mode === MODE.leak && leakNeedsSecondTurn(facts.leakedUsername, current.username))) return { kind: 'done' };

  // Case 4.
  if (pending) {
    if (pending.username !== null && pending.username !== retired) {
      return stop(OUTCOME.needsAttention, REASON.secretInvalid, `pending version ${pending.versionId} holds user "${pending.username}", not the retired user "${retired}"`);
    }
    if (pending.versionId === secondId || (firstDone && pending.versionId !== rotationId)) {
      // 4a (second turn), or a foreign version found after our first turn: it is the second's to finish.
      if (pending.versionId !== secondId && !adoptable(facts, pending)) return inProgress(pending.versionId);
      return turn(pending.versionId, 2, pending.username !== null);
    }
    if (pending.versionId === rotationId) return turn(rotationId, 1, pending.username !== null); // 4a
    if (!adoptable(facts, pending)) return inProgress(pending.versionId); // 4b
    return turn(pending.versionId, 1, pending.username !== null); // 4c
  }
  // Case 6 (for either fresh turn).
  const notOnboarded =
    onboard && !facts.hasAdmin
      ? stop(
          OUTCOME.needsAttention,
          REASON.onboardingRequired,
          `AWSPREVIOUS holds no credential of user "${retired}": create that user on every cluster with the roles of "${current.username}" and store its credential under AWSPREVIOUS once (docs/operations.md, onboarding), or configure admin`,
        )
      : null;
  if (firstDone) return notOnboarded ?? turn(secondId, 2, false);

  // Case 5.
  if (facts.labelledVersionIds.includes(rotationId)) {
    return stop(OUTCOME.failed, REASON.rotationIdSpent, `rotation ${rotationId} already ended; start a new rotation`);
  }
  if (notOnboarded) return notOnboarded;
  // Case 7.
  const graceStart = mode === MODE.leak || onboard ? null : graceStartsAt(facts);
  if (graceStart !== null && facts.now < graceStart + facts.graceMs) {
    const notBefore = graceStart + facts.graceMs;
    return {
      ...stop(OUTCOME.failed, REASON.graceNotElapsed, `user "${retired}" was retired less than graceMs (${facts.graceMs} ms) ago; consumers may still use it. Possible from ${new Date(notBefore).toISOString()}, or now in leak mode`),
      notBefore,
    };
  }
  // Case 8.
  return turn(rotationId, 1, false);
}

/** 4b/4c: a foreign pending version may be adopted when `recover` says so or it outlived the lease. */
function adoptable(facts: AlternatingFacts, pending: NonNullable<AlternatingFacts['pending']>): boolean {
  if (facts.recover) return true;
  // A version without a creation date counts as young (refuse, never guess).
  const created = pending.createdAt ?? facts.now;
  return facts.now - created >= facts.pendingLeaseMs;
}

function inProgress(versionId: string): AlternatingDecision {
  return stop(OUTCOME.failed, REASON.rotationInProgress, `another rotation (version ${versionId}) is in progress; retry later or run recover`);
}

function stop(outcome: Outcome, reason: Reason, error: string): { kind: 'stop'; outcome: Outcome; reason: Reason; error: string } {
  return { kind: 'stop', outcome, reason, error };
}

/** `public` is held implicitly by every user; Milvus may or may not list it (spec section 14). */
const IMPLICIT_ROLES: ReadonlySet<string> = new Set(['public']);

/**
 * What makes the retired user's roles equal to the active user's, ignoring `public`: the roles to
 * grant and to revoke, sorted. Both empty when they already hold the same roles.
 */
export function roleDifference(activeRoles: readonly string[], retiredRoles: readonly string[]): { grant: string[]; revoke: string[] } {
  const active = new Set(activeRoles.filter((r) => !IMPLICIT_ROLES.has(r)));
  const retired = new Set(retiredRoles.filter((r) => !IMPLICIT_ROLES.has(r)));
  return {
    grant: [...active].filter((r) => !retired.has(r)).sort(),
    revoke: [...retired].filter((r) => !active.has(r)).sort(),
  };
}
