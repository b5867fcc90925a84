/**
 * Turns one HTTP exchange into the ProbeResult / UpdateResult unions (spec sections 5, 10, 12).
 * Pure functions: the client does the I/O, these decide what it means.
 *
 * No text a server sent is kept: a reason or message is the HTTP status, the Milvus code and a
 * fixed text chosen here (MILVUS_CODE_TEXT). A cluster or gateway that echoes the request in an
 * error (hex, base64 of the whole body, percent-encoding in any case, upper-cased...) defeats any
 * redactor, and results go to Redis, logs and events.
 *
 * The rule that matters most: for update_password, anything that could follow a change on the
 * server (timeouts, dropped connections, 408, 5xx, 65535 cache-push failures) is `ambiguous`,
 * never `failed`, because the worker must then probe before it believes either password.
 */
import type { CreateUserResult, DescribeUserResult, ListRolesResult, ProbeResult, RoleChangeResult, UpdateResult } from './types.ts';

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

/** Our own words for the codes we know; any other code is described by its number alone. */
export const MILVUS_CODE_TEXT: Readonly<Record<number, string>> = {
  [MILVUS_CODE.success]: 'success',
  [MILVUS_CODE.serviceNotReady]: 'service not ready',
  [MILVUS_CODE.queueFull]: 'queue full',
  [MILVUS_CODE.rateLimit]: 'rate limited',
  [MILVUS_CODE.parameterInvalid]: 'parameter invalid (the password was refused by the cluster policy)',
  [MILVUS_CODE.notAuthenticated]: 'not authenticated',
  1801: 'privilege or user operation refused',
  1802: 'privilege or user operation refused',
  10001: 'request timeout',
  [MILVUS_CODE.unexpected]: 'unexpected server error',
};

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

/** A short description of a response: status, code and our fixed text, never the server's words. */
export function describe(httpStatus: number, envelope: ParsedEnvelope | null, body: string): string {
  if (envelope) {
    const text = Object.hasOwn(MILVUS_CODE_TEXT, envelope.code) ? MILVUS_CODE_TEXT[envelope.code] : undefined;
    return text === undefined ? `HTTP ${httpStatus} code ${envelope.code}` : `HTTP ${httpStatus} code ${envelope.code}: ${text}`;
  }
  return body === '' ? `HTTP ${httpStatus} with an empty body` : `HTTP ${httpStatus} with a body that is not a Milvus reply`;
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
  if (isAmbiguousStatus(httpStatus)) return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body) };
  if (httpStatus === 200) {
    if (!envelope) return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body) };
    switch (envelope.code) {
      case MILVUS_CODE.success:
        return { kind: 'accepted' };
      case MILVUS_CODE.notAuthenticated:
        return { kind: 'old-password-wrong' };
      case MILVUS_CODE.parameterInvalid:
        return { kind: 'policy-rejected', message: describe(httpStatus, envelope, body) };
      default:
        if (AMBIGUOUS_CODES.has(envelope.code)) return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body) };
    }
  }
  return {
    kind: 'other',
    httpStatus,
    code: envelope?.code ?? null,
    message: describe(httpStatus, envelope, body),
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
  return { kind: 'unknown', reason: describe(httpStatus, envelope, body) };
}

// ---- roles and users (spec section 14) ----------------------------------------------------------

/** rootcoord's messages for a grant or revoke naming a role (or user) that does not exist. */
const NOT_FOUND_PREFIXES = ['not found the role', 'not found the user'] as const;

/** One exchange of a role call, before the route decides what its success and codes mean. */
type Triaged =
  | { kind: 'success'; data: unknown }
  | { kind: 'rejected' }
  | { kind: 'denied'; message: string }
  /**
   * The call may have been applied, or says nothing: transport failure, 408, 429, 5xx, a non-envelope, 65535/1/4/8.
   * `serverText` is the server's message, for matching known ones only: it never leaves this file.
   */
  | { kind: 'ambiguous'; reason: string; code: number | null; serverText: string }
  | { kind: 'code'; httpStatus: number; code: number; message: string }
  | { kind: 'other'; httpStatus: number; code: number | null; message: string };

function triage(exchange: Exchange, redact: Redact): Triaged {
  if (exchange.kind === 'failed') return { kind: 'ambiguous', reason: exchange.reason, code: null, serverText: '' };
  const { httpStatus, body } = exchange;
  if (httpStatus === 401) return { kind: 'rejected' };
  const envelope = parseEnvelope(body);
  const ours = describe(httpStatus, envelope, body);
  if (httpStatus === 403) return { kind: 'denied', message: ours };
  if (isAmbiguousStatus(httpStatus) || (httpStatus === 200 && !envelope)) {
    return { kind: 'ambiguous', reason: ours, code: envelope?.code ?? null, serverText: '' };
  }
  if (httpStatus === 200 && envelope) {
    if (envelope.code === MILVUS_CODE.success) return { kind: 'success', data: dataOf(body) };
    if (AMBIGUOUS_CODES.has(envelope.code)) return { kind: 'ambiguous', reason: ours, code: envelope.code, serverText: redact(envelope.message) };
    return { kind: 'code', httpStatus, code: envelope.code, message: ours };
  }
  return { kind: 'other', httpStatus, code: envelope?.code ?? null, message: ours };
}

function dataOf(body: string): unknown {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null ? Reflect.get(value, 'data') : undefined;
  } catch {
    return undefined;
  }
}

/** `data` as a list of names, or null when it is something else (then nothing is known). */
function namesOf(data: unknown): string[] | null {
  return Array.isArray(data) && data.every((item) => typeof item === 'string') ? [...data] : null;
}

/** users/describe and roles/list: success is a list of names; anything unclear is `unknown`. */
function classifyNames(exchange: Exchange, redact: Redact): DescribeUserResult | ListRolesResult {
  const t = triage(exchange, redact);
  switch (t.kind) {
    case 'success': {
      const names = namesOf(t.data);
      return names ? { kind: 'roles', roles: names } : { kind: 'unknown', reason: 'HTTP 200 code 0 without a list of names' };
    }
    case 'rejected':
    case 'denied':
      return t;
    case 'ambiguous':
      return { kind: 'unknown', reason: t.reason };
    case 'code':
    case 'other':
      return { kind: 'other', httpStatus: t.httpStatus, code: t.code, message: t.message };
    default:
      return assertNever(t);
  }
}

/** users/describe: HTTP 200 code 0 with the role names; 401 rejected; 403 denied; unclear answers unknown. */
export function classifyDescribeUser(exchange: Exchange, redact: Redact): DescribeUserResult {
  return classifyNames(exchange, redact);
}

/** roles/list: as users/describe. */
export function classifyListRoles(exchange: Exchange, redact: Redact): ListRolesResult {
  return classifyNames(exchange, redact);
}

/**
 * users/create: code 0 created; 65535 `user already exists` exists, 65535 about the limit limit
 * (both definite: nothing changed); 1100 policy-rejected; any other 65535 and the ambiguous
 * statuses ambiguous (the user may have been written).
 */
export function classifyCreateUser(exchange: Exchange, redact: Redact): CreateUserResult {
  const t = triage(exchange, redact);
  switch (t.kind) {
    case 'success':
      return { kind: 'created' };
    case 'rejected':
    case 'denied':
      return t;
    case 'ambiguous':
      if (t.code === MILVUS_CODE.unexpected && t.serverText.startsWith('user already exists')) return { kind: 'exists' };
      if (t.code === MILVUS_CODE.unexpected && t.serverText.includes('number of users has reached the limit')) return { kind: 'limit' };
      return { kind: 'ambiguous', reason: t.reason };
    case 'code':
      if (t.code === MILVUS_CODE.parameterInvalid) return { kind: 'policy-rejected', message: t.message };
      return { kind: 'other', httpStatus: t.httpStatus, code: t.code, message: t.message };
    case 'other':
      return t;
    default:
      return assertNever(t);
  }
}

/** users/grant_role, users/revoke_role: code 0 done; 65535 `not found the role/user` not-found; unclear answers ambiguous. */
export function classifyRoleChange(exchange: Exchange, redact: Redact): RoleChangeResult {
  const t = triage(exchange, redact);
  switch (t.kind) {
    case 'success':
      return { kind: 'done' };
    case 'rejected':
    case 'denied':
      return t;
    case 'ambiguous':
      if (t.code === MILVUS_CODE.unexpected && NOT_FOUND_PREFIXES.some((prefix) => t.serverText.startsWith(prefix))) {
        return { kind: 'not-found', message: `HTTP 200 code ${t.code}: role or user not found` };
      }
      return { kind: 'ambiguous', reason: t.reason };
    case 'code':
      return { kind: 'other', httpStatus: t.httpStatus, code: t.code, message: t.message };
    case 'other':
      return t;
    default:
      return assertNever(t);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
