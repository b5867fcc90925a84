/**
 * Turning an alert body (raw bytes) into a value and a schema's issues into a reply text, for every
 * feed. Both exist so that no error text ever quotes the body: a leak alert carries, by its nature,
 * a secret or something close to one, and these texts reach logs and 400 replies.
 */
import type { z } from 'zod';

export type JsonBodyParse = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * JSON.parse, with its error replaced: V8's messages quote a slice of the input
 * (`Unexpected token 'p', "password=..." is not valid JSON`), and the input may be a secret.
 */
export function parseJson(rawBody: Uint8Array | string): JsonBodyParse {
  let textBody: string;
  try {
    textBody = typeof rawBody === 'string' ? rawBody : new TextDecoder('utf-8', { fatal: true }).decode(rawBody);
  } catch {
    return { ok: false, error: 'body is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(textBody) };
  } catch {
    return { ok: false, error: 'body is not valid JSON' };
  }
}

/** The first few issues as `path: message`. Paths hold only our keys and array indexes. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], max = 3): string {
  const shown = issues.slice(0, max).map((issue) => {
    const path = issue.path.map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`)).join('');
    return path === '' ? issue.message : `${path.replace(/^\./, '')}: ${issue.message}`;
  });
  const more = issues.length > max ? ` (and ${issues.length - max} more)` : '';
  return `${shown.join('; ')}${more}`;
}
