/**
 * The one thing the consumer helper and the rotator share: where and how a helper reports the
 * credential version it uses, so the rotator can count, per credential, the consumers on each
 * version. It imports nothing, so both sides (and both builds) can include it.
 *
 * Layout: one Redis hash per secret, `<prefix>:consumers:<secretId>`; one field per consumer
 * (a random id per helper instance); the value is JSON `{"versionId", "stage", "at"}` (`at` in
 * unix ms). No password, no username. The helper rewrites its field every `intervalMs` and on every
 * swap, and refreshes the key's expiry; a field older than `staleAfterMs` belongs to a consumer
 * that stopped (the reader ignores and removes it).
 */
export const HEARTBEAT_DEFAULTS = {
  /** The rotator's own default `redis.prefix`. */
  prefix: '{milvus-rotator}',
  intervalMs: 30_000,
  /** Three missed beats. */
  staleAfterMs: 90_000,
} as const;

export interface VersionHeartbeat {
  versionId: string;
  stage: string;
  /** Unix ms of the beat. */
  at: number;
}

export function heartbeatKey(prefix: string, secretId: string): string {
  return `${prefix}:consumers:${secretId}`;
}

export function encodeHeartbeat(beat: VersionHeartbeat): string {
  return JSON.stringify({ versionId: beat.versionId, stage: beat.stage, at: beat.at });
}

/** The beat in a hash field's value, or null when it is not one. */
export function decodeHeartbeat(value: string): VersionHeartbeat | null {
  try {
    const parsed = JSON.parse(value) as Partial<VersionHeartbeat>;
    if (typeof parsed.versionId !== 'string' || typeof parsed.stage !== 'string' || typeof parsed.at !== 'number') return null;
    return { versionId: parsed.versionId, stage: parsed.stage, at: parsed.at };
  } catch {
    return null;
  }
}
