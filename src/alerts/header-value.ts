/** A header value as Node's IncomingHttpHeaders types it. */
export type HeaderValue = string | readonly string[] | undefined;

/**
 * The one value of a signature header. undefined: absent or empty; null: repeated. A repeated
 * signature header is refused rather than guessed at: which copy a proxy or framework keeps
 * differs, and the sender never sends two.
 */
export function singleHeader(value: HeaderValue): string | undefined | null {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (value.length === 0) return undefined;
    return value.length === 1 && value[0] !== undefined && value[0] !== '' ? value[0] : null;
  }
  return value === '' ? undefined : value;
}
