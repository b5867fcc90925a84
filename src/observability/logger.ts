/**
 * The logger: pino, one JSON object per line (docs/design.md section 8).
 *
 * The rule is that no code path hands the logger a password. Redaction here is the backstop for
 * when that rule is broken: it censors values under the key names that carry secrets in this code
 * base (the engine's pp/pc/pv, Secrets Manager's SecretString, HTTP authorization headers...), at
 * every depth up to REDACT_MAX_DEPTH, because pino's `*.password` matches one level only. It
 * cannot catch a secret interpolated into a message string; nothing can.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** What redacted values are replaced with. */
export const REDACTED = '[redacted]';

/**
 * Keys whose values are censored wherever they appear (case-sensitive, as pino matches them).
 * `value` is SecretVersion.value; `token` is `user:password`; `webhookSecret(s)` and
 * `triggerTokens` guard against a whole Config being logged.
 */
export const SECRET_KEYS = [
  'password',
  'newPassword',
  'oldPassword',
  'pp',
  'pc',
  'pv',
  'token',
  'secret',
  'secretString',
  'SecretString',
  'authorization',
  'Authorization',
  'value',
  'webhookSecret',
  'webhookSecrets',
  'triggerTokens',
] as const;

/** Deepest nesting redacted: `a.b.c.d.password` (four levels above the key). */
export const REDACT_MAX_DEPTH = 4;

/** Every redaction path: each secret key at depth 0..REDACT_MAX_DEPTH, plus named header paths. */
export const REDACT_PATHS: readonly string[] = Object.freeze([
  ...SECRET_KEYS.flatMap((key) => Array.from({ length: REDACT_MAX_DEPTH + 1 }, (_, depth) => [...Array<string>(depth).fill('*'), key].join('.'))),
  // Covered by the wildcards too; named so the intent survives a change of REDACT_MAX_DEPTH.
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
]);

/** Error properties never copied into a log line: request and response bodies, configs, headers. */
const DROPPED_ERROR_KEYS = new Set(['body', 'data', 'request', 'response', 'config', 'headers', 'rawBody', '$response', 'options']);

/** How deep a cause chain is followed, and how many AggregateError members are kept. */
const MAX_CAUSE_DEPTH = 8;
const MAX_AGGREGATE_ERRORS = 10;

/** An error as it appears in a log line. */
export interface SerializedError {
  type: string;
  message?: string;
  code?: string | number;
  stack?: string;
  cause?: SerializedError;
  errors?: SerializedError[];
  [property: string]: unknown;
}

/**
 * Serializes an error for a log line: type, message, code, stack, the `cause` chain (each cause
 * its own object, not folded into the message) and AggregateError members. Other own properties
 * are kept only when they are primitives (status codes, request ids), never bodies, requests,
 * responses or headers; properties named like secrets are censored. A value that is not an Error
 * is returned unchanged, as pino's own serializer does (`error: "text"` stays text).
 */
export function serializeError(value: unknown): unknown {
  return value instanceof Error ? serializeErrorObject(value, 0, new Set()) : value;
}

function serializeErrorObject(error: Error, depth: number, seen: Set<Error>): SerializedError {
  seen.add(error);
  const out: SerializedError = { type: error.name || error.constructor.name, message: error.message };
  if (error.stack !== undefined) out.stack = error.stack;
  for (const [key, property] of Object.entries(error)) {
    if (key === 'cause' || key === 'errors' || DROPPED_ERROR_KEYS.has(key)) continue;
    if (isSecretKey(key)) out[key] = REDACTED;
    else if (key === '$metadata' && typeof property === 'object' && property !== null) out[key] = primitivesOf(property);
    else if (isPrimitive(property)) out[key] = property;
  }
  if (error.cause !== undefined) out.cause = serializeCause(error.cause, depth + 1, seen);
  if (error instanceof AggregateError && Array.isArray(error.errors)) {
    out.errors = error.errors.slice(0, MAX_AGGREGATE_ERRORS).map((member: unknown) => serializeCause(member, depth + 1, seen));
  }
  return out;
}

/** A cause that is not an Error is described by its type only: its content is unknown, maybe a secret. */
function serializeCause(cause: unknown, depth: number, seen: Set<Error>): SerializedError {
  if (!(cause instanceof Error)) return { type: cause === null ? 'null' : typeof cause };
  if (seen.has(cause)) return { type: cause.name, message: '[circular cause]' };
  if (depth > MAX_CAUSE_DEPTH) return { type: cause.name, message: '[cause chain truncated]' };
  return serializeErrorObject(cause, depth, seen);
}

function primitivesOf(object: object): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, property] of Object.entries(object)) {
    if (isSecretKey(key)) out[key] = REDACTED;
    else if (isPrimitive(property)) out[key] = property;
  }
  return out;
}

function isPrimitive(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

const SECRET_KEY_SET: ReadonlySet<string> = new Set(SECRET_KEYS);
function isSecretKey(key: string): boolean {
  return SECRET_KEY_SET.has(key);
}

export interface LoggerOptions {
  /** pino level name: fatal, error, warn, info, debug, trace or silent. Default info. */
  level?: string;
  /** Where lines go: a file descriptor (1 stdout, 2 stderr) or a stream. Default stdout. */
  destination?: number | DestinationStream;
}

/**
 * A JSON-lines logger with the redaction backstop and error serializers. Levels are written as
 * names (`"level":"info"`) and times as ISO-8601, for log pipelines that do not know pino.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', destination = 1 } = options;
  const stream =
    typeof destination === 'number'
      ? // Synchronous writes: a one-shot CLI run must not lose its last lines at process exit.
        pino.destination({ dest: destination, sync: true })
      : destination;
  return pino(
    {
      level,
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      serializers: { err: serializeError, error: serializeError, cause: serializeError },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    stream,
  );
}

/** The fields every log line of one rotation carries (docs/design.md section 8). */
export interface RotationLogBindings {
  credential: string;
  rotationId: string;
  /** The protocol step, when the child is for one step. */
  step?: string;
}

/** A child of `base` bound to one rotation; steps add `step` with a further child. */
export function rotationLogger(base: Logger, bindings: RotationLogBindings): Logger {
  return base.child({ ...bindings });
}
