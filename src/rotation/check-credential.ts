import { STRATEGY, usernamesOf, type CredentialConfig } from '../config/types.ts';
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError, coerceError } from '../errors.ts';
import type { ClusterClient } from '../milvus/types.ts';
import { STAGE, type SecretStore } from '../secrets/types.ts';
import { ENGINE_DEFAULTS } from './engine.ts';
import { EXIT, type ExitCode } from './exit-code.ts';
import { parseCredentialSecret } from './secret-value.ts';
import type { PendingOwner } from './strategy.ts';

/** The verdict of one credential check (`verify`, reconcile, the demo). */
export const CHECK_STATUS = {
  /** Every cluster accepts AWSCURRENT; no stale pending version. */
  ok: 'ok',
  /** A pending version younger than the lease: a rotation is under way (clusters may disagree meanwhile). */
  inProgress: 'in_progress',
  /**
   * A pending version no rotation will finish: older than the lease (an interrupted rotation), or
   * left by a rotation the queue knows has ended (rolled back or failed with AWSPENDING not
   * removed) while no other rotation of the credential is queued. Resume or settle it.
   */
  stalePending: 'stale_pending',
  /** A cluster gave no answer. */
  unreachable: 'unreachable',
  /** Secrets Manager could not be read. */
  secretsManagerError: 'secrets_manager_error',
  /** A cluster rejects AWSCURRENT: consumers cannot log in there. */
  drift: 'drift',
  /** The secret is missing, not a credential, or names another user. */
  secretInvalid: 'secret_invalid',
} as const;
export type CheckStatus = (typeof CHECK_STATUS)[keyof typeof CHECK_STATUS];

export interface CredentialCheck {
  credential: string;
  status: CheckStatus;
  currentVersionId: string | null;
  /** A pending version on another version than AWSCURRENT (a rotation in progress or interrupted). */
  pendingVersionId: string | null;
  pendingAgeMs: number | null;
  /**
   * With a pending version younger than the lease, when the queue was asked (`pendingOwner` in the
   * deps): whether a rotation will still act on it (`running`), none will (`ended`), or the queue
   * does not know its rotation (`unknown`: a `rotate` run, a trimmed job, or Redis could not be asked).
   */
  pendingOwner?: PendingOwner;
  clusters: Record<string, 'accepted' | 'rejected' | 'unknown'>;
  /**
   * Alternating credentials: the user AWSCURRENT names, and the retired user under AWSPREVIOUS
   * with what each cluster answers to its password (consumers that read the secret before the
   * last promotion still use it). `previous` is null before onboarding (AWSPREVIOUS names no other user).
   */
  users?: {
    current: string;
    previous: { username: string; versionId: string; clusters: Record<string, 'accepted' | 'rejected' | 'unknown'> } | null;
  };
  error?: string;
}

export interface CheckDeps {
  store: SecretStore;
  cluster: (name: string) => ClusterClient;
  now?: () => number;
  /** A pending version older than this is stale. Default: the engine's pending lease. */
  staleAfterMs?: number;
  /**
   * Whether a rotation will still act on a young pending version (RotationQueue.pendingVersionOwner).
   * Without it, or when it throws, the owner is `unknown` and only the age decides.
   */
  pendingOwner?: (credentialId: string, versionId: string) => Promise<PendingOwner>;
}

/**
 * What a pending version (AWSPENDING on another version than AWSCURRENT) makes of a check. The cases:
 *  1. its age is unknown, or at least the lease: stale (no live rotation holds it that long);
 *  2. younger, and its rotation ended with no other rotation of the credential queued (the queue
 *     says `ended`): stale. A rotation that rolled back or failed and could not remove AWSPENDING
 *     left it; nothing will finish it before the lease runs out (the same test makes a rotation
 *     adopt it at once and reconcile resume it at once);
 *  3. younger, its rotation running or not known to the queue: in progress.
 */
export function pendingVerdict(input: { ageMs: number | null; staleAfterMs: number; owner: PendingOwner }): { status: typeof CHECK_STATUS.stalePending | typeof CHECK_STATUS.inProgress; why: 'age' | 'ended' | null } {
  if (input.ageMs === null || input.ageMs >= input.staleAfterMs) return { status: CHECK_STATUS.stalePending, why: 'age' }; // case 1
  if (input.owner === 'ended') return { status: CHECK_STATUS.stalePending, why: 'ended' }; // case 2
  return { status: CHECK_STATUS.inProgress, why: null }; // case 3
}

/** Is AWSCURRENT accepted on every cluster, and is there a stale pending version? Changes nothing. */
export async function checkCredential(deps: CheckDeps, credential: CredentialConfig): Promise<CredentialCheck> {
  const now = deps.now ?? Date.now;
  const staleAfterMs = deps.staleAfterMs ?? ENGINE_DEFAULTS.pendingLeaseMs;
  const report: CredentialCheck = {
    credential: credential.id,
    status: CHECK_STATUS.ok,
    currentVersionId: null,
    pendingVersionId: null,
    pendingAgeMs: null,
    clusters: {},
  };
  let current;
  let versions;
  try {
    [current, versions] = await Promise.all([deps.store.getByStage(credential.secretId, STAGE.current), deps.store.describe(credential.secretId)]);
  } catch (err) {
    const e = coerceError(err);
    const notFound = e instanceof RotatorError && e.code === ERROR_CODE.secretNotFound;
    return { ...report, status: notFound ? CHECK_STATUS.secretInvalid : CHECK_STATUS.secretsManagerError, error: e.message };
  }
  const secret = current ? parseCredentialSecret(current.value) : null;
  if (!current || !secret) return { ...report, status: CHECK_STATUS.secretInvalid, error: 'no AWSCURRENT value with string username and password' };
  report.currentVersionId = current.versionId;
  const users = usernamesOf(credential);
  if (!users.includes(secret.username)) {
    return { ...report, status: CHECK_STATUS.secretInvalid, error: `the secret belongs to another user than ${users.map((u) => `"${u}"`).join(' or ')}` };
  }

  const pendingId = Object.keys(versions.versions).find((id) => id !== current.versionId && versions.versions[id]?.includes(STAGE.pending));
  const probeAll = (username: string, password: string): Promise<(readonly [string, 'accepted' | 'rejected' | 'unknown'])[]> =>
    Promise.all(credential.clusters.map(async (name) => [name, (await deps.cluster(name).probe(username, password)).kind] as const));
  const retired = credential.strategy === STRATEGY.alternating ? await retiredUser(deps.store, credential.secretId, secret.username, users) : null;
  const [answers, retiredAnswers] = await Promise.all([probeAll(secret.username, secret.password), retired ? probeAll(retired.username, retired.password) : null]);
  report.clusters = Object.fromEntries(answers);
  if (credential.strategy === STRATEGY.alternating) {
    report.users = {
      current: secret.username,
      previous: retired && retiredAnswers ? { username: retired.username, versionId: retired.versionId, clusters: Object.fromEntries(retiredAnswers) } : null,
    };
  }
  if (pendingId) {
    report.pendingVersionId = pendingId;
    try {
      const pending = (await deps.store.listVersions(credential.secretId)).find((v) => v.versionId === pendingId);
      report.pendingAgeMs = pending?.createdDate ? now() - pending.createdDate.getTime() : null;
    } catch {
      report.pendingAgeMs = null;
    }
  }

  // A pending version explains clusters that reject AWSCURRENT: resuming settles them.
  if (pendingId) {
    const ageMs = report.pendingAgeMs;
    const young = ageMs !== null && ageMs < staleAfterMs;
    // The queue is asked only about a young version: an old one is stale whoever wrote it.
    let owner: PendingOwner = 'unknown';
    if (young && deps.pendingOwner) {
      owner = await deps.pendingOwner(credential.id, pendingId).catch(() => 'unknown' as const);
      report.pendingOwner = owner;
    }
    const verdict = pendingVerdict({ ageMs, staleAfterMs, owner });
    if (verdict.why === 'age') return { ...report, status: verdict.status, error: `pending version ${pendingId} is stale: resume it with recover` };
    if (verdict.why === 'ended') {
      return {
        ...report,
        status: verdict.status,
        error: `pending version ${pendingId} was left by a rotation that has ended (rolled back or failed, AWSPENDING not removed) and no rotation of the credential is queued: nothing will finish it; resume it with recover`,
      };
    }
    return { ...report, status: verdict.status };
  }
  // The retired user of an alternating credential must still log in: consumers may hold it.
  const retiredRejecting = (retiredAnswers ?? []).filter(([, kind]) => kind === 'rejected').map(([name]) => name);
  if (answers.some(([, kind]) => kind === 'rejected') || retiredRejecting.length > 0) {
    // The labels were read before the probes: a rotation that wrote AWSPENDING and set the
    // clusters in between makes a healthy credential look drifted. Read them again; if they
    // moved, a rotation is under way (found by the chaos soak: a slow read opened the window).
    if (await labelsMoved(deps.store, credential.secretId, current.versionId)) return { ...report, status: CHECK_STATUS.inProgress };
    const rejecting = answers.filter(([, kind]) => kind === 'rejected').map(([name]) => name);
    const problems = [
      ...(rejecting.length > 0 ? [`AWSCURRENT is rejected by ${rejecting.join(', ')}`] : []),
      ...(retiredRejecting.length > 0 ? [`AWSPREVIOUS (user ${retired?.username ?? '?'}) is rejected by ${retiredRejecting.join(', ')}`] : []),
    ];
    return { ...report, status: CHECK_STATUS.drift, error: problems.join('; ') };
  }
  if ([...answers, ...(retiredAnswers ?? [])].some(([, kind]) => kind === 'unknown')) return { ...report, status: CHECK_STATUS.unreachable, error: 'a cluster gave no answer' };
  return report;
}

/** The other user's credential under AWSPREVIOUS, or null when AWSPREVIOUS names no other configured user (not onboarded yet). */
async function retiredUser(store: SecretStore, secretId: string, currentUser: string, users: readonly string[]): Promise<{ username: string; password: string; versionId: string } | null> {
  const version = await store.getByStage(secretId, STAGE.previous).catch(() => null);
  const secret = version ? parseCredentialSecret(version.value) : null;
  if (!version || !secret || secret.username === currentUser || !users.includes(secret.username)) return null;
  return { username: secret.username, password: secret.password, versionId: version.versionId };
}

/** True when AWSCURRENT moved away from `currentVersionId` or a pending version appeared beside it. */
async function labelsMoved(store: SecretStore, secretId: string, currentVersionId: string): Promise<boolean> {
  try {
    const { versions } = await store.describe(secretId);
    return Object.entries(versions).some(
      ([id, stages]) => (stages.includes(STAGE.current) && id !== currentVersionId) || (stages.includes(STAGE.pending) && id !== currentVersionId),
    );
  } catch {
    return false;
  }
}

/** verify's exit code for one check: 0 ok or in progress, 1 stale (a rotation ended or interrupted) or unreachable (AWSCURRENT or AWSPENDING still valid), 3 drift. */
export function exitCodeOfCheck(status: CheckStatus): ExitCode {
  switch (status) {
    case CHECK_STATUS.ok:
    case CHECK_STATUS.inProgress:
      return EXIT.ok;
    case CHECK_STATUS.stalePending:
    case CHECK_STATUS.unreachable:
    case CHECK_STATUS.secretsManagerError:
      return EXIT.failed;
    case CHECK_STATUS.drift:
    case CHECK_STATUS.secretInvalid:
      return EXIT.needsAttention;
    default: {
      const unreachable: never = status;
      throw new Error(`unknown status ${String(unreachable)}`);
    }
  }
}
