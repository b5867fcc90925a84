/**
 * What a one-shot command that talks to Redis (`enqueue`, `schedules sync|list`) is given, and how
 * its Redis trouble becomes an answer: every Redis failure, before or after the connection was
 * ready, leaves the command as one `RedisUnavailableError` (one line on stderr, exit 4).
 */
import type { Config } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import { asRedisUnavailable } from '../queue/redis-connection.ts';
import type { Releases } from './releases.ts';

/** Where a command writes: results to stdout, logs (JSON lines) to stderr. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface OneShotContext {
  /** Where the command registers the release of everything it opens; `main` runs them. */
  releases: Releases;
  /** Connection errors go here (rate-limited JSON lines on stderr). */
  logger: Logger;
}

/** Runs `body`, turning a Redis failure it throws into a `RedisUnavailableError` naming `redis.url` (redacted). */
export async function withRedisFailures<T>(redis: Config['redis'], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw asRedisUnavailable(error, redis);
  }
}

/**
 * The `error` listener of a BullMQ queue or listener on a factory connection: the factory already
 * logs the connection's errors (rate-limited), and BullMQ prints raw stacks for an emitter without one.
 */
export function ignoreLoggedByConnection(): void {}
