import { startRedisServer } from '../test/helpers/redis-server.ts';

/** A private redis-server for a benchmark (REDIS_URL, when set, is used instead). */
export async function startBenchRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
  return startRedisServer();
}
