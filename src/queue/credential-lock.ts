import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-client.ts';
import { awaitReplication } from './replication.ts';
import { LeaseLostError } from '../rotation/errors.ts';
import { RELEASE_IF_HELD, RENEW_IF_HELD } from './token-lock-scripts.ts';

/** How long a fence check may wait for Redis before ownership counts as unproven. */
const CHECK_TIMEOUT_MS = 5_000;

/**
 * A per-credential fencing lock: `SET key token NX PX ttl`, renewed while held, checked before
 * every side effect. BullMQ can run one job twice at once (at-least-once delivery, a stalled
 * job handed to another worker while the first still runs); this lock is what keeps two
 * rotations of one credential apart. A holder that cannot prove ownership stops.
 */
export class CredentialLock {
  private readonly redis: RedisClient;
  private readonly key: string;
  readonly token: string;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | null = null;
  private lost = false;

  private constructor(redis: RedisClient, key: string, token: string, ttlMs: number) {
    this.redis = redis;
    this.key = key;
    this.token = token;
    this.ttlMs = ttlMs;
  }

  /** Takes the lock, or returns null when another holder has it. Renews itself every third of the TTL. */
  static async acquire(redis: RedisClient, options: { prefix: string; credentialId: string; ttlMs: number; owner: string }): Promise<CredentialLock | null> {
    const key = lockKey(options.prefix, options.credentialId);
    const token = `${options.owner}:${randomUUID()}`;
    const ok = await redis.set(key, token, 'PX', options.ttlMs, 'NX');
    if (ok !== 'OK') return null;
    // Before any side effect: a failover must not forget this lock and let a second holder in.
    await awaitReplication(redis);
    const lock = new CredentialLock(redis, key, token, options.ttlMs);
    lock.timer = setInterval(() => void lock.renew(), Math.max(200, Math.floor(options.ttlMs / 3)));
    lock.timer.unref();
    return lock;
  }

  /** Throws LeaseLostError unless this holder still owns the lock: the fence of every side effect. */
  async assertHeld(credentialId: string): Promise<void> {
    if (this.lost) throw new LeaseLostError(credentialId);
    let holder: string | null;
    try {
      holder = await withTimeout(this.redis.get(this.key), CHECK_TIMEOUT_MS);
    } catch (err) {
      throw new LeaseLostError(credentialId, { cause: err });
    }
    if (holder !== this.token) {
      this.lost = true;
      throw new LeaseLostError(credentialId);
    }
  }

  private async renew(): Promise<void> {
    try {
      const renewed = await this.redis.eval(RENEW_IF_HELD, 1, this.key, this.token, String(this.ttlMs));
      if (renewed !== 1) this.lost = true;
    } catch {
      // Redis away: the next fence check decides (it waits for RedisClient, then compares tokens).
    }
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      await withTimeout(this.redis.eval(RELEASE_IF_HELD, 1, this.key, this.token), CHECK_TIMEOUT_MS);
    } catch {
      // It expires by itself.
    }
  }
}

export function lockKey(prefix: string, credentialId: string): string {
  return `${prefix}:lock:${credentialId}`;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
