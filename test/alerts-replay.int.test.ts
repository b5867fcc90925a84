/**
 * The Redis replay guard against the real redis-server of the test setup: a signed alert is
 * accepted once, refused while remembered, accepted again after its TTL, and the key it leaves in
 * Redis carries the configured prefix and a hash, never the signature itself.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisReplayGuard, replayRedisKey, type ReplayRedisClient } from '../src/alerts/replay-guard.ts';

let redis: Redis;

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

afterAll(async () => {
  await redis.quit();
});

/** A prefix of its own per test, braces as in production (one Redis Cluster hash slot). */
function freshPrefix(): string {
  return `{alerts-replay-test-${randomUUID()}}`;
}

/** What X-Rotator-Signature carries: 64 hex characters. */
function signatureHex(): string {
  return randomBytes(32).toString('hex');
}

describe('RedisReplayGuard', () => {
  it('says first-seen once, then refuses the same key while it is remembered', async () => {
    const guard = new RedisReplayGuard(redis, freshPrefix());
    const key = signatureHex();
    expect(await guard.firstSeen(key, 60)).toBe(true);
    expect(await guard.firstSeen(key, 60)).toBe(false);
    expect(await guard.firstSeen(key, 60)).toBe(false);
    expect(await guard.firstSeen(signatureHex(), 60)).toBe(true);
  });

  it('lets exactly one of many concurrent deliveries of the same key through', async () => {
    const guard = new RedisReplayGuard(redis, freshPrefix());
    const key = signatureHex();
    const answers = await Promise.all(Array.from({ length: 25 }, () => guard.firstSeen(key, 60)));
    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  it('shares what it has seen between replicas using the same prefix, and not across prefixes', async () => {
    const prefix = freshPrefix();
    const other = new Redis(inject('redisUrl'));
    try {
      const key = signatureHex();
      expect(await new RedisReplayGuard(redis, prefix).firstSeen(key, 60)).toBe(true);
      expect(await new RedisReplayGuard(other, prefix).firstSeen(key, 60)).toBe(false);
      expect(await new RedisReplayGuard(other, freshPrefix()).firstSeen(key, 60)).toBe(true);
    } finally {
      await other.quit();
    }
  });

  it('forgets a key once its TTL has passed', async () => {
    const guard = new RedisReplayGuard(redis, freshPrefix());
    const key = signatureHex();
    expect(await guard.firstSeen(key, 1)).toBe(true);
    expect(await guard.firstSeen(key, 1)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await guard.firstSeen(key, 1)).toBe(true);
  });

  it('stores one key under <prefix>:alert-replay: with the TTL, named by a hash and holding no part of the signature', async () => {
    const prefix = freshPrefix();
    const guard = new RedisReplayGuard(redis, prefix);
    const key = signatureHex();
    await guard.firstSeen(key, 600);

    const keys = await redis.keys(`${prefix}*`);
    expect(keys).toEqual([replayRedisKey(prefix, key)]);
    const [stored] = keys;
    expect(stored).toMatch(new RegExp(`^${prefix.replace(/[{}]/g, '\\$&')}:alert-replay:[0-9a-f]{64}$`));
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.slice(0, 16));
    expect(await redis.get(stored ?? '')).toBe('1');
    const ttlSeconds = await redis.ttl(stored ?? '');
    expect(ttlSeconds).toBeGreaterThan(590);
    expect(ttlSeconds).toBeLessThanOrEqual(600);
  });

  it('refuses a TTL that is not a positive whole number of seconds', async () => {
    const guard = new RedisReplayGuard(redis, freshPrefix());
    await expect(guard.firstSeen(signatureHex(), 0)).rejects.toThrow(RangeError);
    await expect(guard.firstSeen(signatureHex(), 1.5)).rejects.toThrow(RangeError);
  });

  it('fits the ioredis client without an adapter', () => {
    const client: ReplayRedisClient = redis;
    expect(client).toBe(redis);
  });
});
