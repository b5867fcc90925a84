/**
 * The two token-checked Lua scripts of a Redis lock taken with `SET key token NX PX ttl`: each acts
 * only while the key still holds the caller's token, so a holder whose lock expired (and was
 * perhaps taken by another) neither extends nor deletes the new holder's. Both answer 1 when they
 * acted, 0 when the key was gone or another's.
 */

/** KEYS[1] the lock, ARGV[1] the token, ARGV[2] the new TTL in ms. */
export const RENEW_IF_HELD = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/** KEYS[1] the lock, ARGV[1] the token. */
export const RELEASE_IF_HELD = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
