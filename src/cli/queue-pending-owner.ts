/**
 * What `verify` asks the queue about a young pending version: will a rotation still act on it
 * (RotationQueue.pendingVersionOwner)? Redis is optional for `verify` (its verdict comes from
 * Secrets Manager and the clusters), so the connection is opened only when a young pending version
 * is found, once per run, and every trouble (Redis unreachable, a command that fails or hangs)
 * answers `unknown`, which leaves the verdict to the pending version's age, as before the queue was
 * asked. One warn line says so; nothing is retried. The connection and the queue are registered in
 * `releases`, which `main` closes.
 */
import type { Config } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import { closeRedisConnection, createRedisConnection, describeRedisError, waitForRedis } from '../queue/redis-connection.ts';
import { RotationQueue } from '../queue/rotation-queue.ts';
import { settleWithin } from '../queue/settle-within.ts';
import type { PendingOwner } from '../rotation/strategy.ts';
import { ignoreLoggedByConnection } from './one-shot.ts';
import type { Releases } from './releases.ts';

/** The longest `verify` waits for Redis to connect (or `redis.connectTimeoutMs` when shorter): the answer only refines the verdict. */
export const QUEUE_ASK_CONNECT_MS = 3_000;
/** The longest one question may take once connected. */
export const QUEUE_ASK_MS = 2_000;

export function queuePendingOwner(config: Config, context: { releases: Releases; logger: Logger }): (credentialId: string, versionId: string) => Promise<PendingOwner> {
  const { releases, logger } = context;
  let queue: Promise<RotationQueue | null> | null = null;
  const open = async (): Promise<RotationQueue | null> => {
    const connection = releases.add('redis connection (verify)', createRedisConnection(config.redis, 'producer', { logger, name: 'verify' }), closeRedisConnection);
    try {
      await waitForRedis(connection, config.redis, Math.min(config.redis.connectTimeoutMs, QUEUE_ASK_CONNECT_MS));
    } catch (error) {
      // A RedisUnavailableError: its message names the endpoint with the password redacted, and why.
      logger.warn({ cause: error instanceof Error ? error.message : describeRedisError(error) }, 'verify: the queue cannot be asked whether a pending version\'s rotation has ended; judging it by its age only');
      return null;
    }
    const rotations = releases.add('rotation queue (verify)', new RotationQueue(connection, config.redis.prefix), (q) => q.close());
    rotations.queue.on('error', ignoreLoggedByConnection);
    return rotations;
  };
  return async (credentialId, versionId) => {
    queue ??= open();
    const rotations = await queue;
    if (rotations === null) return 'unknown';
    return (await settleWithin(rotations.pendingVersionOwner(credentialId, versionId), QUEUE_ASK_MS)) ?? 'unknown';
  };
}
