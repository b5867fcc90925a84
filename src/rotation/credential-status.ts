import { STRATEGY, type CredentialConfig } from '../config/types.ts';
import { nextRun } from '../config/schedule.ts';
import { coerceError } from '../errors.ts';
import { STAGE, type SecretStore } from '../secrets/types.ts';
import { graceStartsAt } from './alternating-plan.ts';

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
   * Alternating only: when the grace of the user retired by the last promotion ends (graceMs after
   * that promotion, as the strategy counts it: graceStartsAt in alternating-plan.ts), i.e. from when
   * a scheduled or manual rotation is allowed; null when unknown.
   */
  graceEndsAt?: string | null;
  error?: string;
}

/**
 * A credential's rotation status from version metadata only (ListSecretVersionIds reads no
 * value, so no password is even fetched): last rotation, its age, versions, pending, next run.
 * An alternating credential's grace also needs the secret's LastChangedDate: one DescribeSecret.
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
    const alternating = credential.strategy === STRATEGY.alternating;
    const [versions, description] = await Promise.all([store.listVersions(credential.secretId), alternating ? store.describe(credential.secretId) : null]);
    const current = versions.find((v) => v.stages.includes(STAGE.current));
    const previous = versions.find((v) => v.stages.includes(STAGE.previous));
    const pending = versions.find((v) => v.stages.includes(STAGE.pending) && !v.stages.includes(STAGE.current));
    status.currentVersionId = current?.versionId ?? null;
    status.lastRotatedAt = current?.createdDate?.toISOString() ?? null;
    status.ageMs = current?.createdDate ? now - current.createdDate.getTime() : null;
    status.previousVersionId = previous?.versionId ?? null;
    status.pendingVersionId = pending?.versionId ?? null;
    status.pendingAgeMs = pending?.createdDate ? now - pending.createdDate.getTime() : null;
    if (alternating) {
      const start = current
        ? graceStartsAt({
            current: { createdAt: current.createdDate?.getTime() ?? null, carriesPending: current.stages.includes(STAGE.pending) },
            previous: previous ? { createdAt: previous.createdDate?.getTime() ?? null } : null,
            lastChangedAt: description?.lastChangedDate?.getTime() ?? null,
            graceMs: credential.graceMs,
          })
        : null;
      status.graceEndsAt = start === null ? null : new Date(start + credential.graceMs).toISOString();
    }
  } catch (err) {
    status.error = coerceError(err).message;
  }
  return status;
}

