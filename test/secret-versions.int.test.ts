/**
 * The fleet's feed of version labels over a real Redis: a change is appended only when the labels
 * differ (two replicas publishing the same view make one entry), followers read the changes in
 * order, a follower left behind a trimmed stream is told to resync, and the fleet-wide lease
 * admits one caller per interval.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SecretVersionsFeed, canonicalLabels } from '../src/queue/secret-versions.ts';

let redis: Redis;

beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
});

afterAll(() => {
  redis.disconnect();
});

function feed(): { feed: SecretVersionsFeed; prefix: string } {
  const prefix = `{feed-${randomUUID().slice(0, 8)}}`;
  return { feed: new SecretVersionsFeed(redis, prefix), prefix };
}

describe('SecretVersionsFeed', () => {
  it('appends a change only when the labels differ, whatever their order', async () => {
    const { feed: f } = feed();
    expect(await f.publish('app', { v1: ['AWSCURRENT'], v0: ['AWSPREVIOUS'] })).toBe(true);
    expect(await f.publish('app', { v0: ['AWSPREVIOUS'], v1: ['AWSCURRENT'] })).toBe(false);
    expect(await f.publish('app', { v2: ['AWSCURRENT', 'AWSPENDING'], v1: ['AWSPREVIOUS'] })).toBe(true);
    const { changes, gap } = await f.changesAfter('0-0');
    expect(gap).toBe(false);
    expect(changes.map((c) => [c.credential, canonicalLabels(c.labels)])).toEqual([
      ['app', '{"v0":["AWSPREVIOUS"],"v1":["AWSCURRENT"]}'],
      ['app', '{"v1":["AWSPREVIOUS"],"v2":["AWSCURRENT","AWSPENDING"]}'],
    ]);
    expect(await f.labelsOf(['app', 'other'])).toEqual(new Map([['app', { v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT', 'AWSPENDING'] }]]));
  });

  it('gives a follower the changes after the last one it applied, and nothing more', async () => {
    const { feed: f } = feed();
    await f.publish('a', { va: ['AWSCURRENT'] });
    const seen = await f.lastId();
    await f.publish('b', { vb: ['AWSCURRENT'] });
    await f.publish('c', { vc: ['AWSCURRENT'] });
    const { changes, gap } = await f.changesAfter(seen);
    expect(gap).toBe(false);
    expect(changes.map((c) => c.credential)).toEqual(['b', 'c']);
    expect((await f.changesAfter(changes[1]!.id)).changes).toEqual([]);
  });

  it('tells a follower whose last entry was trimmed away to resync from the hash', async () => {
    const { feed: f, prefix } = feed();
    await f.publish('a', { va: ['AWSCURRENT'] });
    const seen = await f.lastId();
    await f.publish('b', { vb: ['AWSCURRENT'] });
    await redis.xtrim(`${prefix}:secret-versions:changes`, 'MAXLEN', 0);
    await f.publish('c', { vc: ['AWSCURRENT'] });
    expect((await f.changesAfter(seen)).gap).toBe(true);
    expect([...(await f.readAll()).keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('admits one caller of a lease per interval', async () => {
    const { feed: f } = feed();
    const claims = await Promise.all(Array.from({ length: 5 }, () => f.claim('full-refresh', 200)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await f.claim('full-refresh', 200)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await f.claim('full-refresh', 200)).toBe(true);
  });
});
