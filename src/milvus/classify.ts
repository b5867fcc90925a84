/**
 * Turns one HTTP exchange into the ProbeResult / UpdateResult unions (spec sections 5, 10, 12).
 * Pure functions: the client does the I/O, these decide what it means. Every message they return
 * has already gone through the caller's redactor.
 *
 * The rule that matters most: for update_password, anything that could follow a change on the
 * server (timeouts, dropped connections, 408, 5xx, 65535 cache-push failures) is `ambiguous`,
 * never `failed`, because the worker must then probe before it believes either password.
 */
import type { ProbeResult, UpdateResult } from './types.ts';

/** One exchange as the classifier sees it; `reason` of a failure is already free of secrets. */
export type Exchange = { kind: 'response'; httpStatus: number; body: string } | { kind: 'failed'; reason: string };

export type Redact = (text: string) => string;

/** Milvus codes with a meaning for the classifier (spec section 5, pkg/util/merr/errors.go). */
export const MILVUS_CODE = {
  success: 0,
  serviceNotReady: 1,
  queueFull: 4,
  rateLimit: 8,
  parameterInvalid: 1100,
  notAuthenticated: 1400,
  unexpected: 65535,
} as const;

/**
 * Codes after which the change may have happened or may succeed on a retry: 65535 is what a failed
 * cache push returns after etcd was written (spec 4 g); 1, 4 and 8 are retriable server states.
 */
const AMBIGUOUS_CODES: ReadonlySet<number> = new Set([
  MILVUS_CODE.unexpected,
  MILVUS_CODE.serviceNotReady,
  MILVUS_CODE.queueFull,
  MILVUS_CODE.rateLimit,
]);

/** HTTP statuses after which nothing is known: the request may have reached Milvus. */
function isAmbiguousStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

interface ParsedEnvelope {
  code: number;
  message: string;
}

/** `{"code":<int>,"message"?:<string>}` or null when the body is not a Milvus envelope. */
export function parseEnvelope(body: string): ParsedEnvelope | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const code: unknown = Reflect.get(value, 'code');
  if (typeof code !== 'number' || !Number.isInteger(code)) return null;
  const message: unknown = Reflect.get(value, 'message');
  return { code, message: typeof message === 'string' ? message : '' };
}

/** A short description of a response for reasons and messages. */
function describe(httpStatus: number, envelope: ParsedEnvelope | null, body: string, redact: Redact): string {
  if (envelope) {
    const message = redact(envelope.message);
    return message === '' ? `HTTP ${httpStatus} code ${envelope.code}` : `HTTP ${httpStatus} code ${envelope.code}: ${message}`;
  }
  const snippet = redact(body);
  return snippet === '' ? `HTTP ${httpStatus} with an empty body` : `HTTP ${httpStatus} with a non-JSON body: ${snippet}`;
}

/**
 * update_password:
 * 1. transport failure (timeout, abort, socket error) -> ambiguous;
 * 2. HTTP 401 -> rejected (the header credential user:old failed; nothing read the body);
 * 3. HTTP 408, 429, 5xx -> ambiguous;
 * 4. HTTP 200: code 0 -> accepted; 1400 -> old-password-wrong; 1100 -> policy-rejected;
 *    65535, 1, 4, 8 -> ambiguous; a body that is not an envelope -> ambiguous (a gateway spoke);
 * 5. everything else (403, 404, 1801, 1802, unknown codes) -> other.
 */
export function classifyUpdate(exchange: Exchange, redact: Redact): UpdateResult {
  if (exchange.kind === 'failed') return { kind: 'ambiguous', reason: exchange.reason };
  const { httpStatus, body } = exchange;
  const envelope = parseEnvelope(body);
  if (httpStatus === 401) return { kind: 'rejected' };
  if (isAmbiguousStatus(httpStatus)) return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body, redact) };
  if (httpStatus === 200) {
    if (!envelope) return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body, redact) };
    switch (envelope.code) {
      case MILVUS_CODE.success:
        return { kind: 'accepted' };
      case MILVUS_CODE.notAuthenticated:
        return { kind: 'old-password-wrong' };
      case MILVUS_CODE.parameterInvalid:
        return { kind: 'policy-rejected', message: redact(envelope.message) };
      default:
        if (AMBIGUOUS_CODES.has(envelope.code)) return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body, redact) };
    }
  }
  return {
    kind: 'other',
    httpStatus,
    code: envelope?.code ?? null,
    message: envelope ? redact(envelope.message) : describe(httpStatus, envelope, body, redact),
  };
}

/**
 * probe: only HTTP 200 code 0 proves the password works and only 401 proves it does not;
 * everything else (timeouts, 5xx, 403, other codes, non-JSON) says nothing about the password.
 */
export function classifyProbe(exchange: Exchange, redact: Redact): ProbeResult {
  if (exchange.kind === 'failed') return { kind: 'unknown', reason: exchange.reason };
  const { httpStatus, body } = exchange;
  if (httpStatus === 401) return { kind: 'rejected' };
  const envelope = parseEnvelope(body);
  if (httpStatus === 200 && envelope?.code === MILVUS_CODE.success) return { kind: 'accepted' };
  return { kind: 'unknown', reason: describe(httpStatus, envelope, body, redact) };
}
