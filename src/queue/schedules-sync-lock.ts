import { randomUUID } from 'node:crypto';
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';
import type { RedisClient } from './redis-client.ts';
import { RELEASE_IF_HELD, RENEW_IF_HELD } from './token-lock-scripts.ts';

/** @defaultValue of the sync lock's TTL: renewed every third of it, so it outlives any sync whose process lives. */
export const SCHEDULES_SYNC_LOCK_TTL_MS = 60_000;

/** The sync found its lock expired or taken by another process, and stopped. */
export class SchedulesSyncLockLostError extends RotatorError {
  constructor() {
    super(ERROR_CODE.schedulesSyncLockLost, 'lost the schedules sync lock while syncing (it expired, or another process took it) and stopped: no scheduler was removed without it; run the sync again');
  }
}

export function schedulesSyncLockKey(prefix: string): string {
  return `${prefix}:schedules-sync-lock`;
}

/**
 * The lock that lets one process at a time sync the job schedulers (`SET key token NX PX ttl`):
 * BullMQ dropped schedulers under concurrent upserts (#3085, #3381), and a sync that removed
 * schedulers on behalf of an older config while a newer one upserts would undo it.
 *
 * Renewed every third of its TTL while held (token-checked PEXPIRE), so a sync of any length keeps
 * it; a process that dies loses it after one TTL. A renewal that finds the key gone or another's
 * marks the lock lost (`held` turns false: the sync stops taking work). `assertHeld` proves
 * ownership with one GET: the key holds this token only if it never expired since it was taken
 * (a renewal never recreates a key), so a sync that passes it right before a removal has held the
 * lock all along.
 */
export class SchedulesSyncLock {
  private readonly redis: RedisClient;
  private readonly key: string;
  private readonly token: string;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | null = null;
  private lost = false;

  private constructor(redis: RedisClient, key: string, token: string, ttlMs: number) {
    this.redis = redis;
    this.key = key;
    this.token = token;
    this.ttlMs = ttlMs;
  }

  /** Takes the lock, or returns null when another process holds it. */
  static async acquire(redis: RedisClient, prefix: string, ttlMs: number = SCHEDULES_SYNC_LOCK_TTL_MS): Promise<SchedulesSyncLock | null> {
    if (!Number.isInteger(ttlMs) || ttlMs < 30) throw new RangeError('ttlMs must be an integer >= 30');
    const key = schedulesSyncLockKey(prefix);
    const token = randomUUID();
    if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return null;
    const lock = new SchedulesSyncLock(redis, key, token, ttlMs);
    lock.timer = setInterval(() => void lock.renew(), Math.floor(ttlMs / 3));
    lock.timer.unref();
    return lock;
  }

  /** False once a renewal found the lock expired or another's. No round trip: for a check before each piece of work. */
  get held(): boolean {
    return !this.lost;
  }

  /** Throws SchedulesSyncLockLostError unless the key still holds this token (one GET): the fence before a removal. */
  async assertHeld(): Promise<void> {
    if (!this.lost && (await this.redis.get(this.key)) !== this.token) this.markLost();
    if (this.lost) throw new SchedulesSyncLockLostError();
  }

  private async renew(): Promise<void> {
    try {
      if ((await this.redis.eval(RENEW_IF_HELD, 1, this.key, this.token, String(this.ttlMs))) !== 1) this.markLost();
    } catch {
      // Redis away: the sync's own commands wait for it too, and the next fence (a GET) decides.
    }
  }

  private markLost(): void {
    this.lost = true;
    this.stopRenewing();
  }

  private stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stops renewing and deletes the key if it is still this holder's. Never throws: a lock not deleted expires within its TTL. */
  async release(): Promise<void> {
    this.stopRenewing();
    try {
      await this.redis.eval(RELEASE_IF_HELD, 1, this.key, this.token);
    } catch {
      // It expires by itself.
    }
  }
}
