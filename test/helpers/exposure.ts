/**
 * Every form a careless path might write a password in, with its label: plain, base64 (standard
 * and url-safe), URL-encoded (upper and lower case, RFC 3986 escapes of ! ' ( ) *), JSON-escaped,
 * hex, upper-cased, and `user:password` (plain and base64, as in a Basic
 * or Bearer header). A later form with the same text wins.
 */
export function exposureForms(passwords: Iterable<string>, usernames: Iterable<string> = []): Map<string, string> {
  const forms = new Map<string, string>();
  const users = [...usernames];
  for (const password of passwords) {
    if (password.length < 8) continue; // too short to search for without noise; never a generated password
    const add = (form: string, label: string): void => {
      forms.set(form, label);
    };
    add(password, 'plain');
    add(Buffer.from(password).toString('base64').replace(/=+$/, ''), 'base64');
    add(Buffer.from(password).toString('base64url'), 'base64url');
    add(encodeURIComponent(password), 'url-encoded');
    add(JSON.stringify(password).slice(1, -1), 'json-escaped');
    add(Buffer.from(password).toString('hex'), 'hex');
    add(encodeURIComponent(password).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()), 'url-encoded (lower case)');
    add(encodeURIComponent(password).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`), 'RFC 3986 escaped');
    add(password.toUpperCase(), 'upper-cased');
    for (const user of users) {
      add(`${user}:${password}`, 'user:password');
      add(Buffer.from(`${user}:${password}`).toString('base64').replace(/=+$/, ''), 'base64(user:password)');
    }
  }
  return forms;
}

/** Searches captured text (logs, results, replies, Redis dumps) for any of the given passwords, in every form of exposureForms. */
export function findExposures(haystacks: Iterable<string>, passwords: Iterable<string>, usernames: Iterable<string> = []): string[] {
  const forms = exposureForms(passwords, usernames);
  const hits: string[] = [];
  let index = 0;
  for (const text of haystacks) {
    for (const [form, label] of forms) {
      if (text.includes(form)) hits.push(`haystack #${index} holds a password (${label})`);
    }
    index++;
  }
  return hits;
}
