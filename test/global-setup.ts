import type { TestProject } from 'vitest/node';
import { startRedisServer } from './helpers/redis-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * Starts a private redis-server on a free port unless REDIS_URL is set, and hands its URL to the
 * tests through `inject('redisUrl')`. Nothing is persisted; eviction is off as BullMQ requires.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.REDIS_URL;
  if (given) {
    project.provide('redisUrl', given);
    return async () => {};
  }
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return server.stop;
}
