import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections for BullMQ. Workers need `maxRetriesPerRequest: null` (BullMQ refuses
 * otherwise: a blocking command must wait out a reconnect); producers (HTTP handlers, the
 * `enqueue` command) fail fast instead of queueing commands while Redis is away.
 * BullMQ never closes connections it is given: whoever opens one closes it.
 */
export function createRedisConnection(url: string, role: 'worker' | 'producer', extra: RedisOptions = {}): Redis {
  const base: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5_000 };
  return new Redis(url, { ...base, lazyConnect: false, ...extra });
}
