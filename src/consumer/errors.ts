/**
 * The errors the consumer helper throws on purpose, each with a stable `code`. Messages name the
 * secret id, the version id and the staging label, never a password or a username:password pair;
 * the error the SDK or AWS threw stays reachable as `cause` (neither echoes a password: Milvus
 * answers "user hasn't authenticated", Secrets Manager names the secret).
 *
 * The helper ships on its own (`milvus-rotator/consumer`), so it has its own base class rather
 * than the rotator's.
 */
export const CONSUMER_ERROR_CODE = {
  /** GetSecretValue answered ResourceNotFoundException for AWSCURRENT: a wrong secret id or region. */
  secretNotFound: 'MILVUS_CONSUMER_SECRET_NOT_FOUND',
  /** The secret's value is not a JSON object with string `username` and `password`. */
  secretInvalid: 'MILVUS_CONSUMER_SECRET_INVALID',
  /** Secrets Manager could not be read (access denied, throttled, network) after the SDK's retries. */
  secretReadFailed: 'MILVUS_CONSUMER_SECRET_READ_FAILED',
  /** Milvus rejected the credential and Secrets Manager holds no newer one that it accepts. */
  authenticationRejected: 'MILVUS_CONSUMER_AUTH_REJECTED',
  /** A call after close(). */
  closed: 'MILVUS_CONSUMER_CLOSED',
} as const;
export type ConsumerErrorCode = (typeof CONSUMER_ERROR_CODE)[keyof typeof CONSUMER_ERROR_CODE];

export class ConsumerError extends Error {
  readonly code: ConsumerErrorCode;

  constructor(code: ConsumerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ConsumerSecretNotFoundError extends ConsumerError {
  constructor(secretId: string, options?: ErrorOptions) {
    super(CONSUMER_ERROR_CODE.secretNotFound, `secret "${secretId}" not found in Secrets Manager (check the secret id, the region and the account)`, options);
  }
}

export class ConsumerSecretInvalidError extends ConsumerError {
  constructor(secretId: string, versionId: string, what: string) {
    super(CONSUMER_ERROR_CODE.secretInvalid, `secret "${secretId}" version ${versionId}: ${what} (expected a JSON object with string "username" and "password")`);
  }
}

export class ConsumerSecretReadError extends ConsumerError {
  /** The AWS error name, e.g. AccessDeniedException, when the service answered. */
  readonly awsCode: string | undefined;

  constructor(secretId: string, stage: string, awsCode: string | undefined, options?: ErrorOptions) {
    super(CONSUMER_ERROR_CODE.secretReadFailed, `secret "${secretId}": GetSecretValue(${stage}) failed${awsCode ? ` (${awsCode})` : ''}`, options);
    this.awsCode = awsCode;
  }
}

export class ConsumerAuthenticationError extends ConsumerError {
  readonly secretId: string;
  /** The version whose password Milvus rejected last. */
  readonly versionId: string;

  constructor(secretId: string, versionId: string, detail: string, options?: ErrorOptions) {
    super(CONSUMER_ERROR_CODE.authenticationRejected, `Milvus rejected the credential of secret "${secretId}" (version ${versionId}): ${detail}`, options);
    this.secretId = secretId;
    this.versionId = versionId;
  }
}

export class ConsumerClosedError extends ConsumerError {
  constructor(secretId: string) {
    super(CONSUMER_ERROR_CODE.closed, `the consumer of secret "${secretId}" is closed`);
  }
}
