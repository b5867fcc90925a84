import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError, describeError } from '../errors.ts';
import { STAGE } from '../secrets/types.ts';
import { SECRETS_WRITE } from './fence-point.ts';
import type { RotationRun, StepResult } from './rotation-run.ts';
import { parseCredentialSecret, type CredentialSecret } from './secret-value.ts';
import type { StrategyContext } from './strategy.ts';
import { OUTCOME, REASON, type RotationResult } from './types.ts';
import { isThrottled, throttledFor, writeThroughFence } from './write-retry.ts';

/**
 * The version a rotation writes under AWSPENDING, through its life in Secrets Manager: found on
 * load, written ahead of every cluster, promoted (and read back), or abandoned. Both strategies
 * write it the same way; what they put in it and what they do when a step fails differ.
 */

/** The version labelled AWSPENDING other than AWSCURRENT (AWSPENDING beside AWSCURRENT is a finished rotation), if any. */
export function pendingVersionId(labels: Record<string, string[]>, currentVersionId: string): string | undefined {
  return Object.keys(labels).find((id) => labels[id]?.includes(STAGE.pending) && id !== currentVersionId);
}

/** A pending version as load reads it. */
export interface PendingRead {
  /** The store gave a value (RotateSecret's placeholder has none: write ahead fills it). */
  found: boolean;
  /** Its credential; null when it has no value, or one that is not a credential JSON. */
  secret: CredentialSecret | null;
  /** When it was written (epoch ms); null when the service gave no date (treated as young: never guess). */
  createdAt: number | null;
  /** Its age now (ms); null without a creation date. */
  ageMs: number | null;
}

/** Reads the pending version `versionId`. Throws what the store throws (load maps it: RotationRun.readFailed). */
export async function readPending(ctx: StrategyContext, secretId: string, versionId: string): Promise<PendingRead> {
  const version = await ctx.store.getByVersion(secretId, versionId);
  const createdAt = version?.createdDate?.getTime() ?? null;
  return { found: version !== null, secret: version ? parseCredentialSecret(version.value) : null, createdAt, ageMs: createdAt === null ? null : ctx.now() - createdAt };
}

/**
 * Writes `value` under AWSPENDING as version `token`, behind its fence, before any cluster sees
 * it; a throttled write is sent again behind the fence (writeThroughFence). The caller never
 * regenerates an existing pending value: PutSecretValue is idempotent only for the same token and
 * value (spec/secrets-manager.md 2.2), so a conflict means this rotation id already wrote
 * something else (rotation_id_spent). Still throttled past the retries: secrets_throttled, with
 * nothing changed (the worker puts the job back).
 */
export async function writePending(ctx: StrategyContext, run: RotationRun, token: string, value: string): Promise<StepResult<CredentialSecret, RotationResult>> {
  const { secretId } = run.req.credential;
  const written = await writeThroughFence(ctx, SECRETS_WRITE.putPending, () => ctx.store.putPending(secretId, token, value));
  if (!written.ok) {
    const err = written.error;
    if (err instanceof RotatorError && err.code === ERROR_CODE.secretVersionConflict) {
      return run.stop(OUTCOME.failed, REASON.rotationIdSpent, `rotation ${token} already wrote another value to secret "${secretId}"; start a new rotation`);
    }
    if (isThrottled(err)) return run.stop(OUTCOME.failed, REASON.secretsThrottled, `${describeError(err)} (${throttledFor(written)}); nothing was changed`);
    return run.stop(OUTCOME.failed, REASON.secretsManagerError, describeError(err));
  }
  const pending = parseCredentialSecret(value);
  if (!pending) throw new Error('a generated secret value did not parse back');
  return { ok: pending };
}

/**
 * What promoting showed once the labels were read back. The cases:
 *  1. `promoted`: AWSCURRENT is on the new version.
 *  2. `unknown`: the labels could not be read back; whether AWSCURRENT moved is not known.
 *  3. `throttled`: AWSCURRENT did not move because Secrets Manager throttled every attempt to move
 *     it (writeThroughFence's retries): the quota, not the secret, said no; another attempt moves it.
 *  4. `not-moved`: AWSCURRENT is elsewhere (the promote call failed otherwise, or someone moved it).
 * `why` explains cases 2 to 4.
 */
export type Promoted = { kind: 'promoted' } | { kind: 'unknown'; why: string } | { kind: 'throttled'; why: string } | { kind: 'not-moved'; why: string };

/**
 * Moves AWSCURRENT to version `token` (AWSPREVIOUS follows), then reads the labels back: the
 * answer of UpdateSecretVersionStage may be lost, the labels are the truth. AWSPENDING is left on
 * the new version (decided, docs/design.md section 5): with AWSCURRENT beside it that is AWS's documented
 * "rotation complete" state (spec/secrets-manager.md 1.1), and leaving it saves one write of the
 * shared 50/s quota and one round trip per rotation.
 */
export async function promotePending(ctx: StrategyContext, run: RotationRun, token: string, currentVersionId: string): Promise<Promoted> {
  const { secretId } = run.req.credential;
  const moved = await writeThroughFence(ctx, SECRETS_WRITE.promote, () => ctx.store.promote(secretId, token, { currentVersionId, keepPendingLabel: true }));
  const promoteError = moved.ok ? null : moved.error;
  let labels: Record<string, string[]>;
  try {
    labels = (await ctx.store.describe(secretId)).versions;
  } catch (err) {
    return { kind: 'unknown', why: `could not confirm AWSCURRENT moved: ${describeError(promoteError ?? err)}` }; // case 2
  }
  if (labels[token]?.includes(STAGE.current)) return { kind: 'promoted' }; // case 1
  if (!moved.ok && isThrottled(promoteError)) return { kind: 'throttled', why: `AWSCURRENT did not move: ${describeError(promoteError)} (${throttledFor(moved)})` }; // case 3
  return { kind: 'not-moved', why: `AWSCURRENT did not move: ${describeError(promoteError ?? new Error('end state differs'))}` }; // case 4
}

/** The message of promote_failed (AWSCURRENT not moved with every cluster on the new password: leak mode, or throttled), for both strategies. */
export function promoteFailedMessage(why: string): string {
  return `${why}; every cluster holds the new password, AWSPENDING kept: the same rotation promotes it when run again`;
}

/**
 * Drops AWSPENDING from the abandoned version `token`, or moves it back onto `returnTo` (AWSCURRENT;
 * the alternating strategy's leak mode keeps the grace's evidence so: alternating-plan.ts,
 * graceStartsAt). A throttled write is sent again behind the fence (writeThroughFence). A failure
 * leaves a stale pending version that the next run or reconcile adopts, so it is a note for the
 * message, not a failure; what the fence throws (a lost lease) goes through.
 */
export async function abandonPending(ctx: StrategyContext, run: RotationRun, token: string, returnTo?: string): Promise<string> {
  const dropped = await writeThroughFence(ctx, SECRETS_WRITE.abandon, () => ctx.store.abandon(run.req.credential.secretId, token, returnTo === undefined ? {} : { returnTo }));
  if (dropped.ok) return '';
  const throttled = isThrottled(dropped.error) ? ` (${throttledFor(dropped)})` : '';
  return `; AWSPENDING could not be removed (${describeError(dropped.error)}${throttled})`;
}
