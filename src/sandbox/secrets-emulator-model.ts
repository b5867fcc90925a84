/**
 * The emulator's data: secrets, their versions and staging labels, and the one rule everything else
 * leans on, "each label sits on at most one version" (spec/secrets-manager.md section 1.1), kept by
 * attachLabel() for every label, not only AWSCURRENT (moto and floci got this wrong, spec 2.4).
 */

export const LABEL = {
  current: 'AWSCURRENT',
  pending: 'AWSPENDING',
  previous: 'AWSPREVIOUS',
} as const;

/** A version's value: SecretString text or SecretBinary bytes. */
export type SecretValue = { kind: 'string'; text: string } | { kind: 'binary'; bytes: Buffer };

export interface StoredVersion {
  readonly versionId: string;
  readonly value: SecretValue;
  /** Staging labels in the order they were attached. Empty = deprecated. */
  stages: string[];
  /** Epoch seconds. */
  readonly createdDateSec: number;
  /** Epoch seconds, truncated to the day as AWS reports it. */
  lastAccessedDateSec?: number;
}

export interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  readonly description?: string;
  readonly kmsKeyId?: string;
  /** Epoch seconds. */
  readonly createdDateSec: number;
  lastChangedDateSec: number;
  lastAccessedDateSec?: number;
  /** When DeleteSecret was called (epoch seconds); set while the secret is scheduled for deletion. */
  deletedDateSec?: number;
  /** When a scheduled deletion becomes final (epoch seconds). */
  purgeAtSec?: number;
  /** Versions in creation order. */
  readonly versions: Map<string, StoredVersion>;
}

/** The version carrying `stage`, if any. */
export function holderOf(secret: StoredSecret, stage: string): StoredVersion | undefined {
  for (const version of secret.versions.values()) {
    if (version.stages.includes(stage)) return version;
  }
  return undefined;
}

export function detachLabel(version: StoredVersion, stage: string): void {
  version.stages = version.stages.filter((label) => label !== stage);
}

/**
 * Puts `stage` on `target`, taking it off whichever version had it. Moving AWSCURRENT also moves
 * AWSPREVIOUS to the version AWSCURRENT left (spec 2.2, AWS-verified), and leaves every other label of
 * both versions alone: moto's reset_default_version overwrote the old version's labels (spec 2.4).
 */
export function attachLabel(secret: StoredSecret, stage: string, target: StoredVersion): void {
  const holder = holderOf(secret, stage);
  if (holder === target) return;
  if (holder) detachLabel(holder, stage);
  target.stages.push(stage);
  if (stage === LABEL.current && holder) attachLabel(secret, LABEL.previous, holder);
}

export function sameValue(a: SecretValue, b: SecretValue): boolean {
  if (a.kind === 'string' && b.kind === 'string') return a.text === b.text;
  if (a.kind === 'binary' && b.kind === 'binary') return a.bytes.equals(b.bytes);
  return false;
}

/** VersionId -> labels, for versions that carry at least one label (DescribeSecret's VersionIdsToStages). */
export function labelledVersions(secret: StoredSecret): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const version of secret.versions.values()) {
    if (version.stages.length > 0) result[version.versionId] = [...version.stages];
  }
  return result;
}
