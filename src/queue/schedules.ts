import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { RedisClient } from './redis-client.ts';
import type { Config } from '../config/types.ts';
import { SCHEDULE_OFF } from '../config/schedule.ts';
import { JOB, PRIORITY, SCHEDULER } from './names.ts';
import { JOB_RETENTION } from './rotation-queue.ts';

export interface ScheduleSync {
  upserted: string[];
  removed: string[];
}

export interface ScheduleInfo {
  id: string;
  pattern: string | null;
  every: number | null;
  timezone: string | null;
  /** Unix ms of the next job, when BullMQ knows it. */
  next: number | null;
}

const SYNC_LOCK_TTL_MS = 60_000;

/**
 * Makes the job schedulers match the config: one `schedule:<credential>` per scheduled
 * credential (cron + time zone), one `reconcile`, and none for credentials no longer configured.
 * Upserts are idempotent by id, so syncing twice is syncing once; schedulers are never removed
 * and re-added (BullMQ #3063). Runs under a Redis lock: concurrent upserts from several replicas
 * dropped schedulers (BullMQ #3085, #3381). Returns null when another process holds the lock.
 */
export async function syncSchedules(control: Queue, redis: RedisClient, prefix: string, config: Config): Promise<ScheduleSync | null> {
  const lockKey = `${prefix}:schedules-sync-lock`;
  const token = randomUUID();
  if ((await redis.set(lockKey, token, 'PX', SYNC_LOCK_TTL_MS, 'NX')) !== 'OK') return null;
  try {
    const wanted = new Set<string>();
    const upserted: string[] = [];
    for (const credential of Object.values(config.credentials)) {
      if (credential.schedule === SCHEDULE_OFF) continue;
      const id = `${SCHEDULER.credentialPrefix}${credential.id}`;
      wanted.add(id);
      await control.upsertJobScheduler(
        id,
        { pattern: credential.schedule, tz: credential.timezone },
        { name: JOB.scheduleTick, data: { credentialId: credential.id }, opts: { priority: PRIORITY.scheduled, ...JOB_RETENTION } },
      );
      upserted.push(id);
    }
    wanted.add(SCHEDULER.reconcile);
    await control.upsertJobScheduler(
      SCHEDULER.reconcile,
      { every: config.worker.reconcileIntervalMs },
      { name: JOB.reconcile, data: {}, opts: { priority: PRIORITY.scheduled, ...JOB_RETENTION } },
    );
    upserted.push(SCHEDULER.reconcile);
    const removed: string[] = [];
    for (const scheduler of await control.getJobSchedulers(0, -1)) {
      if (!wanted.has(scheduler.key)) {
        await control.removeJobScheduler(scheduler.key);
        removed.push(scheduler.key);
      }
    }
    return { upserted, removed };
  } finally {
    await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`, 1, lockKey, token);
  }
}

export async function listSchedules(control: Queue): Promise<ScheduleInfo[]> {
  const schedulers = await control.getJobSchedulers(0, -1, true);
  return schedulers.map((s) => ({
    id: s.key,
    pattern: s.pattern ?? null,
    every: s.every === undefined || s.every === null ? null : Number(s.every),
    timezone: s.tz ?? null,
    next: s.next ?? null,
  }));
}
