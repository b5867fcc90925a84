/**
 * What the rotation engine needs from Secrets Manager. Vendor (AWS SDK) types never cross this
 * line: the store maps them to these shapes and to the errors in ./errors.ts.
 */

export const STAGE = {
  current: 'AWSCURRENT',
  pending: 'AWSPENDING',
  previous: 'AWSPREVIOUS',
} as const;
export type Stage = (typeof STAGE)[keyof typeof STAGE];

/** A secret's metadata: which versions carry which staging labels (DescribeSecret). */
export interface SecretDescription {
  arn: string;
  name: string;
  /** VersionId -> staging labels, only versions with at least one label. */
  versions: Record<string, string[]>;
  lastChangedDate?: Date;
}

/** One version's value (GetSecretValue). */
export interface SecretVersion {
  versionId: string;
  stages: string[];
  /** SecretString: the JSON text of the secret. Holds a password: never log it. */
  value: string;
  createdDate?: Date;
}

/** One version's metadata, without its value (ListSecretVersionIds). */
export interface SecretVersionInfo {
  versionId: string;
  stages: string[];
  createdDate?: Date;
}

/**
 * The port. Its writes (putPending, promote, abandon) are not retried inside the store when the
 * service throttles them: they throw SECRET_THROTTLED (`retryable`) at once, and the caller, which
 * paces writes against the shared quota, books a new slot before it tries again. Reads, and writes
 * that failed otherwise (5xx, timeouts), are retried inside the store.
 */
export interface SecretStore {
  describe(secretId: string): Promise<SecretDescription>;
  /** Labelled versions with their creation dates; reads no value (status and ages). */
  listVersions(secretId: string): Promise<SecretVersionInfo[]>;
  /** The version carrying `stage`, or null when no version carries it (or it has no value). */
  getByStage(secretId: string, stage: Stage): Promise<SecretVersion | null>;
  /** The version `versionId`, or null when it does not exist (or has no value). */
  getByVersion(secretId: string, versionId: string): Promise<SecretVersion | null>;
  /** Writes `value` as version `token` labelled AWSPENDING. Idempotent for the same token and value. */
  putPending(secretId: string, token: string, value: string): Promise<void>;
  /**
   * Moves AWSCURRENT to `token` (RemoveFromVersionId = the version that holds it now; AWSPREVIOUS
   * follows), then, unless `keepPendingLabel`, takes AWSPENDING off `token`. Idempotent: a token
   * that is already current is not moved again.
   */
  promote(secretId: string, token: string, options?: { currentVersionId?: string; keepPendingLabel?: boolean }): Promise<void>;
  /**
   * Takes AWSPENDING off `token` (the rotation was abandoned), or, with `returnTo`, moves it onto
   * that version (AWSCURRENT: the alternating strategy's leak mode, docs/design.md section 5.1).
   * A no-op when it is not on `token`.
   */
  abandon(secretId: string, token: string, options?: { returnTo?: string }): Promise<void>;
}
