/**
 * The credential secret's JSON (docs/design.md section 4): an object with at least `username` and
 * `password`. The rotator owns `password` and `token` (`username:password`, where that key is
 * present) and copies every other key unchanged, in order.
 */
export interface CredentialSecret {
  username: string;
  password: string;
  /** The parsed object, every key kept. */
  fields: Readonly<Record<string, unknown>>;
}

/** Parses a SecretString; null when it is not a JSON object with string `username` and `password`. */
export function parseCredentialSecret(text: string): CredentialSecret | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const fields = parsed as Record<string, unknown>;
  const { username, password } = fields;
  if (typeof username !== 'string' || typeof password !== 'string' || username === '' || password === '') return null;
  return { username, password, fields };
}

/** The SecretString of `secret` with a new password: every other key kept, `token` rewritten if present. */
export function withPassword(secret: CredentialSecret, password: string): string {
  const next: Record<string, unknown> = { ...secret.fields, password };
  if ('token' in secret.fields) next.token = `${secret.username}:${password}`;
  return JSON.stringify(next);
}
