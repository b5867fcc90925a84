/**
 * Reading the members of a JSON 1.1 request body, with the model's constraints
 * (spec/secrets-manager.md section 2.3). A wrongly typed member is a SerializationException, a
 * constraint violation a ValidationException, as the service's own framework answers. Errors name the
 * member and the constraint, never the member's value.
 */
import { emulatedError } from './secrets-emulator-errors.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Length limits from the service model. */
export const LIMIT = {
  secretValueBytes: { min: 1, max: 65_536 },
  token: { min: 32, max: 64 },
  stage: { min: 1, max: 256 },
  stagesPerCall: { min: 1, max: 20 },
  name: { min: 1, max: 256 },
  secretId: { min: 1, max: 2_048 },
  description: { min: 0, max: 2_048 },
  maxResults: { min: 1, max: 100 },
  recoveryWindowDays: { min: 7, max: 30 },
} as const;

interface Bounds {
  readonly min: number;
  readonly max: number;
}

/** Parses the raw body; an empty body is an empty object (all members absent). */
export function parseBody(raw: string): JsonObject {
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw emulatedError.serialization('The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw emulatedError.serialization('The request body must be a JSON object.');
  }
  return parsed as JsonObject;
}

export function optionalString(body: JsonObject, member: string, bounds?: Bounds): string | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw emulatedError.serialization(`Member ${member} must be a string.`);
  if (bounds) checkLength(member, value.length, bounds);
  return value;
}

export function requiredString(body: JsonObject, member: string, bounds?: Bounds): string {
  const value = optionalString(body, member, bounds);
  if (value === undefined) throw emulatedError.validation(member, 'Member must not be null');
  return value;
}

export function optionalStringList(body: JsonObject, member: string, count: Bounds, item: Bounds): string[] | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw emulatedError.serialization(`Member ${member} must be a list.`);
  checkLength(member, value.length, count);
  return value.map((entry) => {
    if (typeof entry !== 'string') throw emulatedError.serialization(`Member ${member} must be a list of strings.`);
    checkLength(member, entry.length, item, 'Member must satisfy constraint: [Member must have length');
    return entry;
  });
}

export function optionalInteger(body: JsonObject, member: string, bounds: Bounds): number | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw emulatedError.serialization(`Member ${member} must be an integer.`);
  }
  if (value < bounds.min) throw emulatedError.validation(member, `Member must have value greater than or equal to ${bounds.min}`);
  if (value > bounds.max) throw emulatedError.validation(member, `Member must have value less than or equal to ${bounds.max}`);
  return value;
}

export function optionalBoolean(body: JsonObject, member: string): boolean | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw emulatedError.serialization(`Member ${member} must be a boolean.`);
  return value;
}

/** A blob member: base64 text on the wire. */
export function optionalBlob(body: JsonObject, member: string): Buffer | undefined {
  const text = optionalString(body, member);
  if (text === undefined) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw emulatedError.serialization(`Member ${member} must be base64 encoded.`);
  }
  return Buffer.from(text, 'base64');
}

/** Length check; `prefix` lets list items word the constraint the way the service does. */
export function checkLength(member: string, length: number, bounds: Bounds, prefix = 'Member must have length'): void {
  const close = prefix.endsWith('[Member must have length') ? ']' : '';
  if (length < bounds.min) {
    throw emulatedError.validation(member, `${prefix} greater than or equal to ${bounds.min}${close}`);
  }
  if (length > bounds.max) {
    throw emulatedError.validation(member, `${prefix} less than or equal to ${bounds.max}${close}`);
  }
}
