/**
 * Scrubs the credentials of one request out of text that came back from a server or the network
 * stack, before it goes into a result. Servers and gateways echo requests in surprising places
 * (a 400 page quoting the Authorization header, a proxy error quoting the body), and results end
 * up in logs, Redis and HTTP replies, so every string a client returns passes through here.
 */

/** Longest message a result carries; long enough to diagnose, short enough for a log line. */
export const MAX_MESSAGE_CHARS = 200;

const REDACTED = '[REDACTED]';

/** Returns a function that removes every form of `secrets` (and `user:secret`) from a text and truncates it. */
export function createRedactor(user: string, secrets: readonly string[]): (text: string) => string {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (secret === '') continue;
    for (const plain of [secret, `${user}:${secret}`]) {
      const utf8 = Buffer.from(plain, 'utf8');
      for (const form of [
        plain,
        utf8.toString('base64'),
        utf8.toString('base64').replace(/=+$/, ''),
        utf8.toString('base64url'),
        // Node sends header strings as latin1, so a UTF-8 credential may come back in that form.
        utf8.toString('latin1'),
        JSON.stringify(plain).slice(1, -1),
        encodeURIComponent(plain),
      ]) {
        if (form !== '') needles.add(form);
      }
    }
  }
  // Longest first, so `user:secret` goes as a whole before `secret` is found inside it.
  const ordered = [...needles].sort((a, b) => b.length - a.length);
  return (text: string): string => truncate(scrub(text, ordered));
}

function scrub(text: string, needles: readonly string[]): string {
  let result = text;
  // Repeat until stable: a removal can join two halves of another occurrence.
  for (let round = 0; round < 5; round += 1) {
    let next = result;
    for (const needle of needles) next = next.split(needle).join(REDACTED);
    if (next === result) return result;
    result = next;
  }
  // Still changing after five rounds: the text is built to smuggle a secret; keep none of it.
  return REDACTED;
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MAX_MESSAGE_CHARS ? oneLine : `${oneLine.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}
