import { STRATEGY, type CredentialConfig } from '../config/types.ts';
import { nextRun } from '../config/schedule.ts';
import { coerceError } from '../errors.ts';
import { STAGE, type SecretStore } from '../secrets/types.ts';

export interface CredentialStatus {
  credential: string;
  /** single or alternating. */
  strategy: CredentialConfig['strategy'];
  secretId: string;
  currentVersionId: string | null;
  /** When AWSCURRENT's version was created: the last rotation (or the secret's first value). */
  lastRotatedAt: string | null;
  ageMs: number | null;
  previousVersionId: string | null;
  pendingVersionId: string | null;
  pendingAgeMs: number | null;
  schedule: string;
  nextRunAt: string | null;
  /**
   * Alternating only: when the grace of the user retired by the last promotion ends (AWSCURRENT's
   * creation + graceMs), i.e. from when a scheduled or manual rotation is allowed; null when unknown.
   */
  graceEndsAt?: string | null;
  error?: string;
}

/**
 * A credential's rotation status from version metadata only (ListSecretVersionIds reads no
 * value, so no password is even fetched): last rotation, its age, versions, pending, next run.
 */
export async function statusOf(store: SecretStore, credential: CredentialConfig, now: number): Promise<CredentialStatus> {
  const next = nextRun(credential.schedule, credential.timezone, new Date(now));
  const status: CredentialStatus = {
    credential: credential.id,
    strategy: credential.strategy,
    secretId: credential.secretId,
    currentVersionId: null,
    lastRotatedAt: null,
    ageMs: null,
    previousVersionId: null,
    pendingVersionId: null,
    pendingAgeMs: null,
    schedule: credential.schedule,
    nextRunAt: next ? next.toISOString() : null,
  };
  try {
    const versions = await store.listVersions(credential.secretId);
    const current = versions.find((v) => v.stages.includes(STAGE.current));
    const previous = versions.find((v) => v.stages.includes(STAGE.previous));
    const pending = versions.find((v) => v.stages.includes(STAGE.pending) && !v.stages.includes(STAGE.current));
    status.currentVersionId = current?.versionId ?? null;
    status.lastRotatedAt = current?.createdDate?.toISOString() ?? null;
    status.ageMs = current?.createdDate ? now - current.createdDate.getTime() : null;
    status.previousVersionId = previous?.versionId ?? null;
    status.pendingVersionId = pending?.versionId ?? null;
    status.pendingAgeMs = pending?.createdDate ? now - pending.createdDate.getTime() : null;
    if (credential.strategy === STRATEGY.alternating) {
      status.graceEndsAt = current?.createdDate ? new Date(current.createdDate.getTime() + credential.graceMs).toISOString() : null;
    }
  } catch (err) {
    status.error = coerceError(err).message;
  }
  return status;
}


/**
 * What a caller read of an alternating credential's secret, for graceEndsAtOf: each part as far as
 * it was read (reconcile's drift check reads AWSCURRENT's value, and the labels only sometimes).
 */
export interface GraceReads {
  /** AWSCURRENT: its creation (unix ms, null when the service gave none) and whether AWSPENDING sits on it too. */
  current: { createdAt: number | null; carriesPending: boolean };
  /** AWSPREVIOUS's creation, when it was read; null otherwise. */
  previous: { createdAt: number | null } | null;
  /** DescribeSecret's LastChangedDate (unix ms), when it was read; null otherwise. */
  lastChangedAt: number | null;
}

/**
 * When the grace of the retired user ends (unix ms), outside a rotation: the strategy's rule
 * (decideAlternating case 7, and statusOf's graceEndsAt): AWSCURRENT's creation + graceMs. Null
 * when no date is known. Reconcile asks this, never a copy of it, so a change of the rule (the
 * grace counted from the promotion, which needs the parts of GraceReads it does not use yet)
 * reaches the metrics.
 */
export function graceEndsAtOf(graceMs: number, reads: GraceReads): number | null {
  return reads.current.createdAt === null ? null : reads.current.createdAt + graceMs;
}
