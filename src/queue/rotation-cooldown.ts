/**
 * The per-credential minimum interval between completed rotations (`rotation.minIntervalMs`) for
 * manual and scheduled requests. Leak requests are never refused (they coalesce instead, see
 * LeakFlags.recentAnswer).
 *
 * Why: each rotation kills the password consumers hold, and Secrets Manager prunes unlabelled
 * versions only beyond 100 and only when older than 24 h, so more than one PutSecretValue per
 * 10 minutes per secret, sustained, reaches the version quota; PutSecretValue then fails for every
 * rotation of that secret, leak rotations included, for up to a day.
 *
 * Where the last completed rotation is learned: Redis, at no AWS cost: `last-rotation`, written by
 * the rotation job on every rotated outcome (one HGET per request). The in-process `rotate`
 * command, which has no Redis, asks Secrets Manager instead (src/cli/rotate-command.ts); a
 * rotation it made is not seen here.
 */
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';
import { CREDENTIAL_FACT, type CredentialStateStore } from './credential-state.ts';

/** A manual or scheduled rotation refused because the credential was rotated too recently. */
export class CooldownError extends RotatorError {
  readonly credentialId: string;
  /** When the next manual or scheduled rotation of the credential is possible (unix ms). */
  readonly retryAtMs: number;

  constructor(credentialId: string, retryAtMs: number) {
    super(
      ERROR_CODE.rotationCooldown,
      `credential "${credentialId}" was rotated less than rotation.minIntervalMs ago; the next manual or scheduled rotation is possible at ${new Date(retryAtMs).toISOString()}`,
    );
    this.credentialId = credentialId;
    this.retryAtMs = retryAtMs;
  }
}

/** Whole seconds until `retryAtMs` (at least 1): the Retry-After value. */
export function retryAfterSeconds(retryAtMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((retryAtMs - nowMs) / 1000));
}

export class RotationCooldown {
  private readonly state: Pick<CredentialStateStore, 'readFacts'>;
  readonly minIntervalMs: number;
  private readonly nowMs: () => number;

  constructor(state: Pick<CredentialStateStore, 'readFacts'>, minIntervalMs: number, nowMs: () => number = Date.now) {
    this.state = state;
    this.minIntervalMs = minIntervalMs;
    this.nowMs = nowMs;
  }

  /** When the credential last completed a rotation, as far as Redis knows (unix ms), or null. */
  async lastCompletedAtMs(credentialId: string): Promise<number | null> {
    const facts = await this.state.readFacts(credentialId, [CREDENTIAL_FACT.lastRotation]);
    const seconds = facts[CREDENTIAL_FACT.lastRotation] ?? 0;
    return seconds > 0 ? seconds * 1000 : null;
  }

  /** Throws CooldownError while the credential is within its minimum interval. */
  async assertAllowed(credentialId: string): Promise<void> {
    const last = await this.lastCompletedAtMs(credentialId);
    if (last === null) return;
    const retryAtMs = last + this.minIntervalMs;
    if (retryAtMs > this.nowMs()) throw new CooldownError(credentialId, retryAtMs);
  }

  /** The refusal of a request that would queue behind a running rotation: possible once that one's interval has passed. */
  behindActive(credentialId: string): CooldownError {
    return new CooldownError(credentialId, this.nowMs() + this.minIntervalMs);
  }
}
