/**
 * What the simulated Milvus answers with: its reply codes (spec section 5), the JSON envelope, its
 * limits (spec section 7) and the validation messages of ValidateUsername and ValidatePassword,
 * byte for byte.
 */

/** Milvus limits (spec section 7). */
export const LIMITS = {
  minPasswordBytes: 6,
  maxPasswordBytes: 72,
  maxUsernameBytes: 32,
  maxUsers: 100,
} as const;

/** Codes used in replies (spec section 5). */
export const CODE = {
  success: 0,
  parameterInvalid: 1100,
  notAuthenticated: 1400,
  privilegeNotPermitted: 1401,
  userUnauthenticated: 1800,
  badJson: 1801,
  missingParameters: 1802,
  databaseNotFound: 800,
  requestTimeout: 10001,
  unexpected: 65535,
} as const;

export const UNAUTHENTICATED_MESSAGE = "user hasn't authenticated";

/** rootcoord OperateUserRole's messages for a missing role or user (wrapped as 65535). */
export const ROLE_NOT_FOUND_MESSAGE = "not found the role, maybe the role isn't existed or internal system error";
export const USER_NOT_FOUND_MESSAGE = "not found the user, maybe the user isn't existed or internal system error";

export type Envelope = { code: number; data: unknown } | { code: number; message: string };

/** How the simulator answers one request: a JSON envelope, a plain body, a dropped socket or nothing. */
export type Reply =
  | { kind: 'json'; status: number; body: Envelope }
  | { kind: 'text'; status: number; body: string; contentType: string }
  | { kind: 'drop' }
  | { kind: 'hang' };

export function json(status: number, body: Envelope): Reply {
  return { kind: 'json', status, body };
}

export function ok(data: unknown): Reply {
  return json(200, { code: CODE.success, data });
}

/** Business and validation errors are HTTP 200 with a non-zero code (spec section 1). */
export function fail(code: number, message: string): Reply {
  return json(200, { code, message });
}

/** ValidateUsername (internal/proxy/util.go), messages included. */
export function validateUsername(raw: string): string | null {
  const name = raw.trim();
  if (name === '') return 'username must be not empty: invalid parameter';
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > LIMITS.maxUsernameBytes) {
    return `invalid username ${name} with length ${bytes.length}, the length of username must be less than ${LIMITS.maxUsernameBytes}: invalid parameter`;
  }
  const first = bytes[0] ?? 0;
  if (!isAsciiLetter(first)) {
    return `invalid user name ${name}, the first character must be a letter, but got ${String.fromCharCode(first)}: invalid parameter`;
  }
  for (let i = 1; i < bytes.length; i += 1) {
    const c = bytes[i] ?? 0;
    if (c !== 0x5f && c !== 0x2d && c !== 0x2e && !isAsciiLetter(c) && !(c >= 0x30 && c <= 0x39)) {
      // Go formats the offending byte with %s, which prints `%!s(uint8=N)`.
      return `invalid user name ${name}, username must contain only numbers, letters, underscores, dots, and hyphens, but got %!s(uint8=${c}): invalid parameter`;
    }
  }
  return null;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** ValidatePassword: the UTF-8 byte length must be within [6, 72]; no character classes. */
export function validatePassword(password: string): string | null {
  const length = Buffer.byteLength(password, 'utf8');
  if (length >= LIMITS.minPasswordBytes && length <= LIMITS.maxPasswordBytes) return null;
  return `invalid password length: invalid parameter[${length} out of range ${LIMITS.minPasswordBytes} <= value <= ${LIMITS.maxPasswordBytes}]`;
}
