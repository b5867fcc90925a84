import type { ErrorCode } from './error-codes.ts';

/**
 * The base of every error milvus-rotator throws on purpose. Each subclass has a stable, namespaced
 * `code` (ERROR_CODE, error-codes.ts) that scripts, metrics and tests match on. Messages name credentials, clusters and secret ids,
 * never a password: an error message may end up in Redis (BullMQ stores failed reasons), in logs
 * and in HTTP replies.
 */
export class RotatorError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Turns any thrown value into an Error, keeping the original as `cause`. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : 'non-error value thrown', { cause: value });
}

/** A thrown value for a message: `CODE: message` for our errors, the message otherwise. Never a value: messages hold none. */
export function describeError(err: unknown): string {
  const e = coerceError(err);
  return e instanceof RotatorError ? `${e.code}: ${e.message}` : e.message;
}
