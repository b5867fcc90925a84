/**
 * The errors the Secrets Manager emulator answers with, and their exact messages.
 *
 * Messages follow spec/secrets-manager.md section 2 where the spec quotes them (AWS-verified or from
 * moto's AWS-verified tests); elsewhere they are worded in the same style. No message ever contains a
 * secret value: they name secrets, ARNs, version ids and labels only, as AWS does.
 */

/** One error reply: `__type` / `X-Amzn-ErrorType` = `type`, `Message` = `message`, HTTP `status`. */
export class EmulatedServiceError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = 'EmulatedServiceError';
    this.type = type;
    this.status = status;
  }
}

/** Error types (the `__type` values) the emulator emits. */
export const ERROR_TYPE = {
  resourceNotFound: 'ResourceNotFoundException',
  resourceExists: 'ResourceExistsException',
  invalidParameter: 'InvalidParameterException',
  invalidRequest: 'InvalidRequestException',
  invalidNextToken: 'InvalidNextTokenException',
  limitExceeded: 'LimitExceededException',
  validation: 'ValidationException',
  serialization: 'SerializationException',
  unknownOperation: 'UnknownOperationException',
  throttling: 'ThrottlingException',
  internal: 'InternalServiceError',
  unavailable: 'ServiceUnavailable',
} as const;

/** Factories for every error reply, so that a message is written once. */
export const emulatedError = {
  /** Worded in the emulator's style (AWS documents the quota, not this message). */
  versionQuotaReached: (name: string, quota: number): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.limitExceeded,
      `The secret ${name} has reached the quota of ${quota} versions. Secrets Manager removes unlabeled versions only when there are more than 100 and they are older than 24 hours.`,
    ),

  secretNotFound: (): EmulatedServiceError =>
    new EmulatedServiceError(ERROR_TYPE.resourceNotFound, "Secrets Manager can't find the specified secret."),

  noValueForStage: (stage: string): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.resourceNotFound,
      `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
    ),

  noValueForVersion: (versionId: string): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.resourceNotFound,
      `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
    ),

  stageVersionMismatch: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidRequest,
      'You provided a VersionStage that is not associated to the provided VersionId.',
    ),

  secretExists: (name: string): EmulatedServiceError =>
    new EmulatedServiceError(ERROR_TYPE.resourceExists, `The operation failed because the secret ${name} already exists.`),

  tokenInUse: (token: string, arn: string): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.resourceExists,
      `You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${arn}.`,
    ),

  markedForDeletion: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidRequest,
      "You can't perform this operation on the secret because it was marked for deletion.",
    ),

  nameScheduledForDeletion: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidRequest,
      "You can't create this secret because a secret with this name is already scheduled for deletion.",
    ),

  tokenRequired: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidRequest,
      'You must provide a ClientRequestToken value. We recommend a UUID-type value.',
    ),

  /** AWS-verified wording for AWSCURRENT (spec 2.2); we enforce it for every label (moto did not). */
  removeFromRequired: (stage: string, holder: string): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidParameter,
      `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder}, so you must explicitly reference that version in RemoveFromVersionId.`,
    ),

  removeFromNotHolder: (stage: string, removeFrom: string, holder: string | undefined): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidParameter,
      holder === undefined
        ? `Staging label ${stage} is not attached to version ${removeFrom}, so it can't be removed from it.`
        : `Staging label ${stage} is currently attached to version ${holder}, not to version ${removeFrom}, so you must explicitly reference version ${holder} in RemoveFromVersionId.`,
    ),

  currentCannotBeRemoved: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidParameter,
      "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.",
    ),

  moveOrRemoveRequired: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidParameter,
      'You must specify MoveToVersionId, RemoveFromVersionId, or both.',
    ),

  versionNotFound: (versionId: string): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.resourceNotFound,
      `Secrets Manager can't find the specified secret version: ${versionId}`,
    ),

  valueRequired: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidParameter,
      'You must provide either SecretString or SecretBinary, but not both.',
    ),

  invalidName: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidParameter,
      'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
    ),

  forceWithWindow: (): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.invalidParameter,
      "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
    ),

  invalidNextToken: (): EmulatedServiceError =>
    new EmulatedServiceError(ERROR_TYPE.invalidNextToken, 'The NextToken value is invalid.'),

  /** A member breaks its model constraint (length, range, count). Never quotes the member's value. */
  validation: (member: string, constraint: string): EmulatedServiceError =>
    new EmulatedServiceError(
      ERROR_TYPE.validation,
      `1 validation error detected: Value at '${lowerFirst(member)}' failed to satisfy constraint: ${constraint}`,
    ),

  serialization: (detail: string): EmulatedServiceError =>
    new EmulatedServiceError(ERROR_TYPE.serialization, detail),

  unknownOperation: (): EmulatedServiceError =>
    new EmulatedServiceError(ERROR_TYPE.unknownOperation, 'The requested operation is not supported.'),

  throttled: (): EmulatedServiceError => new EmulatedServiceError(ERROR_TYPE.throttling, 'Rate exceeded'),

  internal: (): EmulatedServiceError =>
    new EmulatedServiceError(ERROR_TYPE.internal, 'An error occurred on the server side.', 500),

  unavailable: (): EmulatedServiceError =>
    new EmulatedServiceError(ERROR_TYPE.unavailable, 'The service is unavailable. Try again later.', 503),
} as const;

/** `SecretString` -> `secretString`, the way the service's validator names members. */
function lowerFirst(member: string): string {
  return member.charAt(0).toLowerCase() + member.slice(1);
}
