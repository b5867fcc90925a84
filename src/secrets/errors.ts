/**
 * The errors of the Secrets Manager boundary, and the one function that makes them from whatever
 * the AWS SDK threw. Nothing above src/secrets/ sees an SDK exception: it matches on `code`
 * (stable, ERROR_CODE.secret* in src/error-codes.ts) or on the class, and reads `retryable` to decide whether a later attempt may succeed.
 *
 * Messages name the operation and the secret id, and never a value. The service's own message is
 * quoted only for calls that sent no value: a call that carried one (PutSecretValue) never echoes
 * the service's text, so no validation message can ever repeat a password into a log or into
 * Redis. The SDK error stays reachable as `cause`.
 */
import { ERROR_CODE, type SecretErrorCode } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';

export type { SecretErrorCode } from '../error-codes.ts';

/** Where a failure happened. */
export interface SecretCallContext {
  /** The Secrets Manager operation, e.g. 'PutSecretValue'. */
  operation: string;
  /** The secret's name or ARN as the caller gave it. */
  secretId: string;
}

/** What the service (or the network) said, without any request data. */
export interface SecretFailureDetail extends SecretCallContext {
  /** Whether the same call later may succeed (throttling, 5xx, timeouts, network). */
  retryable: boolean;
  /** The AWS error name, e.g. 'ThrottlingException'; absent for network and client-side failures. */
  awsCode?: string;
  /** The HTTP status of the last attempt, when there was a response. */
  httpStatus?: number;
}

/** The base of every error thrown by the secret store. */
export class SecretStoreError extends RotatorError {
  readonly operation: string;
  readonly secretId: string;
  readonly retryable: boolean;
  readonly awsCode: string | undefined;
  readonly httpStatus: number | undefined;

  constructor(code: SecretErrorCode, detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(code, `Secrets Manager ${detail.operation} on secret "${detail.secretId}" failed: ${reason}`, options);
    this.operation = detail.operation;
    this.secretId = detail.secretId;
    this.retryable = detail.retryable;
    this.awsCode = detail.awsCode;
    this.httpStatus = detail.httpStatus;
  }
}

export class SecretNotFoundError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretNotFound, detail, reason, options);
  }
}

export class SecretVersionConflictError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretVersionConflict, detail, reason, options);
  }
}

export class SecretInvalidParameterError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretInvalidParameter, detail, reason, options);
  }
}

export class SecretInvalidRequestError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretInvalidRequest, detail, reason, options);
  }
}

export class SecretThrottledError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretThrottled, detail, reason, options);
  }
}

export class SecretLimitExceededError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretLimitExceeded, detail, reason, options);
  }
}

export class SecretAccessDeniedError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretAccessDenied, detail, reason, options);
  }
}

export class SecretKmsError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretKmsFailure, detail, reason, options);
  }
}

export class SecretServiceError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretServiceError, detail, reason, options);
  }
}

export class SecretNotStringError extends SecretStoreError {
  constructor(detail: SecretFailureDetail, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.secretNotString, detail, reason, options);
  }
}

type ErrorClass = new (detail: SecretFailureDetail, reason: string, options?: ErrorOptions) => SecretStoreError;

/** AWS error names -> our classes. Anything else is a SecretServiceError. */
const BY_AWS_CODE: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['ResourceNotFoundException', SecretNotFoundError],
  ['ResourceExistsException', SecretVersionConflictError],
  ['InvalidParameterException', SecretInvalidParameterError],
  ['ValidationException', SecretInvalidParameterError],
  ['InvalidNextTokenException', SecretInvalidParameterError],
  ['SerializationException', SecretInvalidParameterError],
  ['InvalidRequestException', SecretInvalidRequestError],
  ['ThrottlingException', SecretThrottledError],
  ['Throttling', SecretThrottledError],
  ['TooManyRequestsException', SecretThrottledError],
  ['RequestLimitExceeded', SecretThrottledError],
  ['LimitExceededException', SecretLimitExceededError],
  ['AccessDeniedException', SecretAccessDeniedError],
  ['UnrecognizedClientException', SecretAccessDeniedError],
  ['InvalidClientTokenId', SecretAccessDeniedError],
  ['InvalidSignatureException', SecretAccessDeniedError],
  ['SignatureDoesNotMatch', SecretAccessDeniedError],
  ['ExpiredTokenException', SecretAccessDeniedError],
  ['MissingAuthenticationTokenException', SecretAccessDeniedError],
  ['CredentialsProviderError', SecretAccessDeniedError],
  ['DecryptionFailure', SecretKmsError],
  ['EncryptionFailure', SecretKmsError],
  ['InternalServiceError', SecretServiceError],
]);

/** Network-level codes of Node sockets and the SDK's request timeout: the call may or may not have arrived. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const TRANSIENT_NAMES: ReadonlySet<string> = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/** Longest service message quoted in one of our messages. */
const QUOTED_MESSAGE_MAX_CHARS = 300;

/**
 * Maps anything a Secrets Manager call threw to a SecretStoreError, keeping it as `cause`.
 * `valueSent`: the call carried a secret value, so the service's message is not quoted.
 */
export function toSecretStoreError(error: unknown, context: SecretCallContext & { valueSent?: boolean }): SecretStoreError {
  if (error instanceof SecretStoreError) return error;
  const { name, message, httpStatus, errno, serviceFault } = inspect(error);
  const known = name === undefined ? undefined : BY_AWS_CODE.get(name);
  const throttled = known === SecretThrottledError || httpStatus === 429;
  const serverSide = httpStatus !== undefined && httpStatus >= 500;
  const network = httpStatus === undefined && ((errno !== undefined && NETWORK_CODES.has(errno)) || (name !== undefined && TRANSIENT_NAMES.has(name)));
  const ErrorType: ErrorClass = known ?? (throttled ? SecretThrottledError : SecretServiceError);

  const detail: SecretFailureDetail = {
    operation: context.operation,
    secretId: context.secretId,
    retryable: throttled || serverSide || network,
    ...(serviceFault === undefined || name === undefined ? {} : { awsCode: name }),
    ...(httpStatus === undefined ? {} : { httpStatus }),
  };

  let reason = name ?? 'unknown error';
  if (errno !== undefined && errno !== name) reason += ` ${errno}`;
  if (httpStatus !== undefined) reason += ` (HTTP ${httpStatus})`;
  if (!context.valueSent && message) reason += `: ${truncate(message)}`;
  return new ErrorType(detail, reason, { cause: error });
}

interface Inspected {
  name?: string;
  message?: string;
  httpStatus?: number;
  /** Node's `code` (ECONNREFUSED, ETIMEDOUT...). */
  errno?: string;
  /** The SDK's `$fault`: set only on service exceptions. */
  serviceFault?: 'client' | 'server';
}

/** Reads an SDK or Node error structurally: vendor classes are not needed to classify it. */
function inspect(error: unknown): Inspected {
  if (typeof error !== 'object' || error === null) return {};
  const record = error as Record<string, unknown>;
  const result: Inspected = {};
  if (typeof record.name === 'string') result.name = record.name;
  if (typeof record.message === 'string') result.message = record.message;
  if (typeof record.code === 'string') result.errno = record.code;
  if (record.$fault === 'client' || record.$fault === 'server') result.serviceFault = record.$fault;
  const metadata = record.$metadata;
  if (typeof metadata === 'object' && metadata !== null) {
    const status = (metadata as Record<string, unknown>).httpStatusCode;
    if (typeof status === 'number') result.httpStatus = status;
  }
  return result;
}

function truncate(text: string): string {
  return text.length <= QUOTED_MESSAGE_MAX_CHARS ? text : `${text.slice(0, QUOTED_MESSAGE_MAX_CHARS)}...`;
}
