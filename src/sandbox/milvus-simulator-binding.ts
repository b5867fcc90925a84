/**
 * The request body: reading it (with a size cap), a loose parse for observation and fault
 * matching, and gin's JSON binding with Milvus's 1801/1802 messages against the request structs
 * of `request_v2.go`.
 */
import type { IncomingMessage } from 'node:http';
import type { BoundBody, SimulatorRoute } from './milvus-simulator-handlers.ts';
import { CODE, fail, type Reply } from './milvus-simulator-messages.ts';

const MAX_BODY_BYTES = 1024 * 1024;

/** The request structs of `request_v2.go`: their Go names and required fields, for binding messages. */
const REQUEST_SHAPES = {
  'users/list': { struct: 'DatabaseReq', fields: { dbName: false } },
  'users/describe': { struct: 'UserReq', fields: { userName: true } },
  'users/create': { struct: 'PasswordReq', fields: { userName: true, password: true } },
  'users/update_password': { struct: 'NewPasswordReq', fields: { userName: true, password: true, newPassword: true } },
  'users/drop': { struct: 'UserReq', fields: { userName: true } },
  'users/grant_role': { struct: 'UserRoleReq', fields: { userName: true, roleName: true } },
  'users/revoke_role': { struct: 'UserRoleReq', fields: { userName: true, roleName: true } },
  'roles/list': { struct: 'EmptyReq', fields: {} },
  'databases/list': { struct: 'EmptyReq', fields: {} },
  'collections/list': { struct: 'DatabaseReq', fields: { dbName: false } },
} as const satisfies Record<SimulatorRoute, { struct: string; fields: Record<string, boolean> }>;

export type BindResult = { ok: true; body: BoundBody } | { ok: false; reply: Reply };

/** The whole body as UTF-8, or null when it exceeds 1 MiB. */
export async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function parseLoosely(body: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * gin's ShouldBindBodyWith(binding.JSON) + validator, as `wrapperPost` reports it: an empty body
 * (io.EOF) and decode errors are 1801, missing or empty `binding:"required"` fields are 1802.
 * Like encoding/json, keys match case-insensitively (exact match preferred) and a JSON null
 * leaves a field empty.
 */
export function bindJson(route: SimulatorRoute, rawBody: string): BindResult {
  const shape = REQUEST_SHAPES[route];
  if (rawBody.trim() === '') {
    return { ok: false, reply: fail(CODE.badJson, 'can only accept json format request, the request body should be nil, however {} is valid') };
  }
  let value: unknown;
  try {
    value = JSON.parse(rawBody);
  } catch {
    return { ok: false, reply: fail(CODE.badJson, `can only accept json format request, error: ${goSyntaxError(rawBody)}`) };
  }
  if (value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    const kind = Array.isArray(value) ? 'array' : jsonKind(value);
    return { ok: false, reply: fail(CODE.badJson, `can only accept json format request, error: json: cannot unmarshal ${kind} into Go value of type httpserver.${shape.struct}`) };
  }
  const object = value as Record<string, unknown>;
  const body: BoundBody = {};
  const missing: string[] = [];
  for (const [field, required] of Object.entries(shape.fields)) {
    const key = field in object ? field : Object.keys(object).find((k) => k.toLowerCase() === field.toLowerCase());
    const fieldValue = key === undefined ? undefined : object[key];
    if (fieldValue !== undefined && fieldValue !== null && typeof fieldValue !== 'string') {
      return {
        ok: false,
        reply: fail(CODE.badJson, `can only accept json format request, error: json: cannot unmarshal ${jsonKind(fieldValue)} into Go struct field ${shape.struct}.${field} of type string`),
      };
    }
    const text = typeof fieldValue === 'string' ? fieldValue : '';
    body[field] = text;
    if (required && text === '') missing.push(field);
  }
  if (missing.length > 0) {
    const details = missing.map((field) => {
      const goName = field.charAt(0).toUpperCase() + field.slice(1);
      return `Key: '${shape.struct}.${goName}' Error:Field validation for '${goName}' failed on the 'required' tag`;
    });
    return { ok: false, reply: fail(CODE.missingParameters, `missing required parameters, error: ${details.join('\n')}`) };
  }
  return { ok: true, body };
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'object') return 'object';
  return 'string';
}

/** An approximation of encoding/json's syntax errors: enough to look like the real thing. */
function goSyntaxError(body: string): string {
  const first = body.trimStart().charAt(0);
  if (first !== '' && !'{["-0123456789tfn'.includes(first)) return `invalid character '${first}' looking for beginning of value`;
  return 'unexpected EOF';
}
