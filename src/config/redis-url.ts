/**
 * Redis URLs as the config gives them (`redis.url`, `redis.nodes`): `redis://` or `rediss://`
 * (TLS), an optional user and password, host, port, and a database number as the path. The user
 * and the password are percent-encoded, as in every URL: a password holding `#`, `?`, `@`, `%`,
 * `/` or `:` writes them as `%23`, `%3F`, `%40`, `%25`, `%2F`, `%3A`.
 *
 * Parsed here, once, with the WHATWG URL parser and decodeURIComponent, rather than by ioredis'
 * own URL handling: a malformed password then gets a message that says what is wrong with it,
 * and no message ever quotes the URL (it may hold the password).
 */

export interface RedisUrl {
  tls: boolean;
  host: string;
  port: number;
  /** Decoded; undefined when the URL has none (the `default` user). */
  username?: string;
  /** Decoded; undefined when the URL has none. */
  password?: string;
  db: number;
}

export type RedisUrlParse = { ok: true; url: RedisUrl } | { ok: false; problem: string };

const ENCODE_HINT = 'percent-encode the user and password (# ? @ % / : as %23 %3F %40 %25 %2F %3A)';

function decode(part: string, what: string): string | { problem: string } {
  try {
    return decodeURIComponent(part);
  } catch {
    return { problem: `the ${what} is not validly percent-encoded: ${ENCODE_HINT}` };
  }
}

/** Parses a Redis URL; the problem, when there is one, never quotes the text. */
export function parseRedisUrl(text: string): RedisUrlParse {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const hint = text.includes('@') ? `; if the password holds special characters, ${ENCODE_HINT}` : '';
    return { ok: false, problem: `must be a redis:// or rediss:// URL${hint}` };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return { ok: false, problem: 'must be a redis:// or rediss:// URL' };
  if (url.search !== '' || url.hash !== '') return { ok: false, problem: `must not contain "?" or "#" (a password holding them must be percent-encoded: ${ENCODE_HINT})` };
  if (url.hostname === '') return { ok: false, problem: 'has no host' };
  const db = url.pathname === '' || url.pathname === '/' ? 0 : Number(url.pathname.slice(1));
  if (!Number.isInteger(db) || db < 0 || db > 15 || !/^\/?\d*$/.test(url.pathname)) return { ok: false, problem: 'the path must be a database number such as /0' };
  const username = decode(url.username, 'user');
  if (typeof username !== 'string') return { ok: false, problem: username.problem };
  const password = decode(url.password, 'password');
  if (typeof password !== 'string') return { ok: false, problem: password.problem };
  // IPv6 literals come bracketed from URL; net.connect wants them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    ok: true,
    url: {
      tls: url.protocol === 'rediss:',
      host,
      port: url.port === '' ? 6379 : Number(url.port),
      ...(username !== '' && { username }),
      ...(password !== '' && { password }),
      db,
    },
  };
}

/** `rediss://host:port`: what a message may say about an endpoint (never the user or password). */
export function describeRedisEndpoint(url: Pick<RedisUrl, 'tls' | 'host' | 'port'>): string {
  const host = url.host.includes(':') ? `[${url.host}]` : url.host;
  return `${url.tls ? 'rediss' : 'redis'}://${host}:${url.port}`;
}

/**
 * A `host:port` of a sentinel (`redis.sentinels`). The port is required: sentinels listen on
 * 26379 by convention, not on Redis's 6379, and a silent default would point at the wrong thing.
 */
export function parseHostPort(text: string): { ok: true; host: string; port: number } | { ok: false; problem: string } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]@]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65_535) return { ok: false, problem: 'must be host:port, e.g. sentinel-1:26379' };
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  return { ok: true, host, port };
}

/**
 * True when `prefix` carries a Redis Cluster hash tag: a `{`, then at least one character, then
 * the first `}` after it. Only the tag is hashed, so every key under the prefix (every key of a
 * BullMQ queue, every lock) lands in one slot, as BullMQ requires in cluster mode.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open === -1) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}
