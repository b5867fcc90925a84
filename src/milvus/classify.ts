/**
 * Turns one HTTP exchange into the ProbeResult / UpdateResult unions (spec sections 5, 10, 12).
 * Pure functions: the client does the I/O, these decide what it means. Every message they return
 * has already gone through the caller's redactor.
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

// ---- roles and users (spec section 14) ----------------------------------------------------------

/** rootcoord's messages for a grant or revoke naming a role (or user) that does not exist. */
const NOT_FOUND_PREFIXES = ['not found the role', 'not found the user'] as const;

/** One exchange of a role call, before the route decides what its success and codes mean. */
type Triaged =
  | { kind: 'success'; data: unknown }
  | { kind: 'rejected' }
  | { kind: 'denied'; message: string }
  /** The call may have been applied, or says nothing: transport failure, 408, 429, 5xx, a non-envelope, 65535/1/4/8. */
  | { kind: 'ambiguous'; reason: string; code: number | null; message: string }
  | { kind: 'code'; httpStatus: number; code: number; message: string }
  | { kind: 'other'; httpStatus: number; code: number | null; message: string };

function triage(exchange: Exchange, redact: Redact): Triaged {
  if (exchange.kind === 'failed') return { kind: 'ambiguous', reason: exchange.reason, code: null, message: '' };
  const { httpStatus, body } = exchange;
  if (httpStatus === 401) return { kind: 'rejected' };
  const envelope = parseEnvelope(body);
  if (httpStatus === 403) return { kind: 'denied', message: envelope ? redact(envelope.message) : describe(httpStatus, envelope, body, redact) };
  if (isAmbiguousStatus(httpStatus) || (httpStatus === 200 && !envelope)) {
    return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body, redact), code: envelope?.code ?? null, message: '' };
  }
  if (httpStatus === 200 && envelope) {
    if (envelope.code === MILVUS_CODE.success) return { kind: 'success', data: dataOf(body) };
    const message = redact(envelope.message);
    if (AMBIGUOUS_CODES.has(envelope.code)) return { kind: 'ambiguous', reason: describe(httpStatus, envelope, body, redact), code: envelope.code, message };
    return { kind: 'code', httpStatus, code: envelope.code, message };
  }
  return { kind: 'other', httpStatus, code: envelope?.code ?? null, message: envelope ? redact(envelope.message) : describe(httpStatus, envelope, body, redact) };
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
      if (t.code === MILVUS_CODE.unexpected && t.message.startsWith('user already exists')) return { kind: 'exists' };
      if (t.code === MILVUS_CODE.unexpected && t.message.includes('number of users has reached the limit')) return { kind: 'limit' };
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
      if (t.code === MILVUS_CODE.unexpected && NOT_FOUND_PREFIXES.some((prefix) => t.message.startsWith(prefix))) {
        return { kind: 'not-found', message: t.message };
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
