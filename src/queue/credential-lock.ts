import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-client.ts';
import { awaitReplication } from './replication.ts';
import { LeaseLostError } from '../rotation/errors.ts';
import { TokenLock } from './token-lock.ts';

/**
 * A per-credential fencing lock (a TokenLock on `<prefix>:lock:<credential>`), renewed while held,
 * checked before every side effect. BullMQ can run one job twice at once (at-least-once delivery,
 * a stalled job handed to another worker while the first still runs); this lock is what keeps two
 * rotations of one credential apart. A holder that cannot prove ownership stops.
 */
export class CredentialLock {
  private readonly lock: TokenLock;

  private constructor(lock: TokenLock) {
    this.lock = lock;
  }

  get token(): string {
    return this.lock.token;
  }

  /** Takes the lock, or returns null when another holder has it. Renews itself every third of the TTL. */
  static async acquire(redis: RedisClient, options: { prefix: string; credentialId: string; ttlMs: number; owner: string }): Promise<CredentialLock | null> {
    const lock = await TokenLock.take(redis, {
      key: lockKey(options.prefix, options.credentialId),
      token: `${options.owner}:${randomUUID()}`,
      ttlMs: options.ttlMs,
      renewEveryMs: Math.max(200, Math.floor(options.ttlMs / 3)),
    });
    if (lock === null) return null;
    try {
      // Before any side effect: a failover must not forget this lock and let a second holder in.
      await awaitReplication(redis);
    } catch (error) {
      lock.abandon();
      throw error;
    }
    return new CredentialLock(lock);
  }

  /** Throws LeaseLostError unless this holder still owns the lock: the fence of every side effect. */
  async assertHeld(credentialId: string): Promise<void> {
    let held: boolean;
    try {
      held = await this.lock.confirm();
    } catch (err) {
      throw new LeaseLostError(credentialId, { cause: err });
    }
    if (!held) throw new LeaseLostError(credentialId);
  }

  release(): Promise<void> {
    return this.lock.release();
  }
}

export function lockKey(prefix: string, credentialId: string): string {
  return `${prefix}:lock:${credentialId}`;
}
