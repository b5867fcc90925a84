import { randomUUID } from 'node:crypto';
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';
import type { RedisClient } from './redis-client.ts';
import { TokenLock } from './token-lock.ts';

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
 * The lock that lets one process at a time sync the job schedulers (a TokenLock on
 * `<prefix>:schedules-sync-lock`): BullMQ dropped schedulers under concurrent upserts (#3085,
 * #3381), and a sync that removed schedulers on behalf of an older config while a newer one
 * upserts would undo it.
 *
 * Renewed every third of its TTL while held, so a sync of any length keeps it; a process that dies
 * loses it after one TTL. A renewal that finds the key gone or another's marks the lock lost
 * (`held` turns false: the sync stops taking work). `assertHeld` proves ownership with one GET:
 * the key holds this token only if it never expired since it was taken (a renewal never recreates
 * a key), so a sync that passes it right before a removal has held the lock all along.
 */
export class SchedulesSyncLock {
  private readonly lock: TokenLock;

  private constructor(lock: TokenLock) {
    this.lock = lock;
  }

  /** Takes the lock, or returns null when another process holds it. */
  static async acquire(redis: RedisClient, prefix: string, ttlMs: number = SCHEDULES_SYNC_LOCK_TTL_MS): Promise<SchedulesSyncLock | null> {
    if (!Number.isInteger(ttlMs) || ttlMs < 30) throw new RangeError('ttlMs must be an integer >= 30');
    const lock = await TokenLock.take(redis, { key: schedulesSyncLockKey(prefix), token: randomUUID(), ttlMs });
    return lock === null ? null : new SchedulesSyncLock(lock);
  }

  /** False once a renewal found the lock expired or another's. No round trip: for a check before each piece of work. */
  get held(): boolean {
    return this.lock.held;
  }

  /** Throws SchedulesSyncLockLostError unless the key still holds this token (one GET): the fence before a removal. */
  async assertHeld(): Promise<void> {
    if (!(await this.lock.confirm())) throw new SchedulesSyncLockLostError();
  }

  /** Stops renewing and deletes the key if it is still this holder's. Never throws: a lock not deleted expires within its TTL. */
  release(): Promise<void> {
    return this.lock.release();
  }
}
