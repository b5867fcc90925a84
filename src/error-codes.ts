/**
 * Every `code` a RotatorError carries, in one namespace. Scripts, metrics (the Secrets Manager
 * call counter's `code` label), logs and tests match on these strings: a value never changes once
 * released; new codes are added, never renamed. Match on them through this object
 * (`err.code === ERROR_CODE.leaseLost`), never on a string literal.
 */
export const ERROR_CODE = {
  // Refused before anything runs (the CLI exits 2).
  /** The configuration file was refused (ConfigError). */
  configInvalid: 'ROTATOR_CONFIG_INVALID',
  /** A bad command line (UsageError). */
  usage: 'ROTATOR_USAGE',
  /** A password policy that cannot produce acceptable passwords (PasswordPolicyError). */
  passwordPolicyInvalid: 'ROTATOR_PASSWORD_POLICY_INVALID',
  /** The GitHub secret-scanning public keys file cannot be used (GithubKeysError). */
  githubKeysInvalid: 'ROTATOR_GITHUB_KEYS_INVALID',
  /** A Milvus client built with options it cannot work with (MilvusClientOptionsError). */
  milvusClientOptionsInvalid: 'ROTATOR_MILVUS_CLIENT_OPTIONS_INVALID',

  // The rotation and its process.
  /** The random source produced no password that meets the policy: it is broken. */
  passwordGenerationFailed: 'ROTATOR_PASSWORD_GENERATION_FAILED',
  /** This process no longer owns the credential's lock (LeaseLostError). */
  leaseLost: 'ROTATOR_LEASE_LOST',
  /** The credential names a strategy this engine has no implementation of (StrategyUnavailableError). */
  strategyUnavailable: 'ROTATOR_STRATEGY_UNAVAILABLE',
  /** A manual or scheduled rotation within rotation.minIntervalMs of the last one (CooldownError). Its value predates this list and is kept. */
  rotationCooldown: 'rotation_cooldown',
  /** The schedule sync found its lock expired or another's and stopped; it removed no scheduler without it (SchedulesSyncLockLostError). */
  schedulesSyncLockLost: 'ROTATOR_SCHEDULES_SYNC_LOCK_LOST',
  /** Redis cannot be used (RedisUnavailableError). Its value predates the ROTATOR_ prefix and is kept: it is matched as is. */
  redisUnavailable: 'redis.unavailable',

  // The Secrets Manager boundary (SecretStoreError and its subclasses, src/secrets/errors.ts).
  /** ResourceNotFoundException: the secret (or, for stage changes, the version) does not exist. */
  secretNotFound: 'SECRET_NOT_FOUND',
  /** ResourceExistsException: the ClientRequestToken already names a version with another value. */
  secretVersionConflict: 'SECRET_VERSION_CONFLICT',
  /** InvalidParameterException / ValidationException: a parameter is invalid for the secret's state. */
  secretInvalidParameter: 'SECRET_INVALID_PARAMETER',
  /** InvalidRequestException: e.g. the secret is scheduled for deletion. */
  secretInvalidRequest: 'SECRET_INVALID_REQUEST',
  /** Throttled on every attempt the SDK made. */
  secretThrottled: 'SECRET_THROTTLED',
  /** LimitExceededException: a quota of the secret (e.g. versions) is exhausted. */
  secretLimitExceeded: 'SECRET_LIMIT_EXCEEDED',
  /** Credentials missing, invalid or not allowed. */
  secretAccessDenied: 'SECRET_ACCESS_DENIED',
  /** EncryptionFailure / DecryptionFailure: the KMS key cannot be used. */
  secretKmsFailure: 'SECRET_KMS_FAILURE',
  /** 5xx, timeout or network failure on every attempt, or an unrecognised error. */
  secretServiceError: 'SECRET_SERVICE_ERROR',
  /** The version holds SecretBinary; the rotator only handles SecretString JSON. */
  secretNotString: 'SECRET_NOT_STRING',
} as const;

export type ErrorCode = (typeof ERROR_CODE)[keyof typeof ERROR_CODE];

/** The codes of the Secrets Manager boundary. */
export type SecretErrorCode = Extract<ErrorCode, `SECRET_${string}`>;
