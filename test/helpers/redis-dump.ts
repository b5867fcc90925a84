import type { Redis } from 'ioredis';

/**
 * Every key under a pattern and every value, whatever the type (string, list, hash, set, zset,
 * stream), as text: for secret-exposure scans.
 */
export async function dumpRedis(redis: Redis, pattern = '*'): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      out.push(key);
      const type = await redis.type(key);
      switch (type) {
        case 'string':
          out.push((await redis.get(key)) ?? '');
          break;
        case 'list':
          out.push(...(await redis.lrange(key, 0, -1)));
          break;
        case 'hash':
          out.push(...Object.entries(await redis.hgetall(key)).flat());
          break;
        case 'set':
          out.push(...(await redis.smembers(key)));
          break;
        case 'zset':
          out.push(...(await redis.zrange(key, 0, -1)));
          break;
        case 'stream': {
          const entries = await redis.xrange(key, '-', '+');
          for (const [id, fields] of entries) out.push(id, ...fields);
          break;
        }
        default:
          out.push(`<${type}>`);
      }
    }
  } while (cursor !== '0');
  return out;
}
